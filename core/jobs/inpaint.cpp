// Inpainting (course 1.7.2): outside the mask the known image, noised to each step's level.
#include "core/jobs/jobs.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/session.h"
#include "core/diffusion/techniques.h"
#include "core/engine/hashing.h"
#include "core/jobs/image_prep.h"

namespace ds::jobs {

using json = nlohmann::json;

using namespace diffusion;

PartAResult inpaint(const RunContext& ctx, const InpaintRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "inpaint");
    check_i_start(ss, r.i_start);
    const int n = r.sampler.count;
    auto x0 = load_image(ss, r.input, "input").expand({n, -1, -1, -1}).contiguous();
    if (r.mask.empty()) throw InvalidRequest("inpainting needs a mask (white = generate)");
    Image mask_img = load_input(r.mask, "mask");
    json mj = {{"grow", r.grow}, {"feather", r.feather}, {"cover", r.cover == MaskCover::Any ? "any" : "half"}};
    if (!r.mask.path.empty()) {
        mj["path"] = r.mask.path;
        mj["sha256"] = sha256_file(r.mask.path);
    } else {
        mj["sha256"] = sha256_hex(std::string(mask_img.pixels.begin(), mask_img.pixels.end()));
        mj["size"] = {mask_img.width, mask_img.height, mask_img.channels};
    }
    ss.recipe["mask"] = mj;
    auto mask = prepare_mask(mask_img, int(ss.shape[1]), int(ss.shape[2]), r.grow, r.feather,
                                 r.cover == MaskCover::Any, ss.notes);
    auto cond = encode(ss, r.sampler.prompt, n, r.sampler);
    ss.recipe["prompt"] = r.sampler.prompt;
    ss.recipe["i_start"] = r.i_start;
    auto rep = ss.reporter(r.callbacks, "inpaint", int(ss.timesteps.size()) - r.i_start, std::min(n, kMaxColumns));
    auto o = make_options(ss, rep, r.cancel, r.i_start);
    auto eps = ss.noise(n);
    auto start = r.i_start == 0 ? eps : forward_at(*ss.model, x0, ss.timesteps[r.i_start], eps);
    const torch::Tensor out = inpaint(*ss.model, start, x0, mask, cond, o);
    PartAResult res;
    res.images = ss.images(out);
    auto mask_shown = mask.expand({1, ss.shape[0], -1, -1}) * (ss.range.second - ss.range.first) + ss.range.first;
    auto masked = x0.narrow(0, 0, 1) * (1 - mask) + ss.range.first * mask;
    auto all = torch::cat({x0.narrow(0, 0, 1), mask_shown, masked, out}, 0);
    res.figure = add_caption(ss.grid(all, std::min<int>(3 + n, kMaxColumns)),
                             "original | mask used | kept | inpainted, prompt " + prompt_label(r.sampler.prompt));
    res.panels = {{"input", ss.tile(x0[0])}, {"mask used", ss.tile(mask_shown[0])}};
    return finish(ss, std::move(res));
}

}  // namespace ds::jobs
