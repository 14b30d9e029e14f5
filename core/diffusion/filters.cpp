#include "core/diffusion/filters.h"

#include <cmath>

#include <torch/torch.h>

#include "core/engine/errors.h"

namespace ds::diffusion {

namespace F = torch::nn::functional;

torch::Tensor gaussian_kernel1d(int k, double sigma) {
    if (k < 1 || k % 2 == 0)
        throw InvalidRequest("blur kernel size must be a positive odd number (got " + std::to_string(k) + ")");
    if (!(sigma > 0) || !std::isfinite(sigma))
        throw InvalidRequest("blur sigma must be > 0 (got " + std::to_string(sigma) + ")");
    auto x = torch::linspace(-(k - 1) / 2.0, (k - 1) / 2.0, k, torch::kFloat64);
    auto g = torch::exp(-0.5 * (x / sigma).pow(2));
    return (g / g.sum()).to(torch::kFloat32);
}

namespace {
// Reflect padding that also works when the pad exceeds the size (reflection repeated, as a
// kernel of 33 on a 28-pixel MNIST image needs): index map of a mirrored, periodic extension.
torch::Tensor reflect_indices(std::int64_t n, std::int64_t pad) {
    auto idx = torch::arange(-pad, n + pad, torch::kLong);
    if (n == 1) return torch::zeros_like(idx);
    const std::int64_t period = 2 * (n - 1);
    idx = torch::remainder(idx, period);
    return torch::where(idx >= n, period - idx, idx);
}
}  // namespace

torch::Tensor gaussian_blur(const torch::Tensor& x, int k, double sigma) {
    if (x.dim() != 4) throw InvalidRequest("gaussian_blur expects an NCHW tensor");
    auto kernel = gaussian_kernel1d(k, sigma).to(x.dtype()).to(x.device());
    const auto c = x.size(1);
    const int pad = k / 2;
    auto rows = reflect_indices(x.size(2), pad).to(x.device());
    auto cols = reflect_indices(x.size(3), pad).to(x.device());
    auto padded = x.index_select(2, rows).index_select(3, cols);
    auto kv = kernel.view({1, 1, k, 1}).expand({c, 1, k, 1}).contiguous();
    auto kh = kernel.view({1, 1, 1, k}).expand({c, 1, 1, k}).contiguous();
    auto y = F::conv2d(padded, kv, F::Conv2dFuncOptions().groups(c));
    return F::conv2d(y, kh, F::Conv2dFuncOptions().groups(c));
}

}  // namespace ds::diffusion
