#pragma once
// Flow matching (course_spec §3.6): x_t = (1 - t) x0 + t x1 with x0 noise (t = 0) and x1 data
// (t = 1); the UNet predicts the velocity x1 - x0. Sampling is Euler from t = 0 to 1.
#include <functional>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "core/engine/cancel.h"
#include "core/models/model_store.h"

namespace ds::diffusion {

struct FlowStepInfo {
    int step = 0;  // 1-based
    int total = 0;
    double t = 0;  // time reached after the step
    const torch::Tensor* x = nullptr;
    const torch::Tensor* x1_hat = nullptr;  // x + (1 - t_i) v: the clean-image estimate
};

struct FlowOptions {
    int steps = 50;
    double guidance = 5.0;
    std::vector<int> labels;  // class models: one per sample (-1 = unconditional)
    const CancelToken* cancel = nullptr;
    std::function<void(const FlowStepInfo&)> on_step;
};

// x0: the starting noise [N,C,H,W]. Returns the sample at t = 1.
torch::Tensor flow_sample(models::LoadedModel& model, torch::Tensor x0, const FlowOptions& options);

}  // namespace ds::diffusion
