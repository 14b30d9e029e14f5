#include "core/diffusion/flow.h"

#include <torch/torch.h>

#include "core/diffusion/mnist_predictor.h"
#include "core/engine/errors.h"

namespace ds::diffusion {

torch::Tensor flow_sample(models::LoadedModel& model, torch::Tensor x, const FlowOptions& o) {
    if (!model.spec.is_flow())
        throw InvalidRequest("model is a " + to_string(model.spec.kind) +
                             " model; flow sampling needs time-fm or class-fm");
    if (o.steps < 1 || o.steps > 100000) throw InvalidRequest("flow steps must be in 1..100000");
    const auto n = x.size(0);
    torch::Tensor one_hot;
    if (model.spec.is_class_conditioned()) {
        if (static_cast<std::int64_t>(o.labels.size()) != n)
            throw InvalidRequest("need one label per sample for a class-conditioned model");
        one_hot = one_hot_labels(o.labels, model.spec.num_classes).to(x.options());
    }
    const double dt = 1.0 / o.steps;
    for (int i = 0; i < o.steps; ++i) {
        if (o.cancel && o.cancel->now()) throw Cancelled{};
        const double t = double(i) / o.steps;
        auto tt = torch::full({n}, t, x.options());
        auto v = guided_unet_output(model.unet, x, tt, one_hot, one_hot.defined() ? o.guidance : 1.0);
        torch::Tensor x1_hat;
        if (o.on_step) x1_hat = x + (1.0 - t) * v;
        x = x + dt * v;
        if (o.on_step) {
            FlowStepInfo info{i + 1, o.steps, double(i + 1) / o.steps, &x, &x1_hat};
            o.on_step(info);
        }
    }
    return x;
}

}  // namespace ds::diffusion
