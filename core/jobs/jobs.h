#pragma once
// The jobs behind the engine facade, one file per verb (core/jobs/*.cpp). Private to the engine:
// core/jobs/engine.cpp validates the engine's own state and dispatches; each job validates its
// request, loads through the context, runs the algorithms of core/diffusion and reports through
// one Reporter (core/jobs/reporter.h). A stop lands as Cancelled thrown by the sampler or a model
// load; the facade turns it into Outcome::Cancelled for every Part A job (Engine::Impl::run_part_a),
// so the jobs let it pass.
#include "core/engine/part_a_requests.h"
#include "core/engine/requests.h"
#include "core/jobs/context.h"

namespace ds::jobs {

SampleResult sample(const RunContext& ctx, const SampleRequest& request);
EvalResult evaluate(const RunContext& ctx, const EvalRequest& request);
DenoiseSweepResult denoise_sweep(const RunContext& ctx, const DenoiseSweepRequest& request);
void plot_losses(const LossPlotRequest& request);
void export_model(const RunContext& ctx, const ExportRequest& request);

PartAResult explore(const RunContext& ctx, const NoiseExplorerRequest& request);
PartAResult iterate(const RunContext& ctx, const IterateRequest& request);
PartAResult sdedit(const RunContext& ctx, const SdeditRequest& request);
PartAResult inpaint(const RunContext& ctx, const InpaintRequest& request);
PartAResult anagram(const RunContext& ctx, const AnagramRequest& request);
PartAResult hybrid(const RunContext& ctx, const HybridRequest& request);
PartAResult denoise(const RunContext& ctx, const DenoiseRequest& request);
PartAResult if_generate(const RunContext& ctx, const IfGenerateRequest& request);

}  // namespace ds::jobs
