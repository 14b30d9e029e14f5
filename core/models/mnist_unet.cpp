#include "core/models/mnist_unet.h"

#include <torch/torch.h>

#include "core/engine/errors.h"

namespace ds::models {

MnistUNetImpl::MnistUNetImpl(const UNetConfig& cfg) : config(cfg) {
    const int d = cfg.hidden;
    if (d <= 0 || cfg.in_channels <= 0 || cfg.image_size <= 0 || cfg.image_size % 4 != 0 ||
        cfg.num_classes < 0) {
        throw InvalidRequest("UNet config: hidden, in_channels must be > 0 and image_size a "
                             "positive multiple of 4 (got D=" + std::to_string(d) + ", size=" +
                             std::to_string(cfg.image_size) + ")");
    }
    const int pool = cfg.image_size / 4;
    enc1 = register_module("enc1", ConvBlock(cfg.in_channels, d));
    down1 = register_module("down1", DownBlock(d, d));
    down2 = register_module("down2", DownBlock(d, 2 * d));
    flatten = register_module("flatten", Flatten(pool));
    unflatten = register_module("unflatten", Unflatten(2 * d, pool));
    up1 = register_module("up1", UpBlock(4 * d, d));
    up2 = register_module("up2", UpBlock(2 * d, d));
    dec = register_module("dec", ConvBlock(2 * d, d));
    out = register_module("out", torch::nn::Conv2d(
                                     torch::nn::Conv2dOptions(d, cfg.in_channels, 3).padding(1)));
    if (cfg.time_mode != TimeMode::None) {
        t_fc1 = register_module("t_fc1", FCBlock(1, 2 * d));
        t_fc2 = register_module("t_fc2", FCBlock(1, d));
    }
    if (cfg.num_classes > 0) {
        c_fc1 = register_module("c_fc1", FCBlock(cfg.num_classes, 2 * d));
        c_fc2 = register_module("c_fc2", FCBlock(cfg.num_classes, d));
    }
}

UNetEncoding MnistUNetImpl::encode(const torch::Tensor& x) {
    UNetEncoding e;
    auto in = x.to(out->weight.scalar_type());  // a bf16 inference copy takes fp32 images
    // Inference runs channels-last when its kernels work in NHWC: the oneDNN operators
    // (dnnl_ops.h, fp32 and bf16) and torch's bf16 / AMX convolutions, which otherwise reorder
    // NCHW activations in and out of every convolution (docs/performance.md, sessions 8 and 9).
    if (in.dim() == 4 && BnFold::active(*this) && (in.scalar_type() == torch::kBFloat16 || dnnl_ops::applies(in)))
        in = in.contiguous(at::MemoryFormat::ChannelsLast);
    e.e1 = enc1(in);
    e.e2 = down1(e.e1);
    e.e3 = down2(e.e2);
    e.b = flatten(e.e3);
    return e;
}

namespace {
torch::Tensor as_map(const torch::Tensor& v) { return v.unsqueeze(-1).unsqueeze(-1); }
}  // namespace

torch::Tensor MnistUNetImpl::decode(const UNetEncoding& e, const torch::Tensor& t,
                                    const torch::Tensor& c) {
    auto u0 = unflatten(e.b);
    torch::Tensor t1, t2, c1, c2;
    if (config.time_mode != TimeMode::None) {
        TORCH_CHECK(t.defined(), "this UNet is time-conditioned: t is required");
        auto tt = t.reshape({-1, 1}).to(u0.scalar_type());
        t1 = as_map(t_fc1(tt));
        t2 = as_map(t_fc2(tt));
    }
    if (config.num_classes > 0) {
        TORCH_CHECK(c.defined(), "this UNet is class-conditioned: c is required");
        auto cc = c.to(u0.scalar_type());
        c1 = as_map(c_fc1(cc));
        c2 = as_map(c_fc2(cc));
    }
    // Conditioning point 1 (after unflatten) and 2 (after the first up block).
    auto inject = [&](torch::Tensor h, const torch::Tensor& tv, const torch::Tensor& cv) {
        if (cv.defined()) return tv.defined() ? torch::addcmul(tv, cv, h) : cv * h;
        if (!tv.defined()) return h;
        return config.time_mode == TimeMode::Multiplicative ? h * tv : h + tv;
    };
    u0 = inject(u0, t1, c1);
    auto u1 = inject(up1(torch::cat({e.e3, u0}, 1)), t2, c2);
    auto u2 = up2(torch::cat({e.e2, u1}, 1));
    auto h = dec(torch::cat({e.e1, u2}, 1));
    if (BnFold::active(*this) && dnnl_ops::applies(h))
        h = (*out_op_.op(out->weight, out->bias, {nullptr}, 0, make_plain_conv))(h);
    else
        h = out(h);
    return h.to(torch::kFloat32).contiguous();  // samplers work in fp32
}

torch::Tensor MnistUNetImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                     const torch::Tensor& c) {
    return decode(encode(x), t, c);
}

UNetEncoding repeat_encoding(const UNetEncoding& e, int times) {
    auto rep = [times](const torch::Tensor& v) {
        std::vector<torch::Tensor> parts(times, v);
        return torch::cat(parts, 0);
    };
    return {rep(e.e1), rep(e.e2), rep(e.e3), rep(e.b)};
}

std::int64_t count_parameters(const torch::nn::Module& module) {
    std::int64_t n = 0;
    for (const auto& p : module.parameters()) n += p.numel();
    return n;
}

}  // namespace ds::models
