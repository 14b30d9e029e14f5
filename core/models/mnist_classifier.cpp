#include "core/models/mnist_classifier.h"

#include <torch/torch.h>

#include "core/models/sync_batchnorm.h"

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

torch::Tensor MnistClassifierImpl::features(const torch::Tensor& x) {
    auto h = F::max_pool2d(F::relu(batch_norm(bn1, conv1(x))), F::MaxPool2dFuncOptions(2));
    h = F::max_pool2d(F::relu(batch_norm(bn2, conv2(h))), F::MaxPool2dFuncOptions(2));
    return F::relu(fc1(h.flatten(1)));
}

namespace {
// Symmetric PSD square root through the eigendecomposition (tiny negative eigenvalues of
// rounding clamped to 0).
torch::Tensor sqrt_psd(const torch::Tensor& s) {
    auto [values, vectors] = torch::linalg::eigh(s, "L");
    return vectors.matmul(torch::diag(values.clamp_min(0).sqrt())).matmul(vectors.t());
}
}  // namespace

double frechet_distance(const torch::Tensor& a, const torch::Tensor& b) {
    TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1) && a.size(0) >= 2 && b.size(0) >= 2,
                "frechet_distance needs feature sets [N, F] and [M, F] with N, M >= 2");
    auto stats = [](const torch::Tensor& x) {
        auto d = x.to(torch::kFloat64);
        auto mu = d.mean(0);
        auto c = d - mu;
        return std::make_pair(mu, c.t().matmul(c) / double(d.size(0) - 1));
    };
    auto [mu_a, s_a] = stats(a);
    auto [mu_b, s_b] = stats(b);
    auto root_a = sqrt_psd(s_a);
    auto m = root_a.matmul(s_b).matmul(root_a);
    auto eig = torch::linalg::eigvalsh((m + m.t()) / 2, "L").clamp_min(0).sqrt().sum();
    return (mu_a - mu_b).pow(2).sum().item<double>() + (s_a.trace() + s_b.trace()).item<double>() -
           2 * eig.item<double>();
}

torch::Tensor MnistClassifierImpl::forward(const torch::Tensor& x) {
    auto h = F::max_pool2d(F::relu(batch_norm(bn1, conv1(x))), F::MaxPool2dFuncOptions(2));
    h = F::max_pool2d(F::relu(batch_norm(bn2, conv2(h))), F::MaxPool2dFuncOptions(2));
    h = drop(F::relu(fc1(h.flatten(1))));
    return fc2(h);
}

}  // namespace ds::models
