#include "core/diffusion/generate.h"

#include <torch/torch.h>

#include "core/diffusion/flow.h"
#include "core/diffusion/iterative.h"
#include "core/diffusion/mnist_predictor.h"
#include "core/engine/errors.h"

namespace ds::diffusion {

int default_flow_steps(ModelKind kind) { return kind == ModelKind::ClassFm ? 300 : 50; }

torch::Tensor generate(models::LoadedModel& model, const GenerateOptions& o) {
    c10::InferenceMode guard;
    const auto& spec = model.spec;
    std::vector<int> labels = o.labels;
    std::int64_t n = spec.is_class_conditioned() && !labels.empty()
                         ? static_cast<std::int64_t>(labels.size())
                         : o.count;
    if (n <= 0 || n > 100000) throw InvalidRequest("number of samples must be in 1..100000");
    if (spec.is_class_conditioned() && labels.empty()) labels.assign(n, -1);
    if (spec.kind == ModelKind::Classifier)
        throw InvalidRequest("a classifier cannot generate images");
    model.module().eval();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
    auto x = torch::randn({n, spec.in_channels, spec.image_size, spec.image_size}, gen,
                          torch::kFloat32);

    if (spec.kind == ModelKind::Denoiser) {  // one shot: D(eps)
        auto y = model.unet->forward(x);
        if (o.on_step) o.on_step(1, 1, 0, x, y);
        return y.clamp(0, 1);
    }
    if (spec.is_flow()) {
        FlowOptions f;
        f.steps = o.steps > 0 ? o.steps : default_flow_steps(spec.kind);
        f.guidance = o.guidance;
        f.labels = labels;
        f.cancel = o.cancel;
        if (o.on_step) f.on_step = [&](const FlowStepInfo& s) { o.on_step(s.step, s.total, s.t, *s.x, *s.x1_hat); };
        return flow_sample(model, x, f).clamp(0, 1);
    }
    MnistNoisePredictor predictor(model);
    const int T = spec.timesteps;
    IterativeOptions it;
    if (o.steps <= 0 || o.steps >= T) {
        for (int t = T - 1; t >= 0; --t) it.timesteps.push_back(t);
    } else {  // evenly strided list ending at 0
        const double stride = double(T - 1) / o.steps;
        for (int i = o.steps; i >= 0; --i) it.timesteps.push_back(std::llround(i * stride));
        it.timesteps.erase(std::unique(it.timesteps.begin(), it.timesteps.end()),
                           it.timesteps.end());
    }
    it.variance = o.posterior_variance ? VarianceMode::Posterior : VarianceMode::Beta;
    it.guidance = spec.is_class_conditioned() ? o.guidance : 1.0;
    it.generator = gen;
    it.cancel = o.cancel;
    if (o.on_step)
        it.on_step = [&](const StepInfo& s) { o.on_step(s.step, s.total, double(s.t_next), *s.x, *s.x0); };
    Conditioning cond;
    cond.labels = labels;
    return iterative_denoise(predictor, x, cond, it).clamp(0, 1);
}

}  // namespace ds::diffusion
