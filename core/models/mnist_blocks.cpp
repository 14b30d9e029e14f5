#include "core/models/mnist_blocks.h"

#include <torch/torch.h>

namespace ds::models {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

ConvImpl::ConvImpl(int in, int out) {
    conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(1).padding(1)));
    bn = register_module("bn", nn::BatchNorm2d(out));
}
torch::Tensor ConvImpl::forward(const torch::Tensor& x) { return F::gelu(bn(conv(x))); }

DownConvImpl::DownConvImpl(int in, int out) {
    conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(2).padding(1)));
    bn = register_module("bn", nn::BatchNorm2d(out));
}
torch::Tensor DownConvImpl::forward(const torch::Tensor& x) { return F::gelu(bn(conv(x))); }

UpConvImpl::UpConvImpl(int in, int out) {
    conv = register_module(
        "conv", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1)));
    bn = register_module("bn", nn::BatchNorm2d(out));
}
torch::Tensor UpConvImpl::forward(const torch::Tensor& x) { return F::gelu(bn(conv(x))); }

FlattenImpl::FlattenImpl(int pool_size) : pool(pool_size) {}
torch::Tensor FlattenImpl::forward(const torch::Tensor& x) {
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
    const auto& w = conv->weight;  // [C, C, k, k]
    const auto n = x.size(0), c = w.size(0), o = w.size(1), k = w.size(2);
    TORCH_CHECK(x.size(2) == 1 && x.size(3) == 1, "Unflatten expects a (C,1,1) input");
    auto y = torch::mm(x.reshape({n, c}), w.reshape({c, o * k * k})).view({n, o, k, k});
    y = y + conv->bias.view({1, o, 1, 1});
    return F::gelu(bn(y));
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
torch::Tensor FCBlockImpl::forward(const torch::Tensor& x) { return fc2(F::gelu(fc1(x))); }

}  // namespace ds::models
