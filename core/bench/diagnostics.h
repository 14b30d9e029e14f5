#pragma once
// Diagnostics and benchmarks, outside the production facade (ds::Engine): `dstudio debug t5|unet`
// (outputs to compare with the reference implementations) and `dstudio bench` (speed, JSON).
#include <string>

#include "core/engine/engine.h"
#include "core/engine/requests.h"

namespace ds::diagnostics {

// T5 tokens and last_hidden_state of a prompts JSON list, as IF's encode_prompt computes them.
void debug_t5(const DebugT5Request& request);
// An IF UNet's outputs for every case{i}. of a cases file.
void debug_unet(const DebugUnetRequest& request);
// The benchmarks of docs/performance.md; JSON text. `options`: threads and device.
std::string bench(const BenchRequest& request, const EngineOptions& options);

}  // namespace ds::diagnostics
