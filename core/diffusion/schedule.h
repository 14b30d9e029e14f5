#pragma once
// Noise schedules. Tensors are float32 [T], index t = 0..T-1 (0-based; t = 0 is the least noisy).
#include <torch/types.h>

namespace ds::diffusion {

struct Schedule {
    torch::Tensor betas;       // beta_t
    torch::Tensor alphas;      // 1 - beta_t
    torch::Tensor alpha_bars;  // prod_{s<=t} alpha_s
    int size() const { return static_cast<int>(betas.size(0)); }
};

// Course DDPM (fa24): betas = linspace(beta1, beta2, T) in float32, alpha_bars = cumprod.
Schedule linear_schedule(int timesteps, double beta1 = 1e-4, double beta2 = 0.02);

// DeepFloyd IF's squaredcos_cap_v2: alpha_bar(s) = cos^2(((s+0.008)/1.008) pi/2),
// beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), 0.999), computed in float64 -> float32.
Schedule cosine_schedule(int timesteps = 1000, double max_beta = 0.999);

// Evenly strided decreasing list start, start-stride, ..., down to >= 0 (e.g. 990..0 by 30).
std::vector<std::int64_t> strided_timesteps(std::int64_t start, std::int64_t stride);

// diffusers' set_timesteps(n) with "leading" spacing (IF's configs): ratio = T / n (integer),
// [(n-1) ratio, ..., ratio, 0]; e.g. T = 1000, n = 20 -> 950, 900, ..., 0.
std::vector<std::int64_t> leading_timesteps(int num_timesteps, int steps);
// Throws InvalidRequest unless `ts` is non-empty, strictly decreasing and inside [0, T).
void check_timesteps(const std::vector<std::int64_t>& ts, int num_timesteps);

}  // namespace ds::diffusion
