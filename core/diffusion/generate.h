#pragma once
// Unconditional / class-conditioned generation with any Part B model: DDPM sampling (B.2/B.4),
// flow-matching Euler sampling, or the denoiser applied to pure noise. Output in [0, 1].
#include <functional>
#include <vector>

#include <torch/types.h>

#include "core/engine/cancel.h"
#include "core/models/model_store.h"

namespace ds::diffusion {

struct GenerateOptions {
    int count = 0;                  // ignored when labels are given
    std::vector<int> labels;        // class models: one per sample
    double guidance = 5.0;
    int steps = 0;                  // DDPM: 0 = all T; FM: 0 = 50 (time) / 300 (class)
    bool posterior_variance = false;
    std::uint64_t seed = 0;
    const CancelToken* cancel = nullptr;
    // Every step: step (1-based), total, timestep (DDPM int t or FM time), x_t, x0 estimate (both
    // in the [0,1] display range; may be outside it).
    std::function<void(int, int, double, const torch::Tensor&, const torch::Tensor&)> on_step;
};

torch::Tensor generate(models::LoadedModel& model, const GenerateOptions& options);

// Default number of FM Euler steps for a kind (course wrappers: 50 time-only, 300 class).
int default_flow_steps(ModelKind kind);

}  // namespace ds::diffusion
