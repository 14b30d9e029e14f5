#pragma once
// The course UNet (course_spec §3.2-3.4) in all its variants: unconditional, time-conditioned
// (additive for DDPM / multiplicative for flow matching) and class-conditioned (c*h + t).
#include <memory>
#include <mutex>
#include <vector>

#include <torch/nn.h>

#include "core/models/mnist_blocks.h"

namespace ds::models {

enum class TimeMode { None, Additive, Multiplicative };

struct UNetConfig {
    int in_channels = 1;
    int hidden = 64;       // D
    int image_size = 28;   // must be divisible by 4 (two stride-2 downsamplings)
    int num_classes = 0;   // 0 = no class conditioning
    TimeMode time_mode = TimeMode::None;
};

// Encoder activations; they do not depend on t or c, so CFG can compute them once per step.
struct UNetEncoding {
    torch::Tensor e1, e2, e3, b;
};

struct MnistUNetImpl : torch::nn::Module {
    explicit MnistUNetImpl(const UNetConfig& config);

    // x [N,C,H,W]; t [N] normalised time in [0,1] (undefined when time_mode is None);
    // c [N,num_classes] one-hot float, an all-zero row = unconditional (undefined if no classes).
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t = {},
                          const torch::Tensor& c = {});
    UNetEncoding encode(const torch::Tensor& x);
    torch::Tensor decode(const UNetEncoding& enc, const torch::Tensor& t, const torch::Tensor& c);

    // Inference (oneDNN): the FCBlocks' outputs t1, t2, c1, c2 (those the config has), each
    // [N, C, 1, 1] in dtype, from two joined products instead of eight small ones.
    std::vector<torch::Tensor> conditioning(const torch::Tensor& t, const torch::Tensor& c, torch::ScalarType dtype);

    UNetConfig config;
    ConvBlock enc1{nullptr};
    DownBlock down1{nullptr}, down2{nullptr};
    Flatten flatten{nullptr};
    Unflatten unflatten{nullptr};
    UpBlock up1{nullptr}, up2{nullptr};
    ConvBlock dec{nullptr};
    torch::nn::Conv2d out{nullptr};
    FCBlock t_fc1{nullptr}, t_fc2{nullptr};  // time -> 2D (at u0), D (at u1)
    FCBlock c_fc1{nullptr}, c_fc2{nullptr};  // class -> 2D, D

private:
    BnFold out_op_;  // `out` as a oneDNN operator in inference (no BatchNorm to fold)
    // Inference: the (up to) four FCBlocks as one pair of oneDNN products (mnist_unet.cpp).
    struct Conditioning {
        std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
        std::vector<std::int64_t> key;  // source_key of the FCBlocks' parameters
        std::shared_ptr<const DnnlLinear> first, second;
    } cond_;
};
TORCH_MODULE(MnistUNet);

// Repeats an encoding along the batch (for the cond + uncond halves of a CFG forward).
UNetEncoding repeat_encoding(const UNetEncoding& enc, int times);

std::int64_t count_parameters(const torch::nn::Module& module);

}  // namespace ds::models
