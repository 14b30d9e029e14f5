// Part B generation (the facade's sample): DDPM sampling, flow-matching Euler steps or the
// denoiser on pure noise, for any bundled model or run folder; a grid, the samples, a recipe.
#include "core/jobs/jobs.h"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/diffusion/generate.h"
#include "core/engine/errors.h"
#include "core/io/safetensors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/reporter.h"

namespace ds::jobs {

SampleResult sample(const RunContext& ctx, const SampleRequest& r) {
    const auto start = std::chrono::steady_clock::now();
    if (!(r.guidance >= 0 && r.guidance <= 100)) throw InvalidRequest("guidance must be in [0, 100]");
    if (r.steps < 0 || r.steps > 100000) throw InvalidRequest("steps must be in 0..100000");
    if (r.count < 0 || r.per_class < 0 || r.per_class > 1000)
        throw InvalidRequest("count and per_class must be >= 0 (per_class <= 1000)");
    auto model = ctx.load_for_inference(r.model);
    const auto& spec = model.spec;
    if (spec.kind == ModelKind::Classifier)
        throw InvalidRequest("'" + r.model + "' is a classifier; it cannot sample images");
    if (r.posterior_variance && !spec.is_ddpm())  // a flag that would change nothing is refused
        throw InvalidRequest("--posterior-variance applies to DDPM models; '" + r.model + "' is a " +
                             to_string(spec.kind) + " model");
    if (!model.warning.empty() && r.callbacks.on_log) r.callbacks.on_log(LogLevel::Warning, model.warning);

    diffusion::GenerateOptions g;
    g.guidance = r.guidance;
    g.steps = r.steps;
    g.seed = r.seed;
    g.posterior_variance = r.posterior_variance;
    g.cancel = &r.cancel;
    int columns = r.grid_columns;
    if (spec.is_class_conditioned()) {
        g.labels = r.labels;
        if (g.labels.empty()) {
            const int k = r.per_class > 0 ? r.per_class : (r.count > 0 ? 0 : 4);
            if (k > 0) {
                for (int i = 0; i < k; ++i)
                    for (int c = 0; c < spec.num_classes; ++c) g.labels.push_back(c);
                if (columns <= 0) columns = spec.num_classes;
            } else {
                for (int i = 0; i < r.count; ++i) g.labels.push_back(i % spec.num_classes);
            }
        }
        for (int l : g.labels)
            if (l < -1 || l >= spec.num_classes)
                throw InvalidRequest("class " + std::to_string(l) + " is not in 0.." +
                                     std::to_string(spec.num_classes - 1) + " (-1 = unconditional)");
    } else {
        if (!r.labels.empty() || r.per_class > 0)
            throw InvalidRequest("'" + r.model + "' is a " + to_string(spec.kind) +
                                 " model: it takes no class labels (use --count)");
        g.count = r.count > 0 ? r.count : 40;
    }
    const int n = g.labels.empty() ? g.count : static_cast<int>(g.labels.size());
    if (columns <= 0) columns = std::min(n, 10);
    Reporter rep(r.callbacks, "sample", 0, [columns](const torch::Tensor& x) { return io::tensor_grid(x, columns); },
                 start);
    g.on_step = [&rep](int step, int total, double t, const torch::Tensor& x, const torch::Tensor& x0) {
        rep.step(step, total, t, x, x0);
    };
    SampleResult result;
    torch::Tensor samples;
    try {
        samples = diffusion::generate(model, g);
    } catch (const Cancelled&) {
        result.outcome = Outcome::Cancelled;
        return result;
    }
    for (std::int64_t i = 0; i < samples.size(0); ++i) result.images.push_back(io::tensor_to_image(samples[i]));
    result.labels = g.labels.empty() ? std::vector<int>(n, -1) : g.labels;
    result.grid = io::tensor_grid(samples, columns);
    if (!r.raw_out.empty()) {
        std::vector<std::int64_t> lab(result.labels.begin(), result.labels.end());
        auto labels = torch::tensor(lab, torch::kLong);
        io::write_safetensors(r.raw_out, {{"samples", samples.contiguous()}, {"labels", labels}},
                              {{"model", r.model}, {"seed", std::to_string(r.seed)},
                               {"guidance", std::to_string(r.guidance)}});
    }
    nlohmann::json recipe = {{"format", "ds.recipe/1"}, {"technique", "part-b-sample"}, {"model", r.model},
                             {"seed", r.seed}, {"steps", r.steps}, {"count", n}, {"labels", result.labels}};
    if (spec.is_class_conditioned()) recipe["guidance"] = r.guidance;
    if (spec.is_ddpm()) recipe["posterior_variance"] = r.posterior_variance;
    // A bf16 result (--dtype bf16, or auto where bf16 measured faster) replays in bf16.
    if (const auto d = models::Precision(ctx.mnist_precision.cpu_compute()).name(); d != "fp32") recipe["dtype"] = d;
    result.recipe_json = recipe.dump(2);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace ds::jobs
