#pragma once
// Runs the Part A requests of the engine facade: validates them, opens the noise predictor,
// prepares input images and masks, streams frames and progress, and composes the labelled
// figures and recipes. The algorithms themselves live in techniques.h / combined_predictors.h.
#include <functional>
#include <memory>
#include <string>

#include "core/diffusion/noise_predictor.h"
#include "core/engine/part_a_requests.h"
#include "core/diffusion/if_predictor.h"
#include "core/models/model_cache.h"
#include "core/models/model_registry.h"
#include "core/models/weight_loading.h"

namespace ds::diffusion {

// The noise predictor a model string names. Throws InvalidRequest for models that do not predict
// noise (flow matching, the single-step denoiser, the classifier), ModelLoadError for bad files.
// Where models and datasets come from.
struct RunContext {
    models::ModelRegistry* registry = nullptr;
    std::string data_dir;  // for dataset images given as "mnist:test:INDEX"
    // DeepFloyd IF weights and arithmetic (--dtype): resolved on first use, so MNIST requests never
    // pay for measuring "auto" for IF (about half a second).
    std::function<models::Precision()> resolve_if_precision;
    models::Precision if_precision() const { return resolve_if_precision ? resolve_if_precision() : models::Precision(); }
    models::Precision mnist_precision;  // the MNIST models' arithmetic (--dtype; fp16 runs as fp32)
    models::ModelCache* cache = nullptr;  // the engine's loaded IF models (required for IF folders)
    // The request's: loading a large model reports progress ("loading ...", percent done) and
    // stops when the request is cancelled.
    const Callbacks* callbacks = nullptr;
    const CancelToken* cancel = nullptr;
};

std::unique_ptr<NoisePredictor> open_predictor(const RunContext& ctx, const std::string& model);

// A DeepFloyd IF stage I or II folder (unet/, and for stage I text_encoder/, tokenizer/). The
// UNet comes from ctx.cache (loaded at the first prediction if absent, after the prompts are
// encoded); the prompt encoder frees the text encoder after each use.
std::unique_ptr<IfNoisePredictor> open_if_predictor(const RunContext& ctx, const std::string& dir, bool stage2 = false);

// Before anything of a DeepFloyd IF run loads: refuses (ModelLoadError) when the largest model it
// will load (the text encoder when `prompts` are not all cached, stage I, stage II) does not fit
// in the memory available plus what ctx.cache may free, naming each model's size; models are
// loaded, used and freed one at a time, so the peak is the largest of them.
void check_if_memory(const RunContext& ctx, const std::string& stage1_dir, const std::string& stage2_dir,
                     const std::vector<std::string>& prompts);

PartAResult run_explore(const RunContext& context, const NoiseExplorerRequest& request);
PartAResult run_iterate(const RunContext& context, const IterateRequest& request);
PartAResult run_sdedit(const RunContext& context, const SdeditRequest& request);
PartAResult run_inpaint(const RunContext& context, const InpaintRequest& request);
PartAResult run_anagram(const RunContext& context, const AnagramRequest& request);
PartAResult run_hybrid(const RunContext& context, const HybridRequest& request);
PartAResult run_denoise(const RunContext& context, const DenoiseRequest& request);

}  // namespace ds::diffusion
