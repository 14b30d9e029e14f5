#include "core/models/mnist_unet.h"

#include <mutex>

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

// At batch 1 the four FCBlocks were eight tiny oneDNN calls (~80 us of a ~2 ms forward). In
// inference they run as two: the first layers as one product over the joined input [t | c] with a
// block-sparse weight (each block reads only its own input), GELU fused, then the second layers as
// one block-diagonal product. The zeros add exact zeros, so each output is its block's own sums.
// Rebuilt when any source tensor changes, like the BatchNorm folds.
std::vector<torch::Tensor> MnistUNetImpl::conditioning(const torch::Tensor& t, const torch::Tensor& c,
                                                       torch::ScalarType dtype) {
    struct Block {
        FCBlock* fc;
        std::int64_t in_start, in_len;
    };
    std::vector<Block> blocks;
    const bool timed = config.time_mode != TimeMode::None, classed = config.num_classes > 0;
    if (timed) blocks.insert(blocks.end(), {{&t_fc1, 0, 1}, {&t_fc2, 0, 1}});
    if (classed)
        blocks.insert(blocks.end(), {{&c_fc1, timed ? 1 : 0, config.num_classes}, {&c_fc2, timed ? 1 : 0, config.num_classes}});
    std::vector<const torch::Tensor*> sources;
    for (const auto& b : blocks)
        for (const auto* p : {&(*b.fc)->fc1->weight, &(*b.fc)->fc1->bias, &(*b.fc)->fc2->weight, &(*b.fc)->fc2->bias})
            sources.push_back(p);
    std::shared_ptr<const DnnlLinear> first, second;
    {
        std::lock_guard<std::mutex> lock(*cond_.mutex);
        auto key = source_key(sources);
        if (key != cond_.key || !cond_.first) {
            const auto f32 = torch::kFloat32;
            std::int64_t total = 0;
            for (const auto& b : blocks) total += (*b.fc)->fc2->weight.size(0);
            const std::int64_t in_total = (timed ? 1 : 0) + (classed ? config.num_classes : 0);
            auto w1 = torch::zeros({total, in_total}, f32), w2 = torch::zeros({total, total}, f32);
            std::vector<torch::Tensor> b1, b2;
            std::int64_t row = 0;
            for (const auto& b : blocks) {
                const auto& fc = *b.fc;
                const auto n = fc->fc2->weight.size(0);
                w1.narrow(0, row, n).narrow(1, b.in_start, b.in_len).copy_(fc->fc1->weight);
                w2.narrow(0, row, n).narrow(1, row, n).copy_(fc->fc2->weight);
                b1.push_back(fc->fc1->bias.to(f32));
                b2.push_back(fc->fc2->bias.to(f32));
                row += n;
            }
            cond_.first = std::make_shared<DnnlLinear>(w1.to(dtype), torch::cat(b1), true);
            cond_.second = std::make_shared<DnnlLinear>(w2.to(dtype), torch::cat(b2), false);
            cond_.key = std::move(key);
        }
        first = cond_.first;
        second = cond_.second;
    }
    std::vector<torch::Tensor> inputs;
    if (timed) inputs.push_back(t.reshape({-1, 1}).to(dtype));
    if (classed) inputs.push_back(c.to(dtype));
    const auto z = inputs.size() == 1 ? inputs[0] : torch::cat(inputs, 1);
    const auto y = (*second)((*first)(z));
    std::vector<torch::Tensor> parts;  // t1, t2, c1, c2 (present ones), each [N, C, 1, 1]
    std::int64_t row = 0;
    for (const auto& b : blocks) {
        const auto n = (*b.fc)->fc2->weight.size(0);
        parts.push_back(as_map(y.narrow(1, row, n)));
        row += n;
    }
    return parts;
}

torch::Tensor MnistUNetImpl::decode(const UNetEncoding& e, const torch::Tensor& t,
                                    const torch::Tensor& c) {
    auto u0 = unflatten(e.b);
    torch::Tensor t1, t2, c1, c2;
    const bool timed = config.time_mode != TimeMode::None, classed = config.num_classes > 0;
    TORCH_CHECK(!timed || t.defined(), "this UNet is time-conditioned: t is required");
    TORCH_CHECK(!classed || c.defined(), "this UNet is class-conditioned: c is required");
    if ((timed || classed) && BnFold::active(*this) && dnnl_ops::applies(u0)) {
        auto parts = conditioning(t, c, u0.scalar_type());
        size_t i = 0;
        if (timed) t1 = parts[i++], t2 = parts[i++];
        if (classed) c1 = parts[i++], c2 = parts[i++];
    } else {
        if (timed) {
            auto tt = t.reshape({-1, 1}).to(u0.scalar_type());
            t1 = as_map(t_fc1(tt));
            t2 = as_map(t_fc2(tt));
        }
        if (classed) {
            auto cc = c.to(u0.scalar_type());
            c1 = as_map(c_fc1(cc));
            c2 = as_map(c_fc2(cc));
        }
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
