// DeepFloyd IF's UNet at inference (deepfloyd_if_spec.md): loading its weights into the compute
// layout, the text conditioning, and the forward pass with counted MACs; the weight catalogue is
// in if_unet_weights.cpp.
#include "core/models/if_unet.h"

#include <algorithm>
#include <atomic>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/models/fused_norm.h"
#include "core/models/weight_loading.h"

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace ds::models {

namespace {

// GroupNorm of a 16-bit activation in fp32: torch 1.13's CPU group_norm has no vectorised bf16
// path (12x slower than fp32 at 640 channels x 32 px on the Zen 5 VM); the statistics are fp32 as
// in diffusers' autocast, and fp16 (GPU) statistics in fp32 cannot overflow.
torch::Tensor group_norm(const torch::Tensor& t, std::int64_t groups, const torch::Tensor& weight,
                         const torch::Tensor& bias, double eps) {
    if (t.scalar_type() != torch::kBFloat16 && t.scalar_type() != torch::kHalf)
        return torch::nn::functional::group_norm(
            t, torch::nn::functional::GroupNormFuncOptions(groups).weight(weight).bias(bias).eps(eps));
    return torch::nn::functional::group_norm(t.to(torch::kFloat32),
                                             torch::nn::functional::GroupNormFuncOptions(groups)
                                                 .weight(weight.to(torch::kFloat32))
                                                 .bias(bias.to(torch::kFloat32))
                                                 .eps(eps))
        .to(t.scalar_type());
}

torch::Tensor act(const torch::Tensor& x) { return torch::gelu(x); }  // exact (erf) GELU

// group norm, then (scale, shift [B, 2C] halves, optional) h * (1 + scale) + shift, then GELU
// (optional): one fused pass for bf16 channels-last activations (fused_norm.h), torch ops otherwise.
torch::Tensor norm_act(const torch::Tensor& t, std::int64_t groups, const torch::Tensor& weight,
                       const torch::Tensor& bias, double eps, const torch::Tensor& scale_shift, bool gelu) {
    const auto C = t.size(1);
    if (group_norm_act_applies(t)) {
        torch::Tensor scale, shift;
        if (scale_shift.defined()) {
            scale = scale_shift.narrow(1, 0, C);
            shift = scale_shift.narrow(1, C, C);
        }
        return group_norm_act(t, groups, weight, bias, eps, scale, shift, gelu);
    }
    auto h = group_norm(t, groups, weight, bias, eps);
    if (scale_shift.defined()) {
        auto chunks = scale_shift.unsqueeze(-1).unsqueeze(-1).chunk(2, 1);  // scale first, then shift
        h = h * (1 + chunks[0]) + chunks[1];
    }
    return gelu ? act(h) : h;
}

// bf16 convolutions run over slices of at most kBf16ConvSlice input channels, summed in fp32.
// oneDNN 2.6 (Debian's torch 1.13) crashes on bf16 3x3 convolutions with 5632 input channels
// (IF-I-XL's first up block: 2816 + 2816), and its AMX kernels slow down as the input channels
// grow: 2816 -> 1408 channels at 32 px ran at 283 GFLOP/s in one piece and 568 GFLOP/s as four
// 704-channel slices (docs/performance.md, session 8).
constexpr std::int64_t kBf16ConvSlice = 768;

// The packed operators (session 11) run 3x3 convolutions at 32 and 64 px faster in narrower
// slices of at most 352 channels: summed over IF-I-XL's 3x3 shapes at those sizes, 12.9 -> 11.1 s
// of convolution per step (1408 -> 1408 at 32 px 238 -> 206 ms, 1408 -> 704 at 64 px 508 -> 427
// ms); 1x1 kernels, the 6-channel output convolution, 8 and 16 px, and 128 px and more gained
// nothing or lost with them (docs/performance.md, session 11).
std::int64_t bf16_conv_slice(int resolution, std::int64_t kernel, std::int64_t out_channels) {
    const bool narrow = kernel == 3 && out_channels >= 352 && resolution >= 32 && resolution <= 64;
    return narrow ? 352 : kBf16ConvSlice;
}

constexpr std::int64_t kAttentionChunkBytes = std::int64_t(40) << 20;

std::string shape_line(const char* op, std::initializer_list<std::int64_t> dims) {
    std::string line = op;
    for (auto d : dims) line += " " + std::to_string(d);
    return line;
}

torch::Tensor conv(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int padding) {
    const auto cin = x.size(1);
    // Stride 1, "same" padding for 3x3 (padding 1) and 1x1 (padding 0): output H x W = input's.
    // The slices work around oneDNN (CPU) only; GPUs take the convolution in one piece.
    if (x.scalar_type() != torch::kBFloat16 || !x.device().is_cpu() || cin <= kBf16ConvSlice)
        return F::conv2d(x, w, F::Conv2dFuncOptions().bias(b).padding(padding));
    const std::int64_t slices = (cin + kBf16ConvSlice - 1) / kBf16ConvSlice;
    const std::int64_t step = (cin + slices - 1) / slices;  // equal slices: 2816 = 4 x 704
    torch::Tensor y;
    for (std::int64_t start = 0; start < cin; start += step) {
        const auto len = std::min(step, cin - start);
        const auto fmt = x.suggest_memory_format();
        auto part = F::conv2d(x.narrow(1, start, len).contiguous(fmt), w.narrow(1, start, len).contiguous(fmt),
                              F::Conv2dFuncOptions().padding(padding))
                        .to(torch::kFloat32);
        y = y.defined() ? y.add_(part) : part;
    }
    return y.add_(b.to(torch::kFloat32).view({1, -1, 1, 1})).to(torch::kBFloat16);
}

torch::Tensor sinusoid(const torch::Tensor& t, int dim, bool flip, double shift) {
    const int half = dim / 2;
    auto exponent = -std::log(10000.0) * torch::arange(half, t.options().dtype(torch::kFloat32)) / float(half - shift);
    auto arg = t.to(torch::kFloat32).unsqueeze(1) * torch::exp(exponent).unsqueeze(0);
    auto s = torch::sin(arg), c = torch::cos(arg);
    auto emb = flip ? torch::cat({c, s}, 1) : torch::cat({s, c}, 1);
    if (dim % 2) emb = F::pad(emb, F::PadFuncOptions({0, 1}));
    return emb;
}

}  // namespace

struct IfUNet::TextState {
    torch::Tensor text;     // the encoder states (compute dtype) everything below comes from
    torch::Tensor pooled;   // text_pool(text)
    torch::Tensor ctx;      // encoder_hid_proj(text)
    std::mutex mutex;       // guards kv
    std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> kv;  // per attention layer
};

struct IfUNet::TextCache {
    std::mutex mutex;
    std::shared_ptr<TextState> last;
};

std::int64_t IfUNet::weight_bytes_of(const IfUNetConfig& config, const Precision& precision) {
    return count_parameters(if_unet_weight_shapes(config)) * precision.bytes_per_weight();
}

IfUNet IfUNet::load(const std::string& dir, const Precision& precision, bool prefer_fp16_file,
                    const LoadProgress& progress) {
    const auto dtype = precision.compute;
    if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16)
        throw InvalidRequest("the IF UNet runs in float32, bfloat16 or float16");
    IfUNet u;
    u.text_cache_ = std::make_shared<TextCache>();
    u.precision_ = precision;
    u.config_ = IfUNetConfig::from_json_file((fs::path(dir) / "config.json").string());
    std::vector<std::string> names = {"diffusion_pytorch_model.safetensors",
                                      "diffusion_pytorch_model.safetensors.index.json",
                                      "diffusion_pytorch_model.fp16.safetensors",
                                      "diffusion_pytorch_model.safetensors.index.fp16.json"};
    if (prefer_fp16_file || precision.weights16 || dtype == torch::kFloat16)
        std::rotate(names.begin(), names.begin() + 2, names.end());
    const std::string file = find_weight_file(dir, names, "UNet");
    u.weights_ = load_weights(file, if_unet_weight_shapes(u.config_), precision, "UNet", {}, progress);
    u.use_compute_layout();
    return u;
}

IfUNet IfUNet::random(const IfUNetConfig& config, const Precision& precision, std::uint64_t seed) {
    precision.check_device();
    IfUNet u;
    u.text_cache_ = std::make_shared<TextCache>();
    u.config_ = config;
    u.precision_ = precision;
    const auto store = precision.storage_for(torch::kFloat32);
    const auto shapes = if_unet_weight_shapes(config);
    const std::int64_t bytes = count_parameters(shapes) * precision.bytes_per_weight();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    for (const auto& [name, shape] : shapes)
        u.weights_[name] = to_device(if_unet_random_weight(name, shape, gen, precision.device).to(store),
                                     precision.device, "UNet", bytes);
    u.use_compute_layout();
    return u;
}

bool IfUNet::channels_last() const {
    return precision_.compute == torch::kBFloat16 || precision_.compute == torch::kHalf;
}

void IfUNet::use_compute_layout() {
    if (!channels_last()) return;
    // Packed oneDNN operators: bf16 on the CPU. Elsewhere (fp16/bf16 on a GPU) channels-last
    // weights for the channels-last activations.
    const bool ops = dnnl_ops::available() && precision_.device.is_cpu() && precision_.compute == torch::kBFloat16;
    for (auto it = weights_.begin(); it != weights_.end();) {  // one tensor at a time: no second copy
        auto& [name, t] = *it;
        if (t.dim() != 4) {
            ++it;
            continue;
        }
        if (!ops) {
            if (t.size(2) * t.size(3) > 1) t = t.contiguous(at::MemoryFormat::ChannelsLast);
            ++it;
            continue;
        }
        // The operator reads the stored kernel in place and packs it at the first call; the map
        // lets go of it here, so the packed copy is the only one (IF-I-XL: 8.6 GB in bf16).
        const std::string prefix = name.substr(0, name.size() - std::string(".weight").size());
        const int padding = int(t.size(2) / 2);
        conv_ops_[prefix] = std::make_shared<const DnnlConv>(t, weights_.at(prefix + ".bias"), 1, padding, false,
                                                             bf16_conv_slice(if_unet_conv_resolution(prefix, config_),
                                                                             t.size(2), t.size(0)));
        it = weights_.erase(it);
    }
}

struct IfUNet::Probe {
    std::atomic<std::int64_t> macs{0};
    std::vector<std::string>* shape_log = nullptr;
    std::int64_t attention_chunk_bytes = kAttentionChunkBytes;

    void count(std::int64_t n, const char* op, std::initializer_list<std::int64_t> dims) {
        macs += n;
        if (shape_log) shape_log->push_back(shape_line(op, dims));
    }
    // A stride-1 "same" convolution of x with a [cout, cin, k, k] kernel: conv N Cin H W Cout k padding.
    void conv(const torch::Tensor& x, std::int64_t cout, std::int64_t k, int padding) {
        count(x.size(0) * cout * x.size(1) * k * k * x.size(2) * x.size(3), "conv",
              {x.size(0), x.size(1), x.size(2), x.size(3), cout, k, padding});
    }
};

std::shared_ptr<IfUNet::Probe> IfUNet::new_probe() { return std::make_shared<Probe>(); }

torch::Tensor IfUNet::conv(const std::string& p, const torch::Tensor& x, int padding) const {
    const auto op = conv_ops_.find(p);
    if (op == conv_ops_.end()) {
        const auto weight = w(p + ".weight");
        probe_->conv(x, weight.size(0), weight.size(2), padding);
        return models::conv(x, weight, w(p + ".bias"), padding);
    }
    probe_->conv(x, op->second->out_channels(), op->second->kernel_size(), padding);
    return (*op->second)(x);
}

std::int64_t IfUNet::parameter_count() const { return count_parameters(if_unet_weight_shapes(config_)); }

std::int64_t IfUNet::weight_bytes() const {
    auto total = models::weight_bytes(weights_);
    for (const auto& [name, op] : conv_ops_) total += op->weight_bytes();
    return total;
}

torch::Tensor IfUNet::w(const std::string& name) const { return precision_.use(weights_.at(name)); }

torch::Tensor IfUNet::timestep_mlp(const std::string& p, const torch::Tensor& t) const {
    auto h = F::linear(t, w(p + ".linear_1.weight"), w(p + ".linear_1.bias"));
    return F::linear(act(h), w(p + ".linear_2.weight"), w(p + ".linear_2.bias"));
}

torch::Tensor IfUNet::text_pool(const torch::Tensor& text) const {
    const auto& c = config_;
    const auto B = text.size(0), E = text.size(2);
    auto y = F::layer_norm(text, F::LayerNormFuncOptions({E}).weight(w("add_embedding.norm1.weight"))
                                     .bias(w("add_embedding.norm1.bias")).eps(c.eps));
    auto cls = y.mean(1, true) + w("add_embedding.pool.positional_embedding");
    auto z = torch::cat({cls, y}, 1);
    const std::int64_t nh = c.pool_heads, dh = E / nh;
    auto heads = [&](const torch::Tensor& t) { return t.view({B, -1, nh, dh}).transpose(1, 2); };
    auto q = heads(F::linear(cls, w("add_embedding.pool.q_proj.weight"), w("add_embedding.pool.q_proj.bias")));
    auto k = heads(F::linear(z, w("add_embedding.pool.k_proj.weight"), w("add_embedding.pool.k_proj.bias")));
    auto v = heads(F::linear(z, w("add_embedding.pool.v_proj.weight"), w("add_embedding.pool.v_proj.bias")));
    const double scale = 1.0 / std::sqrt(std::sqrt(double(dh)));  // applied to q and k each
    auto weight = torch::softmax(torch::matmul(q * scale, (k * scale).transpose(-1, -2)).to(torch::kFloat32), -1)
                      .to(v.scalar_type());
    auto a = torch::matmul(weight, v).transpose(1, 2).reshape({B, E});
    auto p = F::linear(a, w("add_embedding.proj.weight"), w("add_embedding.proj.bias"));
    return F::layer_norm(p, F::LayerNormFuncOptions({p.size(1)}).weight(w("add_embedding.norm2.weight"))
                                .bias(w("add_embedding.norm2.bias")).eps(c.eps));
}

// resample: 0 none, -1 down (avg pool 2), +1 up (nearest x2).
torch::Tensor IfUNet::resnet(const std::string& p, torch::Tensor x, const torch::Tensor& emb, double scale,
                             int resample) const {
    const auto& c = config_;
    auto h = norm_act(x, c.groups, w(p + ".norm1.weight"), w(p + ".norm1.bias"), c.eps, {}, true);
    if (resample > 0) {
        h = F::interpolate(h, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0})
                                  .mode(torch::kNearest).recompute_scale_factor(false));
        x = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0})
                                  .mode(torch::kNearest).recompute_scale_factor(false));
    } else if (resample < 0) {
        h = F::avg_pool2d(h, F::AvgPool2dFuncOptions(2).stride(2));
        x = F::avg_pool2d(x, F::AvgPool2dFuncOptions(2).stride(2));
    }
    h = conv(p + ".conv1", h, 1);
    auto e = F::linear(c.skip_time_act ? emb : act(emb), w(p + ".time_emb_proj.weight"), w(p + ".time_emb_proj.bias"));
    h = norm_act(h, c.groups, w(p + ".norm2.weight"), w(p + ".norm2.bias"), c.eps, e, true);
    h = conv(p + ".conv2", h, 1);
    if (weights_.count(p + ".conv_shortcut.bias")) x = conv(p + ".conv_shortcut", x, 0);
    return (x + h) / scale;
}

std::shared_ptr<IfUNet::TextState> IfUNet::text_state(const torch::Tensor& text) const {
    const bool cache = text_cache_ && !text.is_meta();  // meta tensors (tests) have no values to compare
    if (cache) {
        std::lock_guard<std::mutex> lock(text_cache_->mutex);
        const auto& last = text_cache_->last;
        if (last && last->text.sizes() == text.sizes() && torch::equal(last->text, text)) return last;
    }
    auto s = std::make_shared<TextState>();
    s->text = text.clone();  // the caller may change its tensor after the call
    s->pooled = text_pool(text);
    s->ctx = F::linear(text, w("encoder_hid_proj.weight"), w("encoder_hid_proj.bias"));
    if (cache) {
        std::lock_guard<std::mutex> lock(text_cache_->mutex);
        text_cache_->last = s;
    }
    return s;
}

torch::Tensor IfUNet::attention(const std::string& p, const torch::Tensor& x, TextState& ts) const {
    const auto& c = config_;
    const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), N = H * W;
    const std::int64_t dh = c.attention_head_dim, nh = C / dh;
    auto gn = [&](const torch::Tensor& t, const std::string& n) {
        return group_norm(t, c.groups, w(n + ".weight"), w(n + ".bias"), c.eps);
    };
    auto lin = [&](const torch::Tensor& t, const std::string& n) {
        return F::linear(t, w(p + "." + n + ".weight"), w(p + "." + n + ".bias"));
    };
    // The text's keys and values depend on the prompts only: computed at the first step, reused
    // at the others (IF-I-XL: ~240 GFLOP of projections per step).
    std::pair<torch::Tensor, torch::Tensor> text_kv;
    {
        std::lock_guard<std::mutex> lock(ts.mutex);
        auto it = ts.kv.find(p);
        if (it != ts.kv.end()) text_kv = it->second;
    }
    if (!text_kv.first.defined()) {
        // [B, L, X], contiguous: torch 1.13 runs a linear layer on a transposed 3-D input as a
        // batched product over expanded weights (2.2 s of an IF-I-XL bf16 step).
        auto text = gn(ts.ctx.transpose(1, 2), p + ".norm_cross").transpose(1, 2).contiguous();
        text_kv = {lin(text, "add_k_proj"), lin(text, "add_v_proj")};
        std::lock_guard<std::mutex> lock(ts.mutex);
        ts.kv.emplace(p, text_kv);
    }
    // [B, N, C]: a view of a channels-last activation (the bf16 path), a transposed view otherwise.
    const bool channels_last = x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous();
    auto s = channels_last ? norm_act(x, c.groups, w(p + ".group_norm.weight"), w(p + ".group_norm.bias"), c.eps, {}, false)
                                 .permute({0, 2, 3, 1})
                                 .reshape({B, N, C})
                           : gn(x.reshape({B, C, N}), p + ".group_norm").transpose(1, 2);
    auto heads = [&](const torch::Tensor& t) { return t.view({B, -1, nh, dh}).transpose(1, 2); };
    auto qs = lin(s, "to_q");                                            // [B, N, C]
    auto ks = torch::cat({text_kv.first, lin(s, "to_k")}, 1);  // text keys first
    auto vs = torch::cat({text_kv.second, lin(s, "to_v")}, 1);
    const std::int64_t Nk = ks.size(1);
    probe_->count(2 * B * nh * N * Nk * dh, "attn", {B, nh, N, Nk, dh});  // q k^T and probs v
    const double scale = 1.0 / std::sqrt(double(dh));
    torch::Tensor o;
    if (qs.scalar_type() == torch::kBFloat16 && dnnl_ops::applies(qs)) {
        // bf16 on oneDNN: both products read the heads in place (no transposed copies), the
        // scores come out scaled in fp32 for the softmax, which writes bf16 probabilities, and
        // probs x v lands in [B, N, C] order.
        // torch 1.13's bf16 batched products ran at ~60 GFLOP/s here (docs/performance.md,
        // session 10). (Blocks of query rows with their scores kept in cache were slower: many
        // small single-threaded products.)
        // q k^T from fp32 copies of q and k (exact: bf16 values; small next to the scores): with
        // head_dim 64 the bf16 AMX product is bound by storing its fp32 result and took 300 ms
        // for IF-I-XL's 32 px scores [4, 22, 1024, 1101], the fp32 product 200 ms with the copies.
        // By chunks of heads of one image whose fp32 scores fit in ~40 MB, so the softmax and
        // probs x v read them from the last-level cache rather than memory: IF-I-XL's 32 px layer
        // (scores [4, 22, 1024, 1101], 396 MB in one piece) 416 -> 293 ms in 8-head chunks,
        // the same bits (docs/performance.md, session 13).
        auto q = heads(qs.to(torch::kFloat32)), k = heads(ks.to(torch::kFloat32)).transpose(-1, -2), v = heads(vs);
        o = torch::empty({B, N, C}, qs.options());
        auto oh = heads(o);
        const std::int64_t hc = std::clamp<std::int64_t>(probe_->attention_chunk_bytes / (N * Nk * 4), 1, nh);
        auto scores = torch::empty({1, hc, N, Nk}, qs.options().dtype(torch::kFloat32));
        auto probs = torch::empty_like(scores, scores.options().dtype(torch::kBFloat16));
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t h = 0; h < nh; h += hc) {
                const std::int64_t n = std::min(hc, nh - h);
                auto s = scores.narrow(1, 0, n), pr = probs.narrow(1, 0, n);
                dnnl_ops::matmul_into(q.narrow(0, b, 1).narrow(1, h, n), k.narrow(0, b, 1).narrow(1, h, n),
                                      float(scale), s);
                dnnl_ops::softmax_into(s, pr);  // fp32 in, bf16 out, one pass
                dnnl_ops::matmul_into(pr, v.narrow(0, b, 1).narrow(1, h, n), 1.0f, oh.narrow(0, b, 1).narrow(1, h, n));
            }
    } else {
        auto q = heads(qs), k = heads(ks), v = heads(vs);
        // fp16 (GPU): q scaled before the product (exact: 1/8 for head_dim 64), as diffusers'
        // baddbmm(alpha=scale) keeps the scores in range; fp32 as the fixtures were made.
        auto scores = qs.scalar_type() == torch::kHalf ? torch::matmul(q * scale, k.transpose(-1, -2))
                                                       : torch::matmul(q, k.transpose(-1, -2)) * scale;
        torch::Tensor probs;
        if (scores.scalar_type() == torch::kFloat32 && dnnl_ops::applies(scores)) {
            dnnl_ops::softmax_into(scores, scores);  // in place; 4x torch 1.13's softmax here
            probs = scores;
        } else {
            probs = torch::softmax(scores.to(torch::kFloat32), -1).to(v.scalar_type());
        }
        o = torch::matmul(probs, v).transpose(1, 2).reshape({B, N, C});
    }
    o = lin(o, "to_out.0");
    if (channels_last) return o.view({B, H, W, C}).permute({0, 3, 1, 2}) + x;
    return o.transpose(1, 2).reshape({B, C, H, W}) + x;
}

torch::Tensor IfUNet::forward(const torch::Tensor& x_in, const torch::Tensor& timesteps, const torch::Tensor& text_in,
                              const torch::Tensor& class_labels, Hooks* hooks) const {
    c10::InferenceMode guard;
    const auto& c = config_;
    if (x_in.dim() != 4 || x_in.size(1) != c.in_channels)
        throw InvalidRequest("UNet input must be [B, " + std::to_string(c.in_channels) + ", H, W]");
    if (text_in.dim() != 3 || text_in.size(0) != x_in.size(0) || text_in.size(2) != c.encoder_hid_dim)
        throw InvalidRequest("encoder states must be [B, L, " + std::to_string(c.encoder_hid_dim) + "] with the sample's batch");
    const int down = int(c.block_out_channels.size()) - 1;
    if (x_in.size(2) % (1 << down) || x_in.size(3) % (1 << down))
        throw InvalidRequest("UNet input height and width must be multiples of " + std::to_string(1 << down));
    if (c.class_embedding && !class_labels.defined())
        throw InvalidRequest("this UNet (stage II) needs class labels: the noise level of the low-resolution image");
    const auto B = x_in.size(0);
    auto hook = [&](const std::string& name, const torch::Tensor& t) {
        if (hooks) (*hooks)[name] = to_host_float(t);
    };
    const auto device = precision_.device;
    auto x = x_in.to(device, precision_.compute);
    // bf16 runs channels-last end to end: oneDNN's bf16 (AVX512-BF16 / AMX) convolutions work in
    // NHWC, so NCHW activations were reordered in and copied back out around every convolution.
    // fp16/bf16 on a GPU too (tensor-core convolutions prefer NHWC).
    if (channels_last()) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    auto text = text_in.to(device, precision_.compute);
    auto t = timesteps.to(device).reshape({-1}).expand({B});
    auto te = sinusoid(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift).to(precision_.compute);
    hook("time_proj", te);
    auto emb = timestep_mlp("time_embedding", te);
    hook("time_embedding", emb);
    if (c.class_embedding) {
        auto ce = sinusoid(class_labels.to(device).reshape({-1}).expand({B}), c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift);
        hook("time_proj#1", ce);  // the second call of time_proj: the noise level
        auto class_emb = timestep_mlp("class_embedding", ce.to(precision_.compute));
        hook("class_embedding", class_emb);
        emb = emb + class_emb;
    }
    const auto ts = text_state(text);
    hook("add_embedding", ts->pooled);
    emb = emb + ts->pooled;
    if (c.time_embedding_gelu) emb = act(emb);
    hook("emb", emb);
    hook("encoder_hid_proj", ts->ctx);
    auto h = conv("conv_in", x, 1);
    hook("conv_in", h);
    std::vector<torch::Tensor> skips = {h};
    const int n = int(c.block_out_channels.size());
    for (int i = 0; i < n; ++i) {
        const std::string p = "down_blocks." + std::to_string(i);
        int r = 0;
        for (int j = 0; j < c.layers_per_block[i]; ++j) {
            h = resnet(p + ".resnets." + std::to_string(j), h, emb, c.resnet_out_scale, 0);
            if (c.down_attention[i]) h = attention(p + ".attentions." + std::to_string(j), h, *ts);
            skips.push_back(h);
            hook(p + ".res." + std::to_string(r++), h);
        }
        if (i < n - 1) {
            h = resnet(p + ".downsamplers.0", h, emb, c.resnet_out_scale, -1);
            skips.push_back(h);
            hook(p + ".res." + std::to_string(r++), h);
        }
        hook(p + ".out", h);
    }
    h = resnet("mid_block.resnets.0", h, emb, c.mid_scale, 0);
    h = attention("mid_block.attentions.0", h, *ts);
    h = resnet("mid_block.resnets.1", h, emb, c.mid_scale, 0);
    hook("mid_block", h);
    std::vector<int> rl(c.layers_per_block.rbegin(), c.layers_per_block.rend());
    for (int i = 0; i < n; ++i) {
        const std::string p = "up_blocks." + std::to_string(i);
        for (int j = 0; j < rl[i] + 1; ++j) {
            h = torch::cat({h, skips.back()}, 1);  // h first, the skip second
            skips.pop_back();
            h = resnet(p + ".resnets." + std::to_string(j), h, emb, c.resnet_out_scale, 0);
            if (c.up_attention[i]) h = attention(p + ".attentions." + std::to_string(j), h, *ts);
        }
        if (i < n - 1) h = resnet(p + ".upsamplers.0", h, emb, c.resnet_out_scale, +1);
        hook(p, h);
    }
    if (hooks) {  // the hook wants the normalised activation before the GELU
        h = group_norm(h, c.groups, w("conv_norm_out.weight"), w("conv_norm_out.bias"), c.eps);
        hook("conv_norm_out", h);
        h = act(h);
    } else {
        h = norm_act(h, c.groups, w("conv_norm_out.weight"), w("conv_norm_out.bias"), c.eps, {}, true);
    }
    h = conv("conv_out", h, 1);
    hook("conv_out", h);
    return to_host_float(h);
}

torch::Tensor if_unet_conv(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int padding,
                           bool packed) {
    c10::InferenceMode guard;
    if (packed && x.scalar_type() == torch::kBFloat16 && dnnl_ops::applies(x))
        return DnnlConv(w, b, 1, padding, false, kBf16ConvSlice)(x);
    return conv(x, w, b, padding);
}

std::int64_t IfUNet::macs_counted() const { return probe_->macs.load(); }
void IfUNet::reset_macs() { probe_->macs = 0; }
void IfUNet::set_shape_log(std::vector<std::string>* log) { probe_->shape_log = log; }
void IfUNet::set_attention_chunk_bytes(std::int64_t bytes) {
    probe_->attention_chunk_bytes = bytes > 0 ? bytes : kAttentionChunkBytes;
}

}  // namespace ds::models
