#include "core/models/mnist_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <torch/torch.h>

#include "core/models/fused_norm.h"
#include "core/models/sync_batchnorm.h"

namespace ds::models {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {
std::int64_t version_of(const torch::Tensor& t) { return t.is_inference() ? 0 : std::int64_t(t._version()); }
// Inference convolution straight on oneDNN: torch 1.13 picks its im2col path for small inputs
// (batch 1 at 14 and 7 px), several times slower there (batch-1 forward 5.35 -> 4.55 ms, Zen 5).
torch::Tensor eval_conv(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                        std::int64_t stride, std::int64_t padding) {
    if (x.scalar_type() == torch::kBFloat16) {  // the bf16 inference copy: channels-last in and out
        const auto cl = at::MemoryFormat::ChannelsLast;
        return at::mkldnn_convolution(x.contiguous(cl), w.contiguous(cl), b, {padding, padding}, {stride, stride},
                                      {1, 1}, 1);
    }
    return at::mkldnn_convolution(x.contiguous(), w, b, {padding, padding}, {stride, stride}, {1, 1}, 1);
}
// Exact GELU; bf16 activations (the channels-last bf16 inference copy) through the AVX-512 kernel
// of fused_norm.h: torch 1.13's bf16 GELU is slow on channels-last tensors.
torch::Tensor eval_gelu(const torch::Tensor& x) { return gelu_bf16_applies(x) ? gelu_bf16(x) : F::gelu(x); }
bool channels_last(const torch::Tensor& x) {
    return x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous();
}
// Folded conv weights in the layout eval_conv hands to oneDNN (channels-last for bf16), once per
// fold instead of a copy per call.
std::pair<torch::Tensor, torch::Tensor> conv_layout(const torch::Tensor& w, const torch::Tensor& b) {
    if (w.scalar_type() == torch::kBFloat16) return {w.contiguous(at::MemoryFormat::ChannelsLast), b};
    return {w, b};
}
}  // namespace

std::vector<std::int64_t> source_key(const std::vector<const torch::Tensor*>& sources) {
    std::vector<std::int64_t> key;
    key.reserve(2 * sources.size());
    for (const auto* t : sources) {
        key.push_back(reinterpret_cast<std::int64_t>(t->data_ptr()));
        key.push_back(version_of(*t));
    }
    return key;
}

bool BnFold::active(const torch::nn::Module& m) {
    return !m.is_training() && !torch::GradMode::is_enabled();
}

void BnFold::refresh(const torch::Tensor& w, const torch::Tensor& b, const nn::BatchNorm2d& bn, int out_dim,
                     Prepare prepare) {
    std::vector<const torch::Tensor*> sources = {&w, &b};
    if (!bn.is_empty())
        for (const auto* t : {&bn->weight, &bn->bias, &bn->running_mean, &bn->running_var}) sources.push_back(t);
    auto key = source_key(sources);
    if (key == key_ && weight_.defined()) return;
    if (bn.is_empty()) {
        weight_ = w.detach().contiguous();
        bias_ = b.detach();
    } else {
        // In fp32 whatever the convolution's dtype (a bf16 model keeps BatchNorm in fp32).
        const auto f32 = torch::kFloat32;
        auto scale = bn->weight.to(f32) / torch::sqrt(bn->running_var.to(f32) + bn->options.eps());
        std::vector<std::int64_t> shape(w.dim(), 1);
        shape[out_dim] = w.size(out_dim);
        weight_ = (w.to(f32) * scale.view(shape)).to(w.scalar_type()).contiguous();
        bias_ = ((b.to(f32) - bn->running_mean.to(f32)) * scale + bn->bias.to(f32)).to(b.scalar_type());
    }
    if (prepare) std::tie(weight_, bias_) = prepare(weight_, bias_);
    key_ = std::move(key);
    op_.reset();
}

std::pair<torch::Tensor, torch::Tensor> BnFold::get(const torch::Tensor& w, const torch::Tensor& b,
                                                    const nn::BatchNorm2d& bn, int out_dim, Prepare prepare) {
    std::lock_guard<std::mutex> lock(*mutex_);
    refresh(w, b, bn, out_dim, prepare);
    return {weight_, bias_};
}

std::shared_ptr<const FoldedOp> BnFold::op(const torch::Tensor& w, const torch::Tensor& b,
                                           const nn::BatchNorm2d& bn, int out_dim, MakeOp make) {
    std::lock_guard<std::mutex> lock(*mutex_);
    refresh(w, b, bn, out_dim, nullptr);
    if (!op_) op_ = make(weight_, bias_);
    return op_;
}

namespace {
// oneDNN inference operators (dnnl_ops.h) for the folded blocks: packed weights, GELU fused.
std::shared_ptr<const FoldedOp> make_conv_s1(const torch::Tensor& w, const torch::Tensor& b) {
    return std::make_shared<DnnlConv>(w, b, 1, 1, true);
}
std::shared_ptr<const FoldedOp> make_conv_s2(const torch::Tensor& w, const torch::Tensor& b) {
    return std::make_shared<DnnlConv>(w, b, 2, 1, true);
}
std::shared_ptr<const FoldedOp> make_linear_gelu(const torch::Tensor& w, const torch::Tensor& b) {
    return std::make_shared<DnnlLinear>(w, b, true);
}
std::shared_ptr<const FoldedOp> make_linear(const torch::Tensor& w, const torch::Tensor& b) {
    return std::make_shared<DnnlLinear>(w, b, false);
}
// ConvTranspose(k4, s2, p1) + GELU: the stacked phase convolution with GELU fused (GELU is
// per element, so it commutes with the interleave), then the interleave.
class PhaseUpConv : public FoldedOp {
public:
    PhaseUpConv(const torch::Tensor& w, const torch::Tensor& b)
        : conv_([&] {
              auto [k4, b4] = stack_phase_kernels(w, b);
              return DnnlConv(k4, b4, 1, 1, true);
          }()) {}
    torch::Tensor operator()(const torch::Tensor& x) const override { return interleave_phases(conv_(x)); }

private:
    DnnlConv conv_;
};
std::shared_ptr<const FoldedOp> make_up_conv(const torch::Tensor& w, const torch::Tensor& b) {
    return std::make_shared<PhaseUpConv>(w, b);
}
// Unflatten's ConvTranspose(k = s = P) on a 1x1 input + GELU as one inner product whose outputs
// are ordered (i, j, o): the result is already the channels-last [N, O, P, P] map.
class DenseUnflatten : public FoldedOp {
public:
    DenseUnflatten(const torch::Tensor& w, const torch::Tensor& b)  // w [C, O, P, P], b [O]
        : out_(w.size(1)), pool_(w.size(2)),
          lin_(w.permute({2, 3, 1, 0}).reshape({-1, w.size(0)}), b.repeat({w.size(2) * w.size(3)}), true) {}
    torch::Tensor operator()(const torch::Tensor& x) const override {
        const auto n = x.size(0);
        return lin_(x.reshape({n, -1})).view({n, pool_, pool_, out_}).permute({0, 3, 1, 2});
    }

private:
    std::int64_t out_, pool_;
    DnnlLinear lin_;
};
std::shared_ptr<const FoldedOp> make_unflatten(const torch::Tensor& w, const torch::Tensor& b) {
    return std::make_shared<DenseUnflatten>(w, b);
}
}  // namespace

std::shared_ptr<const FoldedOp> make_plain_conv(const torch::Tensor& w, const torch::Tensor& b) {
    return std::make_shared<DnnlConv>(w, b, 1, w.size(2) / 2, false);
}

ConvImpl::ConvImpl(int in, int out) {
    conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(1).padding(1)));
    bn = register_module("bn", nn::BatchNorm2d(out));
}
torch::Tensor ConvImpl::forward(const torch::Tensor& x) {
    if (!BnFold::active(*this)) return F::gelu(batch_norm(bn, conv(x)));
    if (dnnl_ops::applies(x)) return (*fold.op(conv->weight, conv->bias, bn, 0, make_conv_s1))(x);
    auto [w, b] = fold.get(conv->weight, conv->bias, bn, 0, conv_layout);
    return eval_gelu(eval_conv(x, w, b, 1, 1));
}

DownConvImpl::DownConvImpl(int in, int out) {
    conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(2).padding(1)));
    bn = register_module("bn", nn::BatchNorm2d(out));
}
torch::Tensor DownConvImpl::forward(const torch::Tensor& x) {
    if (!BnFold::active(*this)) return F::gelu(batch_norm(bn, conv(x)));
    if (dnnl_ops::applies(x)) return (*fold.op(conv->weight, conv->bias, bn, 0, make_conv_s2))(x);
    auto [w, b] = fold.get(conv->weight, conv->bias, bn, 0, conv_layout);
    return eval_gelu(eval_conv(x, w, b, 2, 1));
}

UpConvImpl::UpConvImpl(int in, int out) {
    conv = register_module(
        "conv", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1)));
    bn = register_module("bn", nn::BatchNorm2d(out));
}
torch::Tensor conv_transpose_k4s2p1(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    // Output row 2m + a only sees kernel rows of one parity (a = 0: rows 3, 1 at input rows m-1, m;
    // a = 1: rows 2, 0 at m, m+1), likewise for columns: each of the four output phases (a, c) is
    // a plain 2x2 correlation of the once-padded input with a quarter of the flipped kernel.
    // Same products and sums as conv_transpose2d, but on oneDNN's convolution path: 2-3x faster
    // forward and backward than torch 1.13's im2col-based transposed convolution on CPU.
    TORCH_CHECK(x.dim() == 4 && w.dim() == 4 && w.size(2) == 4 && w.size(3) == 4 && x.size(1) == w.size(0),
                "conv_transpose_k4s2p1: expects x [N, Cin, H, W] and w [Cin, Cout, 4, 4]");
    const auto n = x.size(0), h = x.size(2), wd = x.size(3), co = w.size(1);
    const auto wt = w.flip({2, 3}).transpose(0, 1);  // [Cout, Cin, 4, 4] correlation kernel
    const auto xp = F::pad(x, F::PadFuncOptions({1, 1, 1, 1}));
    // A channels-last input (the bf16 inference copy) gives a channels-last output: the phases
    // interleave in [N, H, W, C] order.
    const bool nhwc = channels_last(x);
    std::vector<torch::Tensor> rows;
    for (int a = 0; a < 2; ++a) {
        std::vector<torch::Tensor> cols;
        for (int c = 0; c < 2; ++c) {
            auto k = wt.slice(2, a, 4, 2).slice(3, c, 4, 2);
            auto in = xp.slice(2, a, a + h + 1).slice(3, c, c + wd + 1);
            if (nhwc) {
                in = in.contiguous(at::MemoryFormat::ChannelsLast);
                cols.push_back(torch::conv2d(in, k, b).permute({0, 2, 3, 1}));  // [N, H, W, Cout]
            } else {
                cols.push_back(torch::conv2d(in, k, b));  // [N, Cout, H, W]
            }
        }
        rows.push_back(torch::stack(cols, nhwc ? 3 : -1));  // [N, H, W, 2, Cout] / [N, Cout, H, W, 2]
    }
    if (nhwc)  // [N, H, 2, W, 2, Cout] -> [N, 2H, 2W, Cout] -> channels-last [N, Cout, 2H, 2W]
        return torch::stack(rows, 2).reshape({n, 2 * h, 2 * wd, co}).permute({0, 3, 1, 2});
    return torch::stack(rows, 3).reshape({n, co, 2 * h, 2 * wd});  // [N, Cout, H, 2, W, 2]
}

std::pair<torch::Tensor, torch::Tensor> stack_phase_kernels(const torch::Tensor& w, const torch::Tensor& b) {
    TORCH_CHECK(w.dim() == 4 && w.size(2) == 4 && w.size(3) == 4 && b.dim() == 1 && b.size(0) == w.size(1),
                "stack_phase_kernels: expects w [Cin, Cout, 4, 4] and b [Cout]");
    const auto wt = w.flip({2, 3}).transpose(0, 1);  // [Cout, Cin, 4, 4] correlation kernel
    std::vector<torch::Tensor> phases;
    for (int a = 0; a < 2; ++a)
        for (int c = 0; c < 2; ++c) phases.push_back(wt.slice(2, a, 4, 2).slice(3, c, 4, 2));
    return conv_layout(torch::cat(phases, 0).contiguous(), b.repeat({4}));
}

torch::Tensor conv_transpose_k4s2p1_stacked(const torch::Tensor& x, const torch::Tensor& k4,
                                            const torch::Tensor& b4) {
    TORCH_CHECK(x.dim() == 4 && k4.dim() == 4 && k4.size(0) % 4 == 0 && k4.size(1) == x.size(1) &&
                    k4.size(2) == 2 && k4.size(3) == 2,
                "conv_transpose_k4s2p1_stacked: expects x [N, Cin, H, W] and k4 [4*Cout, Cin, 2, 2]");
    return interleave_phases(eval_conv(x, k4, b4, 1, 1));  // [N, 4 Cout, H + 1, W + 1]
}

torch::Tensor interleave_phases(const torch::Tensor& y) {
    // y[:, (2a + c) * Cout + o, r, s] is phase (a, c) of output pixel (2(r - a) + a, 2(s - c) + c).
    TORCH_CHECK(y.dim() == 4 && y.size(1) % 4 == 0, "interleave_phases: expects [N, 4*Cout, H+1, W+1]");
    const auto n = y.size(0), h = y.size(2) - 1, wd = y.size(3) - 1, co = y.size(1) / 4;
    if (channels_last(y)) {
        // In [N, H, W, C] order each output pixel is one run of Cout values of one input pixel:
        // out[n, 2r + a, 2s + c, :] = y[n, r + a, s + c, (2a + c) Cout : (2a + c + 1) Cout].
        // Plain copies of those runs (four strided tensor copies cost ~35 us at batch 1).
        auto out = at::empty({n, 2 * h, 2 * wd, co}, y.options());
        const auto bytes = static_cast<std::size_t>(co * y.element_size());
        const auto* src = static_cast<const char*>(y.data_ptr());
        auto* dst = static_cast<char*>(out.data_ptr());
        const std::int64_t in_row = (wd + 1) * 4 * co, in_img = (h + 1) * in_row;  // elements
        const auto el = y.element_size();
        at::parallel_for(0, n * h, 8, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t i = begin; i < end; ++i) {
                const auto img = i / h, r = i % h;
                for (int a = 0; a < 2; ++a) {
                    auto* o = dst + ((img * 2 * h + 2 * r + a) * 2 * wd) * co * el;
                    for (std::int64_t s = 0; s < wd; ++s)
                        for (int c = 0; c < 2; ++c, o += bytes)
                            std::memcpy(o, src + (img * in_img + (r + a) * in_row + (s + c) * 4 * co + (2 * a + c) * co) * el,
                                        bytes);
                }
            }
        });
        return out.permute({0, 3, 1, 2});  // channels-last [N, Cout, 2H, 2W]
    }
    const auto yv = y.view({n, 2, 2, co, h + 1, wd + 1});
    auto out = at::empty({n, co, h, 2, wd, 2}, y.options());
    for (int a = 0; a < 2; ++a)
        for (int c = 0; c < 2; ++c)
            out.select(3, a).select(4, c).copy_(yv.select(1, a).select(1, c).slice(2, a, a + h).slice(3, c, c + wd));
    return out.view({n, co, 2 * h, 2 * wd});
}

torch::Tensor UpConvImpl::forward(const torch::Tensor& x) {
    // Four small convolutions cost more call overhead than one: below a batch of 16 the native
    // transposed convolution is faster (batch 1: 0.25 vs 1.1 ms for 256 -> 64 channels at 7 px).
    // torch 1.13 sends a bf16 conv_transpose2d to oneDNN as a plain convolution (a shape error),
    // so anything but fp32 always takes the phase form.
    auto product = [&x](const torch::Tensor& w, const torch::Tensor& b) {
        return x.size(0) >= 16 || x.scalar_type() != torch::kFloat32 ? conv_transpose_k4s2p1(x, w, b)
                                                                     : torch::conv_transpose2d(x, w, b, 2, 1);
    };
    if (!BnFold::active(*this)) return F::gelu(batch_norm(bn, product(conv->weight, conv->bias)));
    if (dnnl_ops::applies(x)) return (*fold.op(conv->weight, conv->bias, bn, 1, make_up_conv))(x);
    auto [k4, b4] = fold.get(conv->weight, conv->bias, bn, 1, stack_phase_kernels);
    return eval_gelu(conv_transpose_k4s2p1_stacked(x, k4, b4));
}

FlattenImpl::FlattenImpl(int pool_size) : pool(pool_size) {}
torch::Tensor FlattenImpl::forward(const torch::Tensor& x) {
    if (BnFold::active(*this) && x.dim() == 4 && x.size(0) <= 4 && x.size(2) == pool && x.size(3) == pool &&
        channels_last(x) && (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16)) {
        // Small-batch inference on the channels-last map: the whole map is the pooling window, so
        // this is a mean over pixels then GELU, as one pass (torch's two ops took ~18 us at batch 1,
        // this ~4.5 us; from a batch of ~16 up torch's vectorised ops win).
        const auto n = x.size(0), c = x.size(1), px = x.size(2) * x.size(3);
        auto out = at::empty({n, c, 1, 1}, x.options());
        auto pool_gelu = [&](auto tag) {
            using T = decltype(tag);
            const T* src = x.data_ptr<T>();
            T* dst = out.data_ptr<T>();
            std::vector<float> acc(c);
            for (std::int64_t i = 0; i < n; ++i) {
                std::fill(acc.begin(), acc.end(), 0.0f);
                for (std::int64_t p = 0; p < px; ++p) {
                    const T* row = src + (i * px + p) * c;
                    for (std::int64_t k = 0; k < c; ++k) acc[k] += static_cast<float>(row[k]);
                }
                for (std::int64_t k = 0; k < c; ++k) {
                    const float m = acc[k] / static_cast<float>(px);
                    dst[i * c + k] = static_cast<T>(0.5f * m * (1.0f + std::erf(m * 0.70710678118654752f)));
                }
            }
        };
        if (x.scalar_type() == torch::kFloat32)
            pool_gelu(float{});
        else
            pool_gelu(c10::BFloat16{});
        return out;
    }
    return F::gelu(F::avg_pool2d(x, F::AvgPool2dFuncOptions(pool)));
}

UnflattenImpl::UnflattenImpl(int channels, int pool) {
    conv = register_module("conv", nn::ConvTranspose2d(
                                       nn::ConvTranspose2dOptions(channels, channels, pool).stride(pool)));
    bn = register_module("bn", nn::BatchNorm2d(channels));
}
torch::Tensor UnflattenImpl::forward(const torch::Tensor& x) {
    // A stride-k ConvTranspose with a k x k kernel on a 1x1 input is a matrix product:
    // out[n, o, i, j] = sum_c x[n, c] W[c, o, i, j] + b[o]. Torch's transposed-conv path is ~20x
    // slower here than the equivalent addmm; the parameters stay those of ConvTranspose2d.
    const bool folded = BnFold::active(*this);
    if (folded && dnnl_ops::applies(x)) return (*fold.op(conv->weight, conv->bias, bn, 1, make_unflatten))(x);
    torch::Tensor w = conv->weight, b = conv->bias;  // [C, C, k, k], [C]
    if (folded) std::tie(w, b) = fold.get(w, b, bn, 1);
    const auto n = x.size(0), c = w.size(0), o = w.size(1), k = w.size(2);
    TORCH_CHECK(x.size(2) == 1 && x.size(3) == 1, "Unflatten expects a (C,1,1) input");
    auto y = torch::mm(x.reshape({n, c}), w.reshape({c, o * k * k})).view({n, o, k, k});
    y = y + b.view({1, o, 1, 1});
    if (folded && y.scalar_type() == torch::kBFloat16)  // joins channels-last skips in the bf16 copy
        return eval_gelu(y.contiguous(at::MemoryFormat::ChannelsLast));
    return F::gelu(folded ? y : batch_norm(bn, y));
}

ConvBlockImpl::ConvBlockImpl(int in, int out) {
    conv1 = register_module("conv1", Conv(in, out));
    conv2 = register_module("conv2", Conv(out, out));
}
torch::Tensor ConvBlockImpl::forward(const torch::Tensor& x) { return conv2(conv1(x)); }

DownBlockImpl::DownBlockImpl(int in, int out) {
    down = register_module("down", DownConv(in, out));
    block = register_module("block", ConvBlock(out, out));
}
torch::Tensor DownBlockImpl::forward(const torch::Tensor& x) { return block(down(x)); }

UpBlockImpl::UpBlockImpl(int in, int out) {
    up = register_module("up", UpConv(in, out));
    block = register_module("block", ConvBlock(out, out));
}
torch::Tensor UpBlockImpl::forward(const torch::Tensor& x) { return block(up(x)); }

FCBlockImpl::FCBlockImpl(int in, int out) {
    fc1 = register_module("fc1", nn::Linear(in, out));
    fc2 = register_module("fc2", nn::Linear(out, out));
}
torch::Tensor FCBlockImpl::forward(const torch::Tensor& x) {
    if (BnFold::active(*this) && x.dim() == 2 && dnnl_ops::applies(x)) {
        const auto h = (*fc1_op_.op(fc1->weight, fc1->bias, {nullptr}, 0, make_linear_gelu))(x);
        return (*fc2_op_.op(fc2->weight, fc2->bias, {nullptr}, 0, make_linear))(h);
    }
    return fc2(F::gelu(fc1(x)));
}

}  // namespace ds::models
