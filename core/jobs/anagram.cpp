// Visual anagrams (course 1.8): one image, a prompt per view.
#include "core/jobs/jobs.h"

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/session.h"
#include "core/diffusion/combined_predictors.h"
#include "core/diffusion/views.h"

namespace ds::jobs {

using namespace diffusion;

PartAResult anagram(const RunContext& ctx, const AnagramRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "anagram");
    if (r.views.size() < 2) throw InvalidRequest("an anagram needs at least two views");
    if (r.views.size() != r.prompts.size())
        throw InvalidRequest("an anagram needs one prompt per view: " + std::to_string(r.views.size()) +
                             " views but " + std::to_string(r.prompts.size()) + " prompts");
    const int n = r.sampler.count;
    std::vector<View> views;
    std::vector<Conditioning> conds;
    for (size_t k = 0; k < r.views.size(); ++k) {
        views.push_back(parse_view(r.views[k]));
        conds.push_back(encode(ss, r.prompts[k], n, r.sampler));
    }
    ss.recipe["views"] = r.views;
    ss.recipe["prompts"] = r.prompts;
    ss.recipe["mean_variance"] = r.mean_variance;
    AnagramPredictor anagram(*ss.model, views, conds, r.mean_variance);
    auto rep = ss.reporter(r.callbacks, "anagram", int(ss.timesteps.size()), std::min(n, kMaxColumns));
    const double mid = 0.5 * (ss.range.first + ss.range.second);
    rep.set_views([&](const torch::Tensor& x0) {
        std::vector<std::pair<std::string, torch::Tensor>> out;
        for (size_t k = 0; k < views.size(); ++k)
            out.emplace_back("view " + r.views[k], apply_view(views[k], x0, 1.0, mid));
        return out;
    });
    auto o = make_options(ss, rep, r.cancel, 0);
    const torch::Tensor out = iterative_denoise(anagram, ss.noise(n), {}, o);
    PartAResult res;
    res.images = ss.images(out);
    // Row k: every sample seen through view k (in data space: abar = 1).
    const double centre = 0.5 * (ss.range.first + ss.range.second);
    std::vector<torch::Tensor> rows;
    std::vector<std::string> labels;
    for (size_t k = 0; k < views.size(); ++k) {
        auto v = apply_view(views[k], out, 1.0, centre);
        rows.push_back(v);
        labels.push_back(r.views[k] + ": " + (r.prompts[k].empty() ? "(uncond)" : r.prompts[k]));
        res.panels.push_back({"view " + r.views[k], ss.tile(v[0])});
    }
    res.figure = add_row_labels(ss.grid(torch::cat(rows, 0), n), labels);
    return finish(ss, std::move(res));
}

}  // namespace ds::jobs
