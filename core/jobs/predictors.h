#pragma once
// Opens the noise predictor a model string names, through the engine's registry and cache.
#include <memory>
#include <string>
#include <vector>

#include "core/diffusion/if_predictor.h"
#include "core/diffusion/noise_predictor.h"
#include "core/jobs/context.h"

namespace ds::jobs {

// Throws InvalidRequest for models that do not predict noise (the single-step denoiser, the
// classifier), ModelLoadError for bad files. Flow-matching models are opened through the
// predictor adapter (core/diffusion/mnist_predictor.h).
std::unique_ptr<diffusion::NoisePredictor> open_predictor(const RunContext& ctx, const std::string& model);

// A DeepFloyd IF stage I or II folder (unet/, and for stage I text_encoder/, tokenizer/). The
// UNet comes from ctx.cache (loaded at the first prediction if absent, after the prompts are
// encoded); the prompt encoder frees the text encoder after each use.
std::unique_ptr<diffusion::IfNoisePredictor> open_if_predictor(const RunContext& ctx, const std::string& dir,
                                                                bool stage2 = false);

// Before anything of a DeepFloyd IF run loads: refuses (ModelLoadError) when the largest model it
// will load (the text encoder when `prompts` are not all cached, stage I, stage II) does not fit
// in the memory available plus what ctx.cache may free, naming each model's size; models are
// loaded, used and freed one at a time, so the peak is the largest of them.
void check_if_memory(const RunContext& ctx, const std::string& stage1_dir, const std::string& stage2_dir,
                     const std::vector<std::string>& prompts);

}  // namespace ds::jobs
