#include "core/diffusion/schedule.h"

#include <cmath>

#include <torch/torch.h>

#include "core/engine/errors.h"

namespace ds::diffusion {

namespace {
Schedule from_betas(torch::Tensor betas) {
    Schedule s;
    s.betas = betas;
    s.alphas = 1.0 - betas;
    s.alpha_bars = torch::cumprod(s.alphas, 0);
    return s;
}
}  // namespace

Schedule linear_schedule(int timesteps, double beta1, double beta2) {
    if (timesteps < 2) throw InvalidRequest("DDPM needs at least 2 timesteps");
    if (!(beta1 > 0 && beta2 < 1 && beta1 <= beta2))
        throw InvalidRequest("DDPM betas must satisfy 0 < beta1 <= beta2 < 1");
    return from_betas(torch::linspace(beta1, beta2, timesteps, torch::kFloat32));
}

Schedule cosine_schedule(int timesteps, double max_beta) {
    auto abar = [](double s) {
        double c = std::cos((s + 0.008) / 1.008 * M_PI / 2);
        return c * c;
    };
    auto betas = torch::empty({timesteps}, torch::kFloat64);
    auto* b = betas.data_ptr<double>();
    for (int i = 0; i < timesteps; ++i) {
        double t1 = double(i) / timesteps, t2 = double(i + 1) / timesteps;
        b[i] = std::min(1.0 - abar(t2) / abar(t1), max_beta);
    }
    // diffusers builds betas in float64 and stores them as float32, then does the cumprod in fp32.
    return from_betas(betas.to(torch::kFloat32));
}

std::vector<std::int64_t> strided_timesteps(std::int64_t start, std::int64_t stride) {
    if (start < 0 || stride <= 0) throw InvalidRequest("strided timesteps need start >= 0, stride > 0");
    std::vector<std::int64_t> ts;
    for (std::int64_t t = start; t >= 0; t -= stride) ts.push_back(t);
    return ts;
}

void check_timesteps(const std::vector<std::int64_t>& ts, int num_timesteps) {
    if (ts.empty()) throw InvalidRequest("the timestep list is empty");
    for (size_t i = 0; i < ts.size(); ++i) {
        if (ts[i] < 0 || ts[i] >= num_timesteps)
            throw InvalidRequest("timestep " + std::to_string(ts[i]) + " is outside [0, " +
                                 std::to_string(num_timesteps) + ")");
        if (i && ts[i] >= ts[i - 1])
            throw InvalidRequest("timesteps must strictly decrease (" + std::to_string(ts[i - 1]) +
                                 " is followed by " + std::to_string(ts[i]) + ")");
    }
}

std::vector<std::int64_t> leading_timesteps(int T, int n) {
    if (n < 1 || n > T)
        throw InvalidRequest("the number of steps must be in 1.." + std::to_string(T) + " (got " + std::to_string(n) + ")");
    const std::int64_t ratio = T / n;
    std::vector<std::int64_t> ts;
    for (std::int64_t i = n - 1; i >= 0; --i) ts.push_back(i * ratio);
    return ts;
}

}  // namespace ds::diffusion
