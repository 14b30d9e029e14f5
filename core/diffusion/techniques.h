#pragma once
// The Part A techniques at tensor level, on any NoisePredictor (course_spec §2). The engine's
// The Part A jobs (core/jobs/*.cpp) turn requests into calls of these.
#include <cstdint>
#include <vector>

#include "core/diffusion/iterative.h"
#include "core/diffusion/noise_predictor.h"

namespace ds::diffusion {

// The course's strided list scaled to T: stride T/33 from 33*stride down to 0 (34 entries;
// IF T=1000: 990, 960, ..., 0; MNIST T=300: 297, 288, ..., 0).
std::vector<std::int64_t> default_strided_timesteps(int num_timesteps);

// A.2 at timestep t: sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.
torch::Tensor forward_at(const NoisePredictor& model, const torch::Tensor& x0, std::int64_t t,
                         const torch::Tensor& eps);

// One-step estimate x0 = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t) (course 1.3).
torch::Tensor one_step_x0(NoisePredictor& model, const torch::Tensor& x_t, std::int64_t t,
                          const Conditioning& cond, double guidance);

// SDEdit: x = forward(x0, timesteps[i_start], eps), then iterative denoising from i_start.
torch::Tensor sdedit(NoisePredictor& model, const torch::Tensor& x0, const torch::Tensor& eps,
                     const Conditioning& cond, const IterativeOptions& options);

// RePaint inpainting (A.5): start from `start` (pure noise for i_start = 0, else x_orig noised to
// timesteps[i_start] by the caller); after every step x <- m x + (1 - m) forward(x_orig, t') with
// fresh noise from options.generator; after the clean step (t' = -1) the kept region is x_orig
// exactly. `mask` [1 or N, 1, H, W] in [0, 1], 1 = generate. Chains options.after_step.
torch::Tensor inpaint(NoisePredictor& model, const torch::Tensor& start, const torch::Tensor& x_orig,
                      const torch::Tensor& mask, const Conditioning& cond,
                      const IterativeOptions& options);

}  // namespace ds::diffusion
