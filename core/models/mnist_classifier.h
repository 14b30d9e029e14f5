#pragma once
// A small CNN that scores generated digits (the quality bar of the bundled class models).
#include <torch/nn.h>

namespace ds::models {

struct MnistClassifierImpl : torch::nn::Module {
    MnistClassifierImpl(int in_channels, int num_classes, int image_size);
    // x [N,C,H,W] in [0,1] -> logits [N,num_classes]
    torch::Tensor forward(const torch::Tensor& x);

    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};
    torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(MnistClassifier);

}  // namespace ds::models
