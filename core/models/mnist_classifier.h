#pragma once
// A small CNN that scores generated digits (the quality bar of the bundled class models).
#include <torch/nn.h>

namespace ds::models {

struct MnistClassifierImpl : torch::nn::Module {
    MnistClassifierImpl(int in_channels, int num_classes, int image_size);
    // x [N,C,H,W] in [0,1] -> logits [N,num_classes]
    torch::Tensor forward(const torch::Tensor& x);
    // The penultimate layer (ReLU of fc1, 128 values per image; eval mode): the features of the
    // Fréchet distance `dstudio eval` reports.
    torch::Tensor features(const torch::Tensor& x);

    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};
    torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(MnistClassifier);

// Fréchet distance between Gaussians fitted to two feature sets [N, F] and [M, F] (N, M >= 2):
// |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), in double precision; the trace of the
// square root comes from the eigenvalues of S_a^(1/2) S_b S_a^(1/2) (symmetric, PSD).
double frechet_distance(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace ds::models
