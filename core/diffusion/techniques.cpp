#include "core/diffusion/techniques.h"

#include <torch/torch.h>

#include "core/diffusion/schedule.h"
#include "core/engine/errors.h"

namespace ds::diffusion {

namespace {
constexpr int kCourseSteps = 33;  // 990..0 by 30: 33 strides, 34 entries
}

std::vector<std::int64_t> default_strided_timesteps(int T) {
    if (T < 2) throw InvalidRequest("a schedule needs at least 2 timesteps");
    const std::int64_t stride = std::max(1, T / kCourseSteps);
    const std::int64_t start = std::min<std::int64_t>(stride * kCourseSteps, T - 1);
    std::vector<std::int64_t> ts;
    for (std::int64_t t = start; t >= 0; t -= stride) ts.push_back(t);
    if (ts.back() != 0) ts.push_back(0);
    return ts;
}

torch::Tensor forward_at(const NoisePredictor& model, const torch::Tensor& x0, std::int64_t t,
                         const torch::Tensor& eps) {
    if (t < 0 || t >= model.num_timesteps())
        throw InvalidRequest("timestep " + std::to_string(t) + " is outside 0.." +
                             std::to_string(model.num_timesteps() - 1));
    return forward_noise(x0, eps, model.alpha_bars()[t].item<double>());
}

torch::Tensor one_step_x0(NoisePredictor& model, const torch::Tensor& x_t, std::int64_t t,
                          const Conditioning& cond, double guidance) {
    if (t < 0 || t >= model.num_timesteps())
        throw InvalidRequest("timestep " + std::to_string(t) + " is outside 0.." +
                             std::to_string(model.num_timesteps() - 1));
    auto p = model.predict(x_t, t, cond, guidance);
    return predict_x0(x_t, p.eps, model.alpha_bars()[t].item<double>());
}

torch::Tensor sdedit(NoisePredictor& model, const torch::Tensor& x0, const torch::Tensor& eps,
                     const Conditioning& cond, const IterativeOptions& o) {
    check_timesteps(o.timesteps, model.num_timesteps());
    if (o.i_start < 0 || o.i_start >= static_cast<int>(o.timesteps.size()))
        throw InvalidRequest("i_start " + std::to_string(o.i_start) + " is outside 0.." +
                             std::to_string(o.timesteps.size() - 1));
    auto x = forward_at(model, x0, o.timesteps[o.i_start], eps);
    return iterative_denoise(model, x, cond, o);
}

torch::Tensor inpaint(NoisePredictor& model, const torch::Tensor& start, const torch::Tensor& x_orig,
                      const torch::Tensor& mask, const Conditioning& cond,
                      const IterativeOptions& options) {
    if (mask.dim() != 4 || mask.size(1) != 1 || mask.size(2) != x_orig.size(2) ||
        mask.size(3) != x_orig.size(3))
        throw InvalidRequest("the mask must be [N, 1, H, W] with the image's H and W");
    IterativeOptions o = options;
    auto gen = o.generator;
    auto user_hook = options.after_step;
    const auto m = mask.to(x_orig.dtype());
    o.after_step = [&, user_hook](torch::Tensor& x, std::int64_t t_next) {
        torch::Tensor known;
        if (t_next < 0) {
            known = x_orig;  // alpha_bar = 1: the original itself
        } else {
            auto z = torch::randn(x.sizes(), gen, x.options());
            known = forward_at(model, x_orig, t_next, z);
        }
        x = m * x + (1 - m) * known;
        if (user_hook) user_hook(x, t_next);
    };
    return iterative_denoise(model, start, cond, o);
}

}  // namespace ds::diffusion
