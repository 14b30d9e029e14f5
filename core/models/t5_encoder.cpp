#include "core/models/t5_encoder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/bounded_json.h"
#include "core/models/weight_loading.h"

namespace fs = std::filesystem;

namespace ds::models {

T5Config T5Config::from_json_file(const std::string& path) {
    nlohmann::json j;
    try {
        try {
            j = io::read_json_file(path, 1 << 20);
        } catch (const Error& e) {
            throw ModelLoadError(std::string(e.what()) + " (not a T5 config)");
        }
        if (!j.is_object()) throw ModelLoadError(path + ": not a T5 config (not a JSON object)");
        T5Config c;
        c.d_model = j.at("d_model");
        c.d_kv = j.at("d_kv");
        c.num_heads = j.at("num_heads");
        c.d_ff = j.at("d_ff");
        c.num_layers = j.at("num_layers");
        c.num_buckets = j.value("relative_attention_num_buckets", 32);
        c.max_distance = j.value("relative_attention_max_distance", 128);
        c.vocab_size = j.at("vocab_size");
        c.eps = j.value("layer_norm_epsilon", 1e-6);
        const std::string ff = j.value("feed_forward_proj", "gated-gelu");
        if (ff != "gated-gelu")
            throw ModelLoadError(path + ": feed_forward_proj '" + ff + "' is not supported (T5 v1.1 uses gated-gelu)");
        const bool ok = c.d_model > 0 && c.d_model <= 16384 && c.d_kv > 0 && c.d_kv <= 1024 && c.num_heads > 0 &&
                        c.num_heads <= 256 && c.d_ff > 0 && c.d_ff <= 65536 && c.num_layers > 0 && c.num_layers <= 128 &&
                        c.vocab_size > 0 && c.vocab_size <= 1000000 && c.num_buckets >= 4 && c.num_buckets <= 1024 &&
                        c.max_distance > c.num_buckets / 4 && c.max_distance <= 1000000 && c.eps > 0 && c.eps < 1;
        if (!ok)
            throw ModelLoadError(path + ": sizes out of range (d_model, d_kv, num_heads, d_ff, num_layers, vocab_size "
                                 "positive and at most 16384, 1024, 256, 65536, 128, 1e6; 4-1024 relative buckets)");
        return c;
    } catch (const nlohmann::json::exception& e) {
        throw ModelLoadError(path + ": not a T5 config (" + e.what() + ")");
    }
}

int t5_relative_bucket(int rel, int num_buckets, int max_distance) {
    int half = num_buckets / 2;
    int bucket = rel > 0 ? half : 0;
    const int a = std::abs(rel);
    const int max_exact = half / 2;
    if (a < max_exact) return bucket + a;
    // torch: max_exact + (log(a / max_exact) / log(max_distance / max_exact) * (half - max_exact)).long()
    const float large = float(max_exact) + std::log(float(a) / float(max_exact)) /
                                               std::log(float(max_distance) / float(max_exact)) *
                                               float(half - max_exact);
    return bucket + std::min(int(large), half - 1);
}

std::map<std::string, std::vector<std::int64_t>> t5_weight_shapes(const T5Config& c) {
    const std::int64_t inner = std::int64_t(c.d_kv) * c.num_heads;
    std::map<std::string, std::vector<std::int64_t>> expected = {
        {"shared.weight", {c.vocab_size, c.d_model}},
        {"encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {c.num_buckets, c.num_heads}},
        {"encoder.final_layer_norm.weight", {c.d_model}}};
    for (int i = 0; i < c.num_layers; ++i) {
        const std::string b = "encoder.block." + std::to_string(i) + ".layer.";
        for (const char* m : {"q", "k", "v"}) expected[b + "0.SelfAttention." + m + ".weight"] = {inner, c.d_model};
        expected[b + "0.SelfAttention.o.weight"] = {c.d_model, inner};
        expected[b + "0.layer_norm.weight"] = {c.d_model};
        expected[b + "1.DenseReluDense.wi_0.weight"] = {c.d_ff, c.d_model};
        expected[b + "1.DenseReluDense.wi_1.weight"] = {c.d_ff, c.d_model};
        expected[b + "1.DenseReluDense.wo.weight"] = {c.d_model, c.d_ff};
        expected[b + "1.layer_norm.weight"] = {c.d_model};
    }
    return expected;
}

torch::Tensor t5_random_weight(const std::string& name, const std::vector<std::int64_t>& shape, at::Generator& gen,
                               torch::Device device) {
    if (name.find("layer_norm") != std::string::npos) return torch::ones(shape).to(device);
    return random_normal(shape, 0.05, gen, device);
}

T5Encoder T5Encoder::random(const T5Config& config, const Precision& precision, std::uint64_t seed) {
    precision.check_device();
    T5Encoder e;
    e.config_ = config;
    e.precision_ = precision;
    const auto store = precision.storage_for(torch::kFloat32);
    const auto shapes = t5_weight_shapes(config);
    const std::int64_t bytes = count_parameters(shapes) * precision.bytes_per_weight();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    for (const auto& [name, shape] : shapes) {
        auto t = t5_random_weight(name, shape, gen, precision.device).to(store);
        e.weights_[name] = to_device(t, precision.device, "T5 encoder", bytes);
    }
    e.keep_wo_in_fp32();
    return e;
}

std::int64_t T5Encoder::parameter_count() const { return count_parameters(t5_weight_shapes(config_)); }

std::int64_t T5Encoder::weight_bytes() const { return models::weight_bytes(weights_); }

std::int64_t T5Encoder::weight_bytes_of(const T5Config& config, const Precision& precision) {
    return count_parameters(t5_weight_shapes(config)) * precision.bytes_per_weight();
}

T5Encoder T5Encoder::load(const std::string& dir, const Precision& precision, const LoadProgress& progress) {
    if (precision.compute != torch::kFloat32 && precision.compute != torch::kBFloat16 &&
        precision.compute != torch::kFloat16)
        throw InvalidRequest("the T5 encoder runs in float32, bfloat16 or float16 (GPU)");
    T5Encoder e;
    e.precision_ = precision;
    e.config_ = T5Config::from_json_file((fs::path(dir) / "config.json").string());
    std::vector<std::string> names = {"model.safetensors", "model.safetensors.index.json", "model.fp16.safetensors",
                                      "model.safetensors.index.fp16.json"};
    if (precision.weights16 || precision.compute == torch::kFloat16)
        std::rotate(names.begin(), names.begin() + 2, names.end());
    const std::string file = find_weight_file(dir, names, "T5 encoder");
    // encoder.embed_tokens.weight is tied to shared.weight: allowed, not loaded twice.
    e.weights_ = load_weights(file, t5_weight_shapes(e.config_), precision, "T5 encoder", {"encoder.embed_tokens.weight"},
                             progress);
    e.keep_wo_in_fp32();
    return e;
}

torch::Tensor T5Encoder::w(const std::string& name) const { return precision_.use(weights_.at(name)); }

void T5Encoder::keep_wo_in_fp32() {
    if (precision_.compute != torch::kFloat16) return;
    for (auto& [name, t] : weights_)  // one at a time
        if (name.size() > 10 && name.compare(name.size() - 10, 10, ".wo.weight") == 0) t = t.to(torch::kFloat32);
}

torch::Tensor T5Encoder::position_bias(int L) const {
    std::vector<std::int64_t> buckets(std::size_t(L) * L);
    for (int q = 0; q < L; ++q)
        for (int k = 0; k < L; ++k)
            buckets[std::size_t(q) * L + k] = t5_relative_bucket(k - q, config_.num_buckets, config_.max_distance);
    auto idx = torch::tensor(buckets, torch::kLong).to(precision_.device);
    auto table = w("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight").to(torch::kFloat32);
    return table.index_select(0, idx).view({L, L, config_.num_heads}).permute({2, 0, 1}).unsqueeze(0);
}

namespace {
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    auto xf = x.to(torch::kFloat32);
    auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);
    return weight * y.to(weight.scalar_type());
}

torch::Tensor gelu_tanh(const torch::Tensor& x) {
    return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * torch::pow(x, 3.0))));
}

// fp16 (GPU) only: T5 v1.1's residual stream outgrows float16 in its later blocks. As
// transformers does for float16, values are clamped to +-(65504 - 1000) when some are already
// infinite, else to +-65504 (which turns infinities into the largest finite value).
torch::Tensor clamp_fp16(const torch::Tensor& x) {
    if (x.scalar_type() != torch::kHalf) return x;
    const double max = 65504.0;
    auto limit = torch::where(torch::isinf(x).any(), torch::full({}, max - 1000.0, x.options()),
                              torch::full({}, max, x.options()));
    return torch::max(torch::min(x, limit), -limit);
}
}  // namespace

torch::Tensor T5Encoder::forward(const torch::Tensor& ids, const torch::Tensor& mask,
                                 std::vector<torch::Tensor>* hooks) const {
    c10::InferenceMode guard;
    namespace F = torch::nn::functional;
    const auto& c = config_;
    if (ids.dim() != 2 || mask.sizes() != ids.sizes())
        throw InvalidRequest("T5 input ids and mask must both be [batch, length]");
    if (ids.min().item<std::int64_t>() < 0 || ids.max().item<std::int64_t>() >= c.vocab_size)
        throw InvalidRequest("token id outside the T5 vocabulary (0.." + std::to_string(c.vocab_size - 1) + ")");
    const auto B = ids.size(0), L = ids.size(1);
    const auto device = precision_.device;
    // Rows first, then the dtype: never widens the whole 32k-row table.
    auto x = precision_.use(weights_.at("shared.weight").index_select(0, ids.flatten().to(device))).view({B, L, c.d_model});
    if (hooks) hooks->push_back(to_host_float(x));
    // Masked keys get float32's lowest value, as transformers' extended attention mask.
    auto ext = (1.0 - mask.to(device, torch::kFloat32)).view({B, 1, 1, L}) * std::numeric_limits<float>::lowest();
    auto bias = position_bias(int(L)) + ext;  // [B, H, L, L], shared by every block
    for (int i = 0; i < c.num_layers; ++i) {
        const std::string b = "encoder.block." + std::to_string(i) + ".layer.";
        auto hn = rms_norm(x, w(b + "0.layer_norm.weight"), c.eps);
        auto split = [&](const torch::Tensor& t) { return t.view({B, L, c.num_heads, c.d_kv}).transpose(1, 2); };
        auto q = split(F::linear(hn, w(b + "0.SelfAttention.q.weight")));
        auto k = split(F::linear(hn, w(b + "0.SelfAttention.k.weight")));
        auto v = split(F::linear(hn, w(b + "0.SelfAttention.v.weight")));
        auto scores = torch::matmul(q, k.transpose(-1, -2)).to(torch::kFloat32) + bias;  // no 1/sqrt(d)
        auto attn = torch::softmax(scores, -1).to(v.scalar_type());
        auto o = torch::matmul(attn, v).transpose(1, 2).reshape({B, L, c.num_heads * c.d_kv});
        x = clamp_fp16(x + F::linear(o, w(b + "0.SelfAttention.o.weight")));
        hn = rms_norm(x, w(b + "1.layer_norm.weight"), c.eps);
        auto f = gelu_tanh(F::linear(hn, w(b + "1.DenseReluDense.wi_0.weight"))) *
                 F::linear(hn, w(b + "1.DenseReluDense.wi_1.weight"));
        // fp16: wo in fp32 on an fp32 copy of its input, so the residual stream is fp32 from here on.
        const auto wo = precision_.compute == torch::kFloat16 ? weights_.at(b + "1.DenseReluDense.wo.weight")
                                                              : w(b + "1.DenseReluDense.wo.weight");
        x = clamp_fp16(x + F::linear(f.to(wo.scalar_type()), wo));
        if (hooks) hooks->push_back(to_host_float(x));
    }
    return to_host_float(rms_norm(x, w("encoder.final_layer_norm.weight"), c.eps));
}

}  // namespace ds::models
