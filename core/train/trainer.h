#pragma once
// Training loops for every Part B model (denoiser, DDPM, flow matching, classifier): Adam,
// optional per-epoch ExponentialLR, atomic checkpoints (model + optimizer + RNG + progress in one
// safetensors file), resume, per-step metrics (JSONL) and fixed-noise sample grids per epoch.
#include <string>

#include "core/engine/requests.h"

namespace ds::train {

// The request with every course default filled in (course_spec §3.3, §3.5, §3.6).
TrainRequest with_defaults(const TrainRequest& request);
// Throws InvalidRequest for out-of-range hyperparameters (after defaults).
void validate(const TrainRequest& request);

TrainResult run_training(const TrainRequest& request, const std::string& data_dir);

// Files inside a run folder.
inline constexpr const char* kCheckpointFile = "checkpoint.safetensors";
inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kRecipeFile = "recipe.json";

}  // namespace ds::train
