#pragma once
// Runs the Part A requests of the engine facade: validates them, opens the noise predictor,
// prepares input images and masks, streams frames and progress, and composes the labelled
// figures and recipes. The algorithms themselves live in techniques.h / combined_predictors.h.
#include <memory>
#include <string>

#include "core/diffusion/noise_predictor.h"
#include "core/engine/part_a_requests.h"
#include "core/models/model_registry.h"

namespace ds::diffusion {

// The noise predictor a model string names. Throws InvalidRequest for models that do not predict
// noise (flow matching, the single-step denoiser, the classifier), ModelLoadError for bad files.
// Where models and datasets come from.
struct RunContext {
    models::ModelRegistry* registry = nullptr;
    std::string data_dir;  // for dataset images given as "mnist:test:INDEX"
    torch::ScalarType if_dtype = torch::kFloat32;  // DeepFloyd IF weights and compute
};

std::unique_ptr<NoisePredictor> open_predictor(models::ModelRegistry& registry,
                                               const std::string& model,
                                               torch::ScalarType if_dtype = torch::kFloat32);

// A DeepFloyd IF stage I folder (unet/, text_encoder/, tokenizer/), kept loaded between calls.
std::unique_ptr<NoisePredictor> open_if_predictor(const std::string& dir, torch::ScalarType dtype);

PartAResult run_explore(const RunContext& context, const NoiseExplorerRequest& request);
PartAResult run_iterate(const RunContext& context, const IterateRequest& request);
PartAResult run_sdedit(const RunContext& context, const SdeditRequest& request);
PartAResult run_inpaint(const RunContext& context, const InpaintRequest& request);
PartAResult run_anagram(const RunContext& context, const AnagramRequest& request);
PartAResult run_hybrid(const RunContext& context, const HybridRequest& request);

}  // namespace ds::diffusion
