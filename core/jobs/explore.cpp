// The noise explorer (course 1.1-1.3): forward noising at a few timesteps, the Gaussian-blur
// baseline and the one-step estimate of the clean image.
#include "core/jobs/jobs.h"

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/session.h"
#include "core/diffusion/filters.h"
#include "core/diffusion/techniques.h"

namespace ds::jobs {

using namespace diffusion;

PartAResult explore(const RunContext& ctx, const NoiseExplorerRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "explore", 1.0);
    const int T = ss.model->num_timesteps();
    std::vector<std::int64_t> ts = r.t_list;
    if (ts.empty()) ts = {T / 4, T / 2, 3 * T / 4};
    for (auto t : ts)
        if (t < 0 || t >= T)
            throw InvalidRequest("timestep " + std::to_string(t) + " is outside 0.." + std::to_string(T - 1));
    gaussian_kernel1d(r.blur_kernel, r.blur_sigma);  // validate before any work
    auto x0 = load_image(ss, r.input, "input");
    auto cond = encode(ss, r.sampler.prompt, 1, r.sampler);
    ss.recipe["prompt"] = r.sampler.prompt;
    ss.recipe["t_list"] = ts;
    ss.recipe["blur"] = {{"kernel", r.blur_kernel}, {"sigma", r.blur_sigma}};
    std::vector<torch::Tensor> noisy, blurred, est;
    for (auto t : ts) {
        if (r.cancel.now()) return cancelled(ss);
        auto xt = forward_at(*ss.model, x0, t, ss.noise(1));
        noisy.push_back(xt);
        blurred.push_back(gaussian_blur(xt, r.blur_kernel, r.blur_sigma));
        est.push_back(one_step_x0(*ss.model, xt, t, cond, ss.guidance));
    }
    PartAResult res;
    auto row = [&](const std::vector<torch::Tensor>& v) { return torch::cat(v, 0); };
    auto blank = torch::full_like(x0, ss.range.first);
    std::vector<torch::Tensor> rows = {x0, row(noisy)};
    std::vector<std::string> labels = {"x_t"};
    char blur[64];
    std::snprintf(blur, sizeof blur, "blur k=%d s=%.3g", r.blur_kernel, r.blur_sigma);
    if (r.show_blur) {
        rows.insert(rows.end(), {blank, row(blurred)});
        labels.push_back(blur);
    }
    if (r.show_one_step) {
        rows.insert(rows.end(), {blank, row(est)});
        labels.push_back("one-step");
    }
    auto grid = ss.grid(torch::cat(rows, 0), int(ts.size()) + 1);
    res.figure = add_caption(labels.size() > 1 ? add_row_labels(grid, labels) : grid,
                             t_caption("original | t =", ts));
    res.panels.push_back({"input", ss.tile(x0[0])});
    for (size_t i = 0; i < ts.size(); ++i) {
        const std::string t = " t=" + std::to_string(ts[i]);
        res.panels.push_back({"noisy" + t, ss.tile(noisy[i][0])});
        res.panels.push_back({"blur" + t, ss.tile(blurred[i][0])});
        res.panels.push_back({"one-step" + t, ss.tile(est[i][0])});
        res.images.push_back(io::tensor_to_image(est[i][0], ss.range.first, ss.range.second));
    }
    return finish(ss, std::move(res));
}

}  // namespace ds::jobs
