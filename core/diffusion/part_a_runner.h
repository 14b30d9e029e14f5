#pragma once
// Runs the Part A requests of the engine facade: validates them, opens the noise predictor,
// prepares input images and masks, streams frames and progress, and composes the labelled
// figures and recipes. The algorithms themselves live in techniques.h / combined_predictors.h.
#include <memory>
#include <string>

#include "core/diffusion/noise_predictor.h"
#include "core/engine/part_a_requests.h"
#include "core/models/model_registry.h"
#include "core/models/weight_loading.h"

namespace ds::diffusion {

// The noise predictor a model string names. Throws InvalidRequest for models that do not predict
// noise (flow matching, the single-step denoiser, the classifier), ModelLoadError for bad files.
// Where models and datasets come from.
struct RunContext {
    models::ModelRegistry* registry = nullptr;
    std::string data_dir;  // for dataset images given as "mnist:test:INDEX"
    models::Precision if_precision;  // DeepFloyd IF weights and arithmetic (--dtype)
    models::Precision mnist_precision;  // the MNIST models' arithmetic (--dtype; fp16 runs as fp32)
};

std::unique_ptr<NoisePredictor> open_predictor(models::ModelRegistry& registry,
                                               const std::string& model,
                                               const models::Precision& if_precision = {},
                                               const models::Precision& mnist_precision = {});

// A DeepFloyd IF stage I folder (unet/, text_encoder/, tokenizer/), kept loaded between calls.
std::unique_ptr<NoisePredictor> open_if_predictor(const std::string& dir, const models::Precision& precision);

PartAResult run_explore(const RunContext& context, const NoiseExplorerRequest& request);
PartAResult run_iterate(const RunContext& context, const IterateRequest& request);
PartAResult run_sdedit(const RunContext& context, const SdeditRequest& request);
PartAResult run_inpaint(const RunContext& context, const InpaintRequest& request);
PartAResult run_anagram(const RunContext& context, const AnagramRequest& request);
PartAResult run_hybrid(const RunContext& context, const HybridRequest& request);
PartAResult run_denoise(const RunContext& context, const DenoiseRequest& request);

}  // namespace ds::diffusion
