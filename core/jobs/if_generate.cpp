// DeepFloyd IF text-to-image as diffusers' IFPipeline / IFSuperResolutionPipeline run it, on top
// of the shared sampler: stage I 64 px from pure noise on `leading` timesteps with CFG, learned
// variance and dynamic thresholding (sample_max 1.5); optional stage II 256 px conditioned on the
// noised, upscaled stage I image (noise level 250, thresholding max 1.0).
#include "core/jobs/jobs.h"

#include <chrono>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/diffusion/if_predictor.h"
#include "core/diffusion/iterative.h"
#include "core/diffusion/schedule.h"
#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/predictors.h"
#include "core/jobs/reporter.h"
#include "core/models/if_config.h"

namespace ds::jobs {

using namespace diffusion;

namespace {
constexpr double kStage1SampleMax = 1.5;  // IF-I scheduler config
constexpr double kStage2SampleMax = 1.0;  // IF-II scheduler config (convert_if.py)
constexpr double kThresholdRatio = 0.95;
}  // namespace

PartAResult if_generate(const RunContext& ctx, const IfGenerateRequest& r) {
    c10::InferenceMode guard;
    const auto start = std::chrono::steady_clock::now();
    if (r.prompts.empty()) throw InvalidRequest("give at least one prompt");
    if (r.count < 1 || r.count > 16) throw InvalidRequest("count must be in 1..16 per prompt");
    if (r.steps < 1 || r.steps > 1000 || r.upscale_steps < 1 || r.upscale_steps > 1000)
        throw InvalidRequest("steps must be in 1..1000");
    if (!(r.guidance >= 0 && r.guidance <= 100) || !(r.upscale_guidance >= 0 && r.upscale_guidance <= 100))
        throw InvalidRequest("guidance must be in [0, 100]");
    if (r.noise_level < 0 || r.noise_level >= 1000) throw InvalidRequest("noise_level must be in [0, 1000)");
    for (const auto& dir : {r.weights, r.upscaler})
        if (!dir.empty() && !models::is_if_folder(dir))
            throw ModelLoadError("'" + dir + "' is not a diffusers IF folder (no unet/config.json)");
    if (r.weights.empty()) throw InvalidRequest("give the stage I IF folder (--weights)");

    std::vector<std::string> prompts;
    for (const auto& p : r.prompts)
        for (int k = 0; k < r.count; ++k) prompts.push_back(p);
    const auto n = static_cast<std::int64_t>(prompts.size());
    std::vector<std::string> all = r.prompts;
    all.push_back(r.negative_prompt);
    check_if_memory(ctx, r.weights, r.upscaler, all);  // before anything loads

    // One model in memory at a time when memory is short: the text encoder (freed after the
    // prompts), stage I (at its first step; kept in the engine's cache while memory allows),
    // stage II (stage I may be freed to make room). A second run reuses what is still loaded.
    auto stage1 = open_if_predictor(ctx, r.weights);
    Conditioning cond;
    try {
        cond = stage1->encode_prompts(prompts, r.negative_prompt);
    } catch (const Cancelled&) {
        PartAResult res;
        res.outcome = Outcome::Cancelled;
        return res;
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
    const auto shape = stage1->sample_shape();
    auto x = torch::randn({n, shape[0], shape[1], shape[2]}, gen, torch::kFloat32);

    const int total = r.steps + (r.upscaler.empty() ? 0 : r.upscale_steps);
    Reporter rep(r.callbacks, "stage I", total, [&r](const torch::Tensor& t) { return io::tensor_grid(t, r.count, -1, 1); },
                 start);
    auto report = [&](const StepInfo& s) {
        if (rep.done() == r.steps) rep.set_phase("stage II");
        rep.step(s.step, s.total, double(s.t_next), *s.x, *s.x0);
    };
    IterativeOptions o;
    o.timesteps = leading_timesteps(stage1->num_timesteps(), r.steps);
    o.variance = VarianceMode::Learned;
    o.x0 = {X0Clamp::Dynamic, kThresholdRatio, kStage1SampleMax};
    o.guidance = r.guidance;
    o.generator = gen;
    o.cancel = &r.cancel;
    o.on_step = report;
    PartAResult res;
    try {
        x = iterative_denoise(*stage1, x, cond, o);
        stage1.reset();  // the cache may free stage I if stage II needs the room
        if (!r.upscaler.empty()) {
            auto stage2_ptr = open_if_predictor(ctx, r.upscaler, /*stage2=*/true);
            IfNoisePredictor& stage2 = *stage2_ptr;
            const int size = stage2.config().sample_size;
            auto y = torch::randn({n, 3, size, size}, gen, torch::kFloat32);           // RNG draw #1
            auto up_noise = torch::randn({n, 3, size, size}, gen, torch::kFloat32);    // draw #2
            stage2.set_low_res(x, r.noise_level, up_noise);
            IterativeOptions o2 = o;
            o2.timesteps = leading_timesteps(stage2.num_timesteps(), r.upscale_steps);
            o2.x0.sample_max = kStage2SampleMax;
            o2.guidance = r.upscale_guidance;
            x = iterative_denoise(stage2, y, cond, o2);  // the stage I prompt embeddings
        }
    } catch (const Cancelled&) {
        res.outcome = Outcome::Cancelled;
        return res;
    }
    // NaN or Inf would quietly become black pixels in the image: say so (random or broken weights).
    if (const auto bad = (~torch::isfinite(x)).sum().item<std::int64_t>(); bad > 0)
        res.notes.push_back("the output has " + std::to_string(bad) + " non-finite values (NaN or Inf) of " +
                            std::to_string(x.numel()) + "; they are drawn black");
    for (std::int64_t i = 0; i < n; ++i) res.images.push_back(io::tensor_to_image(x[i], -1, 1));
    std::vector<std::string> labels;
    for (const auto& p : r.prompts) labels.push_back(p.size() > 40 ? p.substr(0, 37) + "..." : p);
    res.figure = add_row_labels(io::tensor_grid(x, r.count, -1, 1, 2, x.size(-1) < 128 ? 2 : 1), labels);
    nlohmann::json j = {{"format", "ds.recipe/1"}, {"technique", "if-generate"}, {"weights", r.weights},
                        {"upscaler", r.upscaler}, {"prompts", r.prompts}, {"negative_prompt", r.negative_prompt},
                        {"count", r.count}, {"steps", r.steps}, {"guidance", r.guidance},
                        {"upscale_steps", r.upscale_steps}, {"upscale_guidance", r.upscale_guidance},
                        {"noise_level", r.noise_level}, {"seed", r.seed}};
    if (ctx.if_precision().name() != "fp32") j["dtype"] = ctx.if_precision().name();  // fp32 left out, as before
    if (!ctx.if_precision().device.is_cpu()) j["device"] = ctx.if_precision().device.str();  // cpu left out
    res.recipe_json = j.dump(2);
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return res;
}

}  // namespace ds::jobs
