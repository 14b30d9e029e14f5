// Iterative denoising from a noised input (course 1.4) and sampling from pure noise (1.5, 1.6),
// or a flow-matching model's own Euler sampler.
#include "core/jobs/jobs.h"

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/session.h"
#include "core/diffusion/filters.h"
#include "core/diffusion/flow.h"
#include "core/diffusion/mnist_predictor.h"
#include "core/diffusion/techniques.h"

namespace ds::jobs {

using namespace diffusion;

namespace {

constexpr int kMaxFlowSteps = 10000;

// Generation with a flow-matching model's own sampler: Euler steps from noise (t = 0) to data
// (t = 1), frames of x_t and the clean estimate x + (1 - t) v as the DDPM path streams them.
PartAResult flow_sample_run(Session& ss, const Conditioning& cond, const IterateRequest& r, bool has_start) {
    auto* mnist = dynamic_cast<MnistNoisePredictor*>(ss.model.get());
    if (!mnist || !mnist->model().spec.is_flow())
        throw InvalidRequest("Euler steps (flow_steps) need a flow-matching model (mnist-time-fm, mnist-class-fm); "
                             "'" + r.sampler.model + "' samples on its timestep list");
    if (has_start) throw InvalidRequest("Euler steps sample from pure noise: give no input image and i_start 0");
    if (r.flow_steps < 1 || r.flow_steps > kMaxFlowSteps)
        throw InvalidRequest("flow_steps must be in 1.." + std::to_string(kMaxFlowSteps));
    const int n = r.sampler.count;
    for (const char* unused : {"timesteps", "variance", "x0_limit"}) ss.recipe.erase(unused);
    ss.recipe["flow_steps"] = r.flow_steps;
    auto rep = ss.reporter(r.callbacks, "sample", r.flow_steps, std::min(n, kMaxColumns));
    FlowOptions o;
    o.steps = r.flow_steps;
    o.guidance = ss.guidance;
    o.labels = cond.labels;
    o.cancel = &r.cancel;
    o.on_step = [&rep](const FlowStepInfo& s) { rep.step(s.step, s.total, s.t, *s.x, *s.x1_hat); };
    const torch::Tensor out = flow_sample(mnist->model(), ss.noise(n), o).to(torch::kFloat32);
    PartAResult res;
    res.images = ss.images(out);
    char g[32];
    std::snprintf(g, sizeof g, ", guidance %.3g", ss.guidance);
    res.figure = add_caption(ss.grid(out), "samples, " + prompt_label(r.sampler.prompt) +
                                               (r.sampler.prompt.empty() ? "" : g) + ", " +
                                               std::to_string(r.flow_steps) + " Euler steps");
    return finish(ss, std::move(res));
}
}  // namespace

PartAResult iterate(const RunContext& ctx, const IterateRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, r.input.empty() ? "sample" : "iterate");
    const bool from_image = !r.input.empty();
    const int i_start = r.i_start >= 0 ? r.i_start : (from_image ? 10 : 0);
    check_i_start(ss, i_start);
    if (r.show_every < 1) throw InvalidRequest("show_every must be >= 1");
    gaussian_kernel1d(r.blur_kernel, r.blur_sigma);
    const int n = from_image ? 1 : r.sampler.count;
    auto cond = encode(ss, r.sampler.prompt, n, r.sampler);
    ss.recipe["prompt"] = r.sampler.prompt;
    if (r.flow_steps != 0) return flow_sample_run(ss, cond, r, from_image || i_start != 0);
    ss.recipe["i_start"] = i_start;
    torch::Tensor x0, x;
    const std::int64_t t0 = ss.timesteps[i_start];
    if (from_image) {
        x0 = load_image(ss, r.input, "input");
        x = forward_at(*ss.model, x0, t0, ss.noise(1));
    } else {
        // Pure noise at t0 (i_start = 0: the course's sampling; > 0: the noise of that level).
        x = ss.noise(n);
    }
    auto rep = ss.reporter(r.callbacks, from_image ? "iterate" : "sample", int(ss.timesteps.size()) - i_start,
                           std::min(n, kMaxColumns));
    auto o = make_options(ss, rep, r.cancel, i_start);
    // The course figure: the noisy start, then every show_every-th iterate (t = 690, 540, ...).
    std::vector<torch::Tensor> trajectory = {x.narrow(0, 0, 1).clone()};
    std::vector<std::int64_t> traj_t = {t0};
    int steps_taken = 0;
    o.after_step = [&](torch::Tensor& xi, std::int64_t t_next) {
        if (++steps_taken % r.show_every == 0 && t_next >= 0) {
            trajectory.push_back(xi.narrow(0, 0, 1).clone());
            traj_t.push_back(t_next);
        }
    };
    const torch::Tensor out = iterative_denoise(*ss.model, x, cond, o);
    PartAResult res;
    res.images = ss.images(out);
    if (!from_image) {
        char g[32];
        std::snprintf(g, sizeof g, ", guidance %.3g", ss.guidance);
        // CFG of the empty prompt against itself is the unconditional prediction: no scale to show.
        res.figure = add_caption(ss.grid(out), "samples, " + prompt_label(r.sampler.prompt) +
                                                   (r.sampler.prompt.empty() ? "" : g));
        return finish(ss, std::move(res));
    }
    auto one = one_step_x0(*ss.model, x, t0, cond, ss.guidance);
    auto blur = gaussian_blur(x, r.blur_kernel, r.blur_sigma);
    std::vector<Image> parts;
    parts.push_back(add_caption(ss.grid(torch::cat(trajectory, 0), 0),
                                    t_caption("every " + std::to_string(r.show_every) + "th iterate, t =", traj_t)));
    parts.push_back(add_caption(ss.grid(torch::cat({x0, x, out, one, blur}, 0), 5),
                                "original | noisy t=" + std::to_string(t0) +
                                    " | iterative | one-step | blur"));
    res.figure = stack_vertical(parts);
    res.panels = {{"input", ss.tile(x0[0])}, {"noisy", ss.tile(x[0])}, {"one-step", ss.tile(one[0])},
                  {"blur", ss.tile(blur[0])}};
    return finish(ss, std::move(res));
}

}  // namespace ds::jobs
