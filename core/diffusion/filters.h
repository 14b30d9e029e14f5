#pragma once
// Gaussian blur with torchvision's gaussian_blur semantics (separable kernel
// exp(-x^2 / 2 sigma^2) on x = -(k-1)/2 .. (k-1)/2, normalised; reflect padding), and the low-/
// high-pass split of factorized diffusion (hybrid images, course §2.10).
#include <torch/types.h>

namespace ds::diffusion {

// Normalised 1-D kernel of odd size k.
torch::Tensor gaussian_kernel1d(int kernel_size, double sigma);
// Blurs every channel of an NCHW tensor. Throws InvalidRequest for an even or non-positive
// kernel or sigma <= 0. Kernels larger than the image are fine (reflection is repeated).
torch::Tensor gaussian_blur(const torch::Tensor& x, int kernel_size, double sigma);
inline torch::Tensor lowpass(const torch::Tensor& x, int k, double s) { return gaussian_blur(x, k, s); }
inline torch::Tensor highpass(const torch::Tensor& x, int k, double s) { return x - gaussian_blur(x, k, s); }

}  // namespace ds::diffusion
