#pragma once
// Iterative denoising over a decreasing timestep list (course A.3; with the full list T-1..0 it
// is DDPM sampling, Algorithm B.2). Each step goes from t = ts[i] to t' = ts[i+1] (or to the
// clean image, alpha_bar' = 1, after the last entry when `to_clean` is set).
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "core/diffusion/noise_predictor.h"
#include "core/engine/cancel.h"
#include "core/engine/part_a_requests.h"

namespace ds::diffusion {

// The step variance: the request's own enum, ds::VarianceChoice, with Auto resolved by the job
// before sampling (learned where the model has variance channels, else posterior).
// Beta: sigma^2 = beta_t (course B.2); Posterior: sigma^2 = (1 - abar_t') / (1 - abar_t) * beta_t
// (DDPM eq. 7); Learned: the learned range between the two, from the model's variance channels;
// None: deterministic.
using VarianceMode = VarianceChoice;

// What happens to the x0 estimate before the update (diffusers DDPMScheduler semantics, applied
// in the model's value range mapped to [-1, 1]): the request's own enum, ds::X0Limit
// (None: the course loop; Clip: clamp to the value range, diffusers clip_sample; Dynamic:
// dynamic thresholding, Imagen and IF's scheduler config).
using X0Clamp = X0Limit;
struct X0Options {
    X0Clamp mode = X0Clamp::None;
    double ratio = 0.95;       // dynamic: quantile of |x0| per sample (IF config 0.95)
    double sample_max = 1.5;   // dynamic: upper bound of the threshold s (IF stage I 1.5)
};
// Applies `options` to x0 (batch-first) whose data range is `range`.
torch::Tensor limit_x0(const torch::Tensor& x0, const X0Options& options,
                       std::pair<double, double> range);

// One A.3 update with given eps, without the noise term. Also returns the x0 estimate.
struct StepMeans {
    torch::Tensor mean;
    torch::Tensor x0;
};
StepMeans step_mean(const torch::Tensor& x_t, const torch::Tensor& eps, double abar_t,
                    double abar_prev, const X0Options& x0_options, std::pair<double, double> range);

// log sigma^2 of the step t -> t' (learned-range formula when `variance` is defined and mode is
// Learned; else the fixed value broadcast to x's shape).
torch::Tensor step_log_variance(VarianceMode mode, double abar_t, double abar_prev,
                                const torch::Tensor& variance, const torch::Tensor& like);

// One full step t -> t' with the given variance noise (added only when t > 0, as diffusers'
// DDPMScheduler.step does; `noise` undefined = deterministic). Returns {x_t', x0}.
StepMeans ddpm_step(const torch::Tensor& x_t, const Prediction& prediction, std::int64_t t,
                    double abar_t, double abar_prev, VarianceMode variance,
                    const X0Options& x0_options, std::pair<double, double> range,
                    const torch::Tensor& noise);

// x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)
torch::Tensor predict_x0(const torch::Tensor& x_t, const torch::Tensor& eps, double abar);

// x_t = sqrt(abar) x0 + sqrt(1 - abar) eps (A.2)
torch::Tensor forward_noise(const torch::Tensor& x0, const torch::Tensor& eps, double abar);

struct StepInfo {
    int step = 0;            // 1-based
    int total = 0;
    std::int64_t t = 0;      // timestep the step started from
    std::int64_t t_next = 0; // -1 = clean
    const torch::Tensor* x = nullptr;   // new iterate
    const torch::Tensor* x0 = nullptr;  // clean estimate used by the step
};

struct IterativeOptions {
    std::vector<std::int64_t> timesteps;  // strictly decreasing, inside [0, T)
    int i_start = 0;                      // first index of `timesteps` to step from
    bool to_clean = true;                 // also step from the last entry to alpha_bar = 1
    VarianceMode variance = VarianceMode::Beta;
    X0Options x0;                         // clipping / dynamic thresholding of x0 (default off)
    double guidance = 1.0;
    at::Generator generator;              // noise source (CPU generator for device-independence)
    // Replaces the generator's variance noise (tests feed the fixtures' noise): step index
    // (0-based from i_start) and a tensor shaped like x.
    std::function<torch::Tensor(int, const torch::Tensor&)> noise;
    const CancelToken* cancel = nullptr;  // checked before every step; Now -> throws Cancelled
    std::function<void(const StepInfo&)> on_step;
    // Called after each update with the new iterate and the timestep it is at (t_next); may
    // replace it (inpainting). Runs before on_step.
    std::function<void(torch::Tensor& x, std::int64_t t_next)> after_step;
};

torch::Tensor iterative_denoise(NoisePredictor& model, torch::Tensor x, const Conditioning& cond,
                                const IterativeOptions& options);

}  // namespace ds::diffusion
