// Hybrid images (course 1.9): low frequencies of one prompt, high frequencies of another.
#include "core/jobs/jobs.h"

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/session.h"
#include "core/diffusion/combined_predictors.h"
#include "core/diffusion/filters.h"

namespace ds::jobs {

using namespace diffusion;

PartAResult hybrid(const RunContext& ctx, const HybridRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "hybrid");
    const int n = r.sampler.count;
    auto far = encode(ss, r.prompt_far, n, r.sampler);
    auto near = encode(ss, r.prompt_near, n, r.sampler);
    ss.recipe["prompt_far"] = r.prompt_far;
    ss.recipe["prompt_near"] = r.prompt_near;
    ss.recipe["kernel"] = r.kernel;
    ss.recipe["sigma"] = r.sigma;
    HybridPredictor hybrid(*ss.model, far, near, r.kernel, r.sigma);
    auto rep = ss.reporter(r.callbacks, "hybrid", int(ss.timesteps.size()), std::min(n, kMaxColumns));
    auto o = make_options(ss, rep, r.cancel, 0);
    const torch::Tensor out = iterative_denoise(hybrid, ss.noise(n), {}, o);
    PartAResult res;
    res.images = ss.images(out);
    // What each reading looks like: low-pass ("from afar") and high-pass (+ mid-grey) of the result.
    const double mid = 0.5 * (ss.range.first + ss.range.second);
    auto low = lowpass(out, r.kernel, r.sigma);
    auto high = highpass(out, r.kernel, r.sigma) + mid;
    res.figure = add_row_labels(ss.grid(torch::cat({out, low, high}, 0), n),
                                {"hybrid", "far: " + r.prompt_far, "near: " + r.prompt_near});
    res.panels = {{"low-pass", ss.tile(low[0])}, {"high-pass", ss.tile(high[0])}};
    return finish(ss, std::move(res));
}


}  // namespace ds::jobs
