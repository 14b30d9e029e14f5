#include "core/diffusion/iterative.h"

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/diffusion/schedule.h"

namespace ds::diffusion {

namespace {
// Step coefficients computed in the precision of the tensors they scale, in diffusers' order of
// operations: with float32 iterates this reproduces DDPMScheduler.step to the last bits (its
// 1 - abar_t / abar_prev loses digits near t = 0, and matching that matters for parity).
struct Coefficients {
    double sqrt_one_minus_abar, sqrt_abar;  // of abar_t
    double c0, ct;                          // mean = c0 x0 + ct x_t
    double beta, posterior;                 // current beta and posterior variance
};

template <typename F>
Coefficients coefficients_as(double abar_t, double abar_prev) {
    const F ab = F(abar_t), abp = F(abar_prev);
    const F bp = F(1) - ab, bpp = F(1) - abp;
    const F alpha = ab / abp;
    const F beta = F(1) - alpha;
    return {std::sqrt(bp), std::sqrt(ab), std::sqrt(abp) * beta / bp, std::sqrt(alpha) * bpp / bp,
            beta, bpp / bp * beta};
}

Coefficients coefficients(const torch::Tensor& like, double abar_t, double abar_prev) {
    return like.scalar_type() == torch::kFloat64 ? coefficients_as<double>(abar_t, abar_prev)
                                                 : coefficients_as<float>(abar_t, abar_prev);
}
}  // namespace

torch::Tensor predict_x0(const torch::Tensor& x_t, const torch::Tensor& eps, double abar) {
    const auto c = coefficients(x_t, abar, 1.0);
    return (x_t - c.sqrt_one_minus_abar * eps) / c.sqrt_abar;
}

torch::Tensor forward_noise(const torch::Tensor& x0, const torch::Tensor& eps, double abar) {
    // In the iterate's precision, as diffusers' add_noise (abar ** 0.5 on a float32 tensor).
    const auto c = coefficients(x0, abar, 1.0);
    return c.sqrt_abar * x0 + c.sqrt_one_minus_abar * eps;
}

torch::Tensor limit_x0(const torch::Tensor& x0, const X0Options& o, std::pair<double, double> range) {
    if (o.mode == X0Clamp::None) return x0;
    if (o.mode == X0Clamp::Clip) return x0.clamp(range.first, range.second);
    if (!(o.ratio > 0 && o.ratio <= 1) || !(o.sample_max >= 1))
        throw InvalidRequest("dynamic thresholding needs 0 < ratio <= 1 and sample_max >= 1");
    // Centre the data range on [-1, 1], threshold as diffusers' _threshold_sample, map back.
    const double mid = 0.5 * (range.first + range.second), half = 0.5 * (range.second - range.first);
    auto y = ((x0 - mid) / half).to(torch::kFloat32);
    const auto n = y.size(0);
    auto s = torch::quantile(y.abs().reshape({n, -1}), o.ratio, 1);
    s = s.clamp(1.0, o.sample_max).reshape({n, 1, 1, 1});
    y = torch::max(torch::min(y, s), -s) / s;
    return (y * half + mid).to(x0.scalar_type());
}

StepMeans step_mean(const torch::Tensor& x_t, const torch::Tensor& eps, double abar_t,
                    double abar_prev, const X0Options& x0_options, std::pair<double, double> range) {
    auto x0 = limit_x0(predict_x0(x_t, eps, abar_t), x0_options, range);
    const auto c = coefficients(x_t, abar_t, abar_prev);
    return {c.c0 * x0 + c.ct * x_t, x0};
}

torch::Tensor step_log_variance(VarianceMode mode, double abar_t, double abar_prev,
                                const torch::Tensor& variance, const torch::Tensor& like) {
    const auto c = coefficients(like, abar_t, abar_prev);
    const double beta = c.beta;
    // diffusers clamps the posterior variance at 1e-20 so its log stays finite at t' = -1.
    const double posterior = std::max(c.posterior, 1e-20);
    switch (mode) {
        case VarianceMode::Beta: return torch::full_like(like, std::log(beta));
        case VarianceMode::Posterior: return torch::full_like(like, std::log(posterior));
        case VarianceMode::None: return torch::full_like(like, -INFINITY);
        case VarianceMode::Auto:
            throw std::logic_error("VarianceChoice::Auto reached the sampler unresolved");
        case VarianceMode::Learned: {
            if (!variance.defined())
                throw InvalidRequest("learned variance requested but the model has no variance "
                                     "channels; use the beta or posterior variance");
            // Computed in float32 like diffusers: frac in [0,1] blends log beta and log posterior.
            auto frac = (variance.to(torch::kFloat32) + 1.0) / 2.0;
            return frac * float(std::log(beta)) + (1.0 - frac) * float(std::log(posterior));
        }
    }
    return {};
}

StepMeans ddpm_step(const torch::Tensor& x_t, const Prediction& p, std::int64_t t, double abar_t,
                    double abar_prev, VarianceMode variance, const X0Options& x0_options,
                    std::pair<double, double> range, const torch::Tensor& noise) {
    StepMeans m = step_mean(x_t, p.eps, abar_t, abar_prev, x0_options, range);
    if (t > 0 && variance != VarianceMode::None && noise.defined()) {
        auto logvar = step_log_variance(variance, abar_t, abar_prev, p.variance, x_t);
        m.mean = m.mean + torch::exp(0.5 * logvar).to(x_t.scalar_type()) * noise;
    }
    return m;
}

torch::Tensor iterative_denoise(NoisePredictor& model, torch::Tensor x, const Conditioning& cond,
                                const IterativeOptions& o) {
    const auto& ts = o.timesteps;
    check_timesteps(ts, model.num_timesteps());
    const int n = static_cast<int>(ts.size());
    const int last = o.to_clean ? n : n - 1;  // number of step start indices
    if (o.i_start < 0 || o.i_start >= std::max(last, 1))
        throw InvalidRequest("i_start " + std::to_string(o.i_start) + " is outside [0, " +
                             std::to_string(std::max(last, 1) - 1) + "] for " + std::to_string(n) +
                             " timesteps");
    auto abars = model.alpha_bars().to(torch::kFloat64).contiguous();
    const double* ab = abars.data_ptr<double>();
    const int total = last - o.i_start;
    for (int i = o.i_start; i < last; ++i) {
        if (o.cancel && o.cancel->now()) throw Cancelled{};
        const std::int64_t t = ts[i];
        const std::int64_t t_next = i + 1 < n ? ts[i + 1] : -1;
        const double abar_t = ab[t];
        const double abar_prev = t_next >= 0 ? ab[t_next] : 1.0;
        Prediction p = model.predict(x, t, cond, o.guidance);
        // Noise on every step that starts above t = 0 (B.2's z = 0 on the final step).
        torch::Tensor z;
        if (t > 0 && o.variance != VarianceMode::None)
            z = o.noise ? o.noise(i - o.i_start, x)
                        : torch::randn(x.sizes(), o.generator, x.options());
        StepMeans m = ddpm_step(x, p, t, abar_t, abar_prev, o.variance, o.x0, model.value_range(), z);
        x = m.mean;
        if (o.after_step) o.after_step(x, t_next);
        if (o.on_step) {
            StepInfo info{i - o.i_start + 1, total, t, t_next, &x, &m.x0};
            o.on_step(info);
        }
    }
    return x;
}

}  // namespace ds::diffusion
