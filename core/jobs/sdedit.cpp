// SDEdit image-to-image (course 1.7): the input noised to each i_start and denoised back.
#include "core/jobs/jobs.h"

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/session.h"
#include "core/diffusion/techniques.h"

namespace ds::jobs {

using namespace diffusion;

PartAResult sdedit(const RunContext& ctx, const SdeditRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "sdedit");
    if (r.i_starts.empty()) throw InvalidRequest("give at least one i_start");
    for (int i : r.i_starts) check_i_start(ss, i);
    const int n = r.sampler.count;
    auto x0 = load_image(ss, r.input, "input").expand({n, -1, -1, -1}).contiguous();
    auto cond = encode(ss, r.sampler.prompt, n, r.sampler);
    ss.recipe["prompt"] = r.sampler.prompt;
    ss.recipe["i_starts"] = r.i_starts;
    ss.recipe["shared_noise"] = r.shared_noise;
    int total = 0;
    for (int i : r.i_starts) total += int(ss.timesteps.size()) - i;
    auto rep = ss.reporter(r.callbacks, "sdedit", total, std::min(n, kMaxColumns));
    auto shared = ss.noise(n);
    std::vector<torch::Tensor> results;  // per i_start: [n, C, H, W]
    std::vector<int> done_starts;  // "finish current" (AfterCurrent) ends a strip early
    try {
        for (int i : r.i_starts) {
            if (r.cancel.any() && !results.empty()) break;
            auto o = make_options(ss, rep, r.cancel, i);
            results.push_back(sdedit(*ss.model, x0, r.shared_noise ? shared : ss.noise(n), cond, o));
            done_starts.push_back(i);
        }
    } catch (const Cancelled&) {
        return cancelled(ss);
    }
    if (done_starts.size() < r.i_starts.size()) {
        ss.notes.push_back("stopped after " + std::to_string(done_starts.size()) + " of " +
                           std::to_string(r.i_starts.size()) + " i_start values (finish current)");
        ss.recipe["i_starts"] = done_starts;
    }
    PartAResult res;
    // Rows = samples, columns = input then one per i_start.
    std::vector<torch::Tensor> tiles;
    for (int k = 0; k < n; ++k) {
        tiles.push_back(x0.narrow(0, k, 1));
        for (auto& y : results) tiles.push_back(y.narrow(0, k, 1));
    }
    for (auto& y : results)
        for (int k = 0; k < n; ++k)
            res.images.push_back(io::tensor_to_image(y[k], ss.range.first, ss.range.second));
    std::string caption = "input | i_start (t):";
    for (int i : done_starts)
        caption += " " + std::to_string(i) + " (" + std::to_string(ss.timesteps[i]) + ")";
    caption += ", prompt " + prompt_label(r.sampler.prompt);
    res.figure = add_caption(ss.grid(torch::cat(tiles, 0), int(done_starts.size()) + 1), caption);
    res.panels.push_back({"input", ss.tile(x0[0])});
    return finish(ss, std::move(res));
}

}  // namespace ds::jobs
