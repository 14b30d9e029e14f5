// The single-step denoiser (course Part B 1.2): a noised input, its sigma sweep, pure noise.
#include "core/jobs/jobs.h"

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/session.h"
#include "core/diffusion/techniques.h"
#include "core/models/model_store.h"

namespace ds::jobs {

using namespace diffusion;

// ---------------------------------------------------------------------------------------------
// The single-step denoiser (course 1.2). Not a noise predictor, so the Session has no model; the
// image preparation, figure scaling, frames and recipe are those of the techniques above.
namespace {
struct DenoiseRun {
    Session ss;
    models::LoadedModel model;
    const DenoiseRequest& r;

    torch::Tensor apply(const torch::Tensor& z) { return model.unet->forward(z).to(torch::kFloat32); }
    void emit(const torch::Tensor& z, const torch::Tensor& d, int columns) {
        auto rep = ss.reporter(r.callbacks, "denoise", 1, columns);
        rep.step(1, 1, r.pure_noise ? -1.0 : r.sigma, z.clamp(0, 1), d.clamp(0, 1));
    }
};

DenoiseRun open_denoise(const RunContext& ctx, const DenoiseRequest& r) {
    auto check_sigma = [](double s) {
        if (!(s >= 0 && s <= kMaxDenoiseSigma))
            throw InvalidRequest("sigma must be in [0, " + std::to_string(int(kMaxDenoiseSigma)) + "]");
    };
    check_sigma(r.sigma);
    if (r.sweep.size() > std::size_t(2 * kMaxColumns))
        throw InvalidRequest("the sweep takes at most " + std::to_string(2 * kMaxColumns) + " sigma values");
    for (double s : r.sweep) check_sigma(s);
    if (r.count < 1 || r.count > kMaxCount) throw InvalidRequest("count must be in 1.." + std::to_string(kMaxCount));
    if (!r.pure_noise && r.input.empty()) throw InvalidRequest("the denoiser needs an input image (or pure-noise input)");
    DenoiseRun run{Session{}, ctx.load_for_inference(r.model), r};
    const auto& spec = run.model.spec;
    if (spec.kind != ModelKind::Denoiser)
        throw InvalidRequest("'" + r.model + "' is a " + to_string(spec.kind) +
                             " model; the Denoise mode needs a single-step denoiser (mnist-denoiser, or a run of "
                             "dstudio train --kind denoiser)");
    run.model.unet->eval();
    auto& ss = run.ss;
    if (!run.model.warning.empty()) ss.notes.push_back(run.model.warning);
    ss.data_dir = ctx.data_dir;
    ss.gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
    ss.range = {0.0, 1.0};
    ss.shape = {spec.in_channels, spec.image_size, spec.image_size};
    ss.scale = std::max(1, kFigurePixels / std::max(1, spec.image_size));
    ss.recipe = {{"format", "ds.recipe/1"}, {"technique", "denoise"},   {"model", r.model},
                 {"seed", r.seed},          {"sigma", r.sigma},         {"pure_noise", r.pure_noise},
                 {"sweep", r.sweep},        {"count", r.pure_noise ? r.count : 1}};
    if (const auto d = models::Precision(ctx.mnist_precision.cpu_compute()).name(); d != "fp32") ss.recipe["dtype"] = d;
    return run;
}

// Course 1.2.3: z = eps. A denoiser trained this way outputs the mean training image.
PartAResult denoise_pure_noise(DenoiseRun& run) {
    auto& ss = run.ss;
    const int n = run.r.count, columns = std::min(n, kMaxColumns);
    auto z = ss.noise(n);
    auto d = run.apply(z);
    if (run.r.cancel.now()) return cancelled(ss);
    run.emit(z, d, columns);
    PartAResult res;
    for (std::int64_t i = 0; i < d.size(0); ++i) res.images.push_back(io::tensor_to_image(d[i].clamp(0, 1)));
    res.panels = {{"noisy", ss.tile(z[0].clamp(0, 1))}, {"denoised", ss.tile(d[0].clamp(0, 1))}};
    res.figure = add_caption(add_row_labels(ss.grid(torch::cat({z.clamp(0, 1), d.clamp(0, 1)}, 0), columns),
                                            {"z = noise", "D(z)"}),
                             "pure-noise input, " + prompt_label(run.r.model));
    return finish(ss, std::move(res));
}
}  // namespace

PartAResult denoise(const RunContext& ctx, const DenoiseRequest& r) {
    c10::InferenceMode guard;
    DenoiseRun run = open_denoise(ctx, r);
    if (r.pure_noise) return denoise_pure_noise(run);
    auto& ss = run.ss;
    auto x = load_image(ss, r.input, "input");
    // One noise draw for the main result and every sweep column: the columns differ in sigma only.
    auto eps = ss.noise(1);
    auto z = x + r.sigma * eps;
    auto d = run.apply(z);
    if (r.cancel.now()) return cancelled(ss);
    run.emit(z, d, 1);
    PartAResult res;
    res.images.push_back(io::tensor_to_image(d[0].clamp(0, 1)));
    res.panels = {{"input", ss.tile(x[0])}, {"noisy", ss.tile(z[0].clamp(0, 1))}, {"denoised", ss.tile(d[0].clamp(0, 1))}};
    char buf[64];
    std::snprintf(buf, sizeof buf, "input | noisy, sigma %.2f | denoised", r.sigma);
    std::vector<Image> parts = {add_caption(ss.grid(torch::cat({x, z.clamp(0, 1), d.clamp(0, 1)}, 0), 3), buf)};
    if (!r.sweep.empty()) {  // course 1.2.2: the same digit and noise at every sigma
        std::vector<torch::Tensor> noisy;
        for (double s : r.sweep) noisy.push_back(x + s * eps);
        auto zs = torch::cat(noisy, 0).clamp(0, 1);
        auto out = run.apply(torch::cat(noisy, 0)).clamp(0, 1);
        if (r.cancel.now()) return cancelled(ss);
        std::string caption = "sigma:";
        for (std::size_t i = 0; i < r.sweep.size(); ++i) {
            std::snprintf(buf, sizeof buf, "%.2g", r.sweep[i]);
            caption += std::string(" ") + buf;
            res.panels.push_back({std::string("noisy sigma ") + buf, ss.tile(zs[std::int64_t(i)])});
            res.panels.push_back({std::string("denoised sigma ") + buf, ss.tile(out[std::int64_t(i)])});
        }
        auto grid = ss.grid(torch::cat({zs, out}, 0), int(r.sweep.size()));
        parts.push_back(add_caption(add_row_labels(grid, {"noisy", "denoised"}), caption));
    }
    res.figure = stack_vertical(parts);
    return finish(ss, std::move(res));
}

}  // namespace ds::jobs
