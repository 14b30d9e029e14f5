#pragma once
// The course's UNet building blocks (course_spec §3.1), one torch::nn module each.
// Defaults are PyTorch's: bias on, BatchNorm eps 1e-5 / momentum 0.1, exact GELU.
#include <torch/nn.h>

namespace ds::models {

// Conv2d(k3,s1,p1) -> BN -> GELU; keeps H, W.
struct ConvImpl : torch::nn::Module {
    ConvImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Conv2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(Conv);

// Conv2d(k3,s2,p1) -> BN -> GELU; halves H, W.
struct DownConvImpl : torch::nn::Module {
    DownConvImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Conv2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(DownConv);

// ConvTranspose2d(k4,s2,p1) -> BN -> GELU; doubles H, W.
struct UpConvImpl : torch::nn::Module {
    UpConvImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::ConvTranspose2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(UpConv);

// AvgPool2d(pool) -> GELU: (C, pool, pool) -> (C, 1, 1). pool = 7 for 28x28 inputs.
struct FlattenImpl : torch::nn::Module {
    explicit FlattenImpl(int pool);
    torch::Tensor forward(const torch::Tensor& x);
    int pool;
};
TORCH_MODULE(Flatten);

// ConvTranspose2d(C,C,k=pool,s=pool) -> BN -> GELU: (C,1,1) -> (C,pool,pool).
struct UnflattenImpl : torch::nn::Module {
    UnflattenImpl(int channels, int pool);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::ConvTranspose2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(Unflatten);

// Conv(in,out) -> Conv(out,out).
struct ConvBlockImpl : torch::nn::Module {
    ConvBlockImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    Conv conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(ConvBlock);

// DownConv(in,out) -> ConvBlock(out,out).
struct DownBlockImpl : torch::nn::Module {
    DownBlockImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    DownConv down{nullptr};
    ConvBlock block{nullptr};
};
TORCH_MODULE(DownBlock);

// UpConv(in,out) -> ConvBlock(out,out).
struct UpBlockImpl : torch::nn::Module {
    UpBlockImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    UpConv up{nullptr};
    ConvBlock block{nullptr};
};
TORCH_MODULE(UpBlock);

// Linear(in,out) -> GELU -> Linear(out,out): embeds a time scalar or a one-hot class.
struct FCBlockImpl : torch::nn::Module {
    FCBlockImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FCBlock);

}  // namespace ds::models
