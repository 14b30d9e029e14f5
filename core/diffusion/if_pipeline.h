#pragma once
// IF text-to-image as diffusers' IFPipeline / IFSuperResolutionPipeline run it, on top of the
// shared sampler: stage I 64 px from pure noise on `leading` timesteps with CFG, learned variance
// and dynamic thresholding (sample_max 1.5); optional stage II 256 px conditioned on the noised,
// upscaled stage I image (noise level 250, thresholding max 1.0).
#include "core/diffusion/part_a_runner.h"

namespace ds::diffusion {

PartAResult run_if_generate(const RunContext& context, const IfGenerateRequest& request);

}  // namespace ds::diffusion
