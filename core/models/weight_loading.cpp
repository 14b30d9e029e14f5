#include "core/models/weight_loading.h"

#include <filesystem>

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/memory.h"
#include "core/io/safetensors.h"

namespace fs = std::filesystem;

namespace ds::models {

namespace {
std::string shape_text(const std::vector<std::int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
    return out + "]";
}
}  // namespace

std::int64_t count_parameters(const WeightShapes& shapes) {
    std::int64_t n = 0;
    for (const auto& [name, shape] : shapes) {
        std::int64_t k = 1;
        for (auto d : shape) k *= d;
        n += k;
    }
    return n;
}

const std::vector<std::string>& Precision::names() {
    static const std::vector<std::string> list = {"fp32", "bf16", "fp16", "fp32-w16"};
    return list;
}

Precision Precision::parse(const std::string& name) {
    if (name == "fp32") return Precision(torch::kFloat32);
    if (name == "bf16") return Precision(torch::kBFloat16);
    if (name == "fp16") return Precision(torch::kFloat16);
    if (name == "fp32-w16") return fp32_w16();
    throw InvalidRequest("dtype must be fp32, bf16, fp16 (GPU only) or fp32-w16 (16-bit weights, fp32 arithmetic); got '" +
                         name + "'");
}

torch::Device Precision::parse_device(const std::string& name) {
    if (name == "cpu") return torch::kCPU;
    const std::string cuda = "cuda";
    if (name.rfind(cuda, 0) != 0 || (name.size() > cuda.size() && name[cuda.size()] != ':'))
        throw InvalidRequest("device must be cpu, cuda or cuda:N; got '" + name + "'");
    int index = -1;
    if (name.size() > cuda.size()) {
        const std::string digits = name.substr(cuda.size() + 1);
        if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos)
            throw InvalidRequest("device must be cpu, cuda or cuda:N; got '" + name + "'");
        index = std::stoi(digits);
    }
    if (!torch::cuda::is_available())
        throw InvalidRequest("device '" + name + "': this build's LibTorch has no CUDA support or sees no GPU. "
                             "Build against a CUDA LibTorch (docs/deepfloyd-if.md, \"GPU build\") or use --device cpu");
    const auto count = int(torch::cuda::device_count());
    if (index >= count)
        throw InvalidRequest("device '" + name + "': there " + (count == 1 ? "is 1 GPU" : "are " + std::to_string(count) + " GPUs") +
                             " (cuda:0.." + "cuda:" + std::to_string(count - 1) + ")");
    return index < 0 ? torch::Device(torch::kCUDA) : torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void Precision::check_device() const {
    if (compute == torch::kFloat16 && device.is_cpu())
        throw InvalidRequest("fp16 arithmetic runs on a GPU only (--device cuda, with a CUDA LibTorch); on the CPU use "
                             "bf16 (CPUs with AVX-512), fp32 or fp32-w16");
}

torch::Tensor to_host_float(const torch::Tensor& t) {
    if (t.is_meta()) return t.to(torch::kFloat32).contiguous();
    return t.to(torch::kCPU, torch::kFloat32).contiguous();
}

std::int64_t weight_bytes(const std::map<std::string, torch::Tensor>& weights) {
    std::int64_t n = 0;
    for (const auto& [name, t] : weights) n += t.numel() * std::int64_t(t.element_size());
    return n;
}

std::string Precision::name() const {
    if (weights16) return compute == torch::kFloat32 ? "fp32-w16" : std::string(torch::toString(compute)) + "-w16";
    if (compute == torch::kFloat32) return "fp32";
    if (compute == torch::kBFloat16) return "bf16";
    if (compute == torch::kFloat16) return "fp16";
    return torch::toString(compute);
}

int Precision::bytes_per_weight() const { return weights16 ? 2 : int(torch::elementSize(compute)); }

torch::ScalarType Precision::storage_for(torch::ScalarType file_dtype) const {
    if (!weights16) return compute;
    if (file_dtype == torch::kFloat16 || file_dtype == torch::kBFloat16) return file_dtype;
    return torch::kBFloat16;  // float32 (or wider) in the file: bfloat16 keeps its range
}

torch::Tensor Precision::use(const torch::Tensor& stored) const {
    return stored.scalar_type() == compute ? stored : stored.to(compute);
}

torch::Tensor to_device(const torch::Tensor& t, torch::Device device, const std::string& what, std::int64_t bytes) {
    if (device.is_cpu()) return t;
    try {
        return t.to(device);
    } catch (const c10::Error& e) {
        const std::string msg = e.what_without_backtrace();
        throw ModelLoadError("cannot move the " + what + " weights (" + std::to_string((bytes + (1 << 20) - 1) >> 20) +
                             " MB in all) to " + device.str() + ": " + msg.substr(0, msg.find('\n')) +
                             (msg.find("out of memory") != std::string::npos
                                  ? " (try a 16-bit --dtype, or free the GPU)" : ""));
    }
}

torch::Tensor random_normal(const std::vector<std::int64_t>& shape, double stddev, at::Generator& gen,
                            torch::Device device) {
    if (device.is_cpu()) return torch::randn(shape, gen, torch::kFloat32) * stddev;
    return torch::randn(shape, torch::TensorOptions().dtype(torch::kFloat32).device(device)) * stddev;
}

std::string find_weight_file(const std::string& dir, const std::vector<std::string>& candidates,
                             const std::string& what) {
    for (const auto& name : candidates)
        if (fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
    std::string names;
    for (std::size_t i = 0; i < candidates.size(); ++i)
        names += (i == 0 ? "" : i + 1 == candidates.size() ? " or " : ", ") + candidates[i];
    throw ModelLoadError("'" + dir + "' has no weights for the " + what + ": none of " + names);
}

std::map<std::string, torch::Tensor> load_weights(const std::string& file, const WeightShapes& expected,
                                                  const Precision& precision, const std::string& what,
                                                  const std::set<std::string>& ignored, const LoadProgress& progress) {
    precision.check_device();
    auto set = io::SafetensorsSet::open(file);
    const std::int64_t bytes = count_parameters(expected) * precision.bytes_per_weight();
    if (precision.device.is_cpu())
        io::check_memory(bytes, "the " + what + " in '" + file + "'", precision.name());
    else
        io::check_device_memory(bytes, "the " + what + " in '" + file + "'", precision.name(), precision.device.str(),
                                precision.device.has_index() ? precision.device.index() : -1);
    std::string problems;
    for (const auto& name : set.names())
        if (!expected.count(name) && !ignored.count(name)) problems += "\n  unexpected weight " + name;
    for (const auto& [name, shape] : expected) {
        if (!set.contains(name))
            problems += "\n  missing weight " + name;
        else if (set.info(name).shape != shape)
            problems += "\n  " + name + " has shape " + shape_text(set.info(name).shape) + ", expected " + shape_text(shape);
    }
    if (!problems.empty())
        throw ModelLoadError(what + " weights in '" + file + "' do not match its config.json:" + problems);
    std::map<std::string, torch::Tensor> out;
    std::int64_t done = 0;
    for (const auto& [name, shape] : expected) {
        auto& t = out[name] = to_device(set.tensor(name, precision.storage_for(io::to_scalar_type(set.info(name).dtype))),
                                        precision.device, what, bytes);
        done += t.numel() * precision.bytes_per_weight();
        if (progress) progress(std::min(done, bytes), bytes);
    }
    return out;
}

}  // namespace ds::models
