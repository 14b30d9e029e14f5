#include "core/models/model_store.h"

#include <set>

#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"

namespace ds::models {

torch::nn::Module& LoadedModel::module() {
    if (classifier) return *classifier;
    return *unet;
}

LoadedModel build_model(const ModelSpec& spec) {
    LoadedModel m;
    m.spec = spec;
    if (spec.kind == ModelKind::Classifier) {
        m.classifier = MnistClassifier(spec.in_channels, spec.num_classes, spec.image_size);
    } else {
        m.unet = MnistUNet(spec.unet_config());
    }
    return m;
}

std::int64_t state_numel(const ModelSpec& spec) {
    auto count = [&](int d) {
        ModelSpec small = spec;
        small.hidden = d;
        auto m = build_model(small);
        std::int64_t n = 0;
        for (const auto& [name, t] : state_tensors(m.module())) n += t.numel();
        return n;
    };
    const std::int64_t f1 = count(1), f2 = count(2), f3 = count(3);
    const std::int64_t a2 = f3 - 2 * f2 + f1;  // 2a
    const std::int64_t a = a2 / 2, b = f2 - f1 - 3 * a, c = f1 - a - b;
    const std::int64_t d = spec.hidden;
    return (a * d + b) * d + c;
}

std::vector<std::pair<std::string, torch::Tensor>> state_tensors(const torch::nn::Module& module) {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& p : module.named_parameters(true)) out.emplace_back(p.key(), p.value());
    for (const auto& b : module.named_buffers(true)) out.emplace_back(b.key(), b.value());
    return out;
}

namespace {
std::string shape_str(c10::IntArrayRef s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}
}  // namespace

void load_state(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& source,
                const std::string& where, const std::string& skip_prefix) {
    torch::NoGradGuard no_grad;
    std::set<std::string> used;
    std::vector<std::string> missing, mismatched;
    for (auto& [name, dst] : state_tensors(module)) {
        auto it = source.find(name);
        if (it == source.end()) {
            missing.push_back(name);
            continue;
        }
        used.insert(name);
        if (it->second.sizes() != dst.sizes()) {
            mismatched.push_back(name + " " + shape_str(it->second.sizes()) + " (model expects " +
                                 shape_str(dst.sizes()) + ")");
            continue;
        }
        dst.copy_(it->second.to(dst.scalar_type()));
    }
    std::vector<std::string> unexpected;
    for (const auto& [name, t] : source) {
        if (!used.count(name) && (skip_prefix.empty() || name.rfind(skip_prefix, 0) != 0))
            unexpected.push_back(name);
    }
    if (missing.empty() && mismatched.empty() && unexpected.empty()) return;
    auto list = [](const std::vector<std::string>& v) {
        std::string r;
        for (size_t i = 0; i < v.size() && i < 8; ++i) r += (i ? ", " : "") + v[i];
        if (v.size() > 8) r += ", ... (" + std::to_string(v.size()) + " in all)";
        return r;
    };
    std::string msg = where + ": weights do not match the model";
    if (!missing.empty()) msg += "; missing: " + list(missing);
    if (!mismatched.empty()) msg += "; wrong shape: " + list(mismatched);
    if (!unexpected.empty()) msg += "; unexpected: " + list(unexpected);
    msg += ". Is this a checkpoint of the same model kind and width?";
    throw ModelLoadError(msg);
}

LoadedModel load_model_file(const std::string& path) {
    io::SafetensorsFile file = [&] {
        try {
            return io::SafetensorsFile::open(path);
        } catch (const DataError& e) {
            throw ModelLoadError(std::string("cannot load model: ") + e.what());
        } catch (const IoError& e) {
            throw ModelLoadError(std::string("cannot load model: ") + e.what());
        }
    }();
    auto it = file.metadata().find(kSpecKey);
    if (it == file.metadata().end()) {
        throw ModelLoadError(path + ": not a Diffusion Studio model (no '" + std::string(kSpecKey) +
                             "' metadata). Train one with `dstudio train` or pick a bundled id "
                             "(`dstudio models`).");
    }
    const ModelSpec spec = ModelSpec::from_json(it->second, path);
    // Budget before allocation: the file must hold exactly the values of the model its spec
    // describes (EMA copies and optimizer state, "train.*", aside).
    std::int64_t in_file = 0;
    for (const auto& info : file.tensors())
        if (info.name.rfind("train.", 0) != 0) in_file += info.numel();
    const std::int64_t needed = state_numel(spec);
    if (in_file != needed)
        throw ModelLoadError(path + ": its spec describes a " + ds::to_string(spec.kind) + " model of D=" +
                             std::to_string(spec.hidden) + " with " + std::to_string(needed) +
                             " weights, but the file holds " + std::to_string(in_file) +
                             "; the file is corrupt or its metadata was edited");
    LoadedModel m = build_model(spec);
    m.path = path;
    m.metadata = file.metadata();
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& info : file.tensors()) {
        if (info.name.rfind("train.", 0) == 0) continue;
        tensors[info.name] = file.tensor(info.name);
    }
    // A training checkpoint with a weight average (train --ema) is used through its average,
    // as its epoch snapshots and grids are.
    const std::string ema_prefix = "train.ema.";
    for (const auto& info : file.tensors()) {
        if (info.name.rfind(ema_prefix, 0) == 0)
            tensors[info.name.substr(ema_prefix.size())] = file.tensor(info.name);
    }
    for (const auto& [name, t] : tensors)
        if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
            throw ModelLoadError(path + ": weight '" + name + "' holds NaN or infinite values; the file is "
                                 "damaged or comes from a diverged run");
    load_state(m.module(), tensors, path);
    m.module().eval();
    const auto ema = ema_info(m.metadata);
    if (m.unet && ema.has_average && ema.bn_epoch == 0)
        m.warning = path + ": no BatchNorm statistics for the weight average in this checkpoint "
                    "(written before the run's first epoch end, or by an older build), so the average "
                    "runs with the raw weights' statistics and samples may look faint; `dstudio export "
                    "--run " + path + " --out FILE` re-estimates them";
    return m;
}

EmaInfo ema_info(const std::map<std::string, std::string>& metadata) {
    EmaInfo info;
    auto tr = metadata.find("ds.train");
    if (tr == metadata.end()) return info;
    auto t = nlohmann::json::parse(tr->second, nullptr, false);
    if (!t.is_object() || !t.contains("recipe") || !t["recipe"].is_object()) return info;
    info.has_average = t["recipe"].value("ema", 0.0) > 0;
    if (info.has_average && t.contains("ema_bn_epoch") && t["ema_bn_epoch"].is_number_integer())
        info.bn_epoch = t["ema_bn_epoch"].get<int>();
    return info;
}

LoadedModel with_compute_dtype(const LoadedModel& model, torch::ScalarType dtype) {
    if (dtype == torch::kFloat32 || !model.unet) return model;
    LoadedModel copy = build_model(model.spec);
    copy.path = model.path;
    copy.metadata = model.metadata;
    copy.warning = model.warning;
    {
        torch::NoGradGuard no_grad;
        auto src = state_tensors(const_cast<LoadedModel&>(model).module());
        auto dst = state_tensors(copy.module());
        for (size_t i = 0; i < src.size(); ++i) dst[i].second.copy_(src[i].second);
    }
    copy.unet->to(dtype);
    for (auto& m : copy.unet->modules(/*include_self=*/false))
        if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) bn->to(torch::kFloat32);
    copy.unet->eval();
    return copy;
}

void save_model_file(const std::string& path, const LoadedModel& model, bool fp16,
                     const std::vector<std::pair<std::string, torch::Tensor>>& extra,
                     const std::map<std::string, std::string>& metadata) {
    auto& module = const_cast<LoadedModel&>(model).module();
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (auto& [name, t] : state_tensors(module)) {
        auto v = t.detach();
        if (fp16 && v.is_floating_point()) v = v.to(torch::kFloat16);
        tensors.emplace_back(name, v);
    }
    for (const auto& e : extra) tensors.push_back(e);
    auto meta = metadata;
    meta[kSpecKey] = model.spec.to_json();
    io::write_safetensors(path, tensors, meta);
}

}  // namespace ds::models
