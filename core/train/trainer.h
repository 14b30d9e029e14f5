#pragma once
// Training loops for every Part B model (denoiser, DDPM, flow matching, classifier): Adam,
// optional per-epoch ExponentialLR, atomic checkpoints (model + optimizer + RNG + progress in one
// safetensors file), resume, per-step metrics (JSONL) and fixed-noise sample grids per epoch.
#include <cstdint>
#include <string>

#include "core/engine/requests.h"
#include "core/models/model_store.h"

namespace ds::models {
struct LoadedModel;
}
namespace ds::data {
struct MnistSplit;
}

namespace ds::train {

// The request with every course default filled in (course_spec §3.3, §3.5, §3.6).
TrainRequest with_defaults(const TrainRequest& request);
// Throws InvalidRequest for out-of-range hyperparameters (after defaults).
void validate(const TrainRequest& request);

TrainResult run_training(const TrainRequest& request, const std::string& data_dir);

// Re-estimates every BatchNorm's running statistics for the model's current weights: `batches`
// forward passes in train mode without gradients over noisy training inputs drawn as in training
// (own generator from `seed`; class models with p_uncond 0.1, denoisers with the spec's sigma or pure noise), averaged with equal weight. For a
// weight average (EMA), whose activations the raw run's running statistics do not describe.
void recalibrate_batchnorm(models::LoadedModel& model, const data::MnistSplit& data, int batches,
                           int batch_size, std::uint64_t seed);
// Batches of 128 used for the weight average's statistics at each epoch end and by export.
inline constexpr int kEmaBnBatches = 50;
// Default wall time between checkpoints inside an epoch (--checkpoint-minutes): a kill, a crash or
// a power cut loses at most this much work.
inline constexpr double kDefaultCheckpointMinutes = 5;

// Scope of a --precision bf16 forward: CPU autocast to bf16 (convolutions, linear layers and
// matrix products; the weights, their gradients and Adam stay fp32). Does nothing when `on` is
// false. Autocast state is per thread.
class AutocastBf16 {
public:
    explicit AutocastBf16(bool on);
    ~AutocastBf16();
    AutocastBf16(const AutocastBf16&) = delete;
    AutocastBf16& operator=(const AutocastBf16&) = delete;

private:
    bool on_;
};

// Files inside a run folder.
inline constexpr const char* kCheckpointFile = models::kRunCheckpointFile;
inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kRecipeFile = "recipe.json";

}  // namespace ds::train
