#include "core/models/mnist_classifier.h"

#include <torch/torch.h>

namespace ds::models {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

MnistClassifierImpl::MnistClassifierImpl(int in_channels, int num_classes, int image_size) {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in_channels, 32, 3).padding(1)));
    bn1 = register_module("bn1", nn::BatchNorm2d(32));
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)));
    bn2 = register_module("bn2", nn::BatchNorm2d(64));
    const int s = image_size / 4;
    fc1 = register_module("fc1", nn::Linear(64 * s * s, 128));
    fc2 = register_module("fc2", nn::Linear(128, num_classes));
    // Dropout keeps the scorer from overfitting to stroke details generated digits may lack.
    drop = register_module("drop", nn::Dropout(0.3));
}

torch::Tensor MnistClassifierImpl::forward(const torch::Tensor& x) {
    auto h = F::max_pool2d(F::relu(bn1(conv1(x))), F::MaxPool2dFuncOptions(2));
    h = F::max_pool2d(F::relu(bn2(conv2(h))), F::MaxPool2dFuncOptions(2));
    h = drop(F::relu(fc1(h.flatten(1))));
    return fc2(h);
}

}  // namespace ds::models
