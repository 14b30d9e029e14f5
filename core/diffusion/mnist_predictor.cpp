#include "core/diffusion/mnist_predictor.h"

#include <torch/torch.h>

#include "core/engine/errors.h"

namespace ds::diffusion {

MnistNoisePredictor::MnistNoisePredictor(models::LoadedModel model) : model_(std::move(model)) {
    if (!model_.spec.is_ddpm())
        throw InvalidRequest("model '" + model_.path + "' is a " + to_string(model_.spec.kind) +
                             " model; the diffusion samplers need a time- or class-conditioned "
                             "DDPM (noise-predicting) model");
    schedule_ = linear_schedule(model_.spec.timesteps, model_.spec.beta1, model_.spec.beta2);
    model_.unet->eval();
}

std::vector<std::int64_t> MnistNoisePredictor::sample_shape() const {
    return {model_.spec.in_channels, model_.spec.image_size, model_.spec.image_size};
}

torch::Tensor one_hot_labels(const std::vector<int>& labels, int num_classes) {
    auto c = torch::zeros({static_cast<std::int64_t>(labels.size()), num_classes});
    auto acc = c.accessor<float, 2>();
    for (size_t i = 0; i < labels.size(); ++i) {
        int l = labels[i];
        if (l < -1 || l >= num_classes)
            throw InvalidRequest("class " + std::to_string(l) + " is outside 0.." +
                                 std::to_string(num_classes - 1));
        if (l >= 0) acc[i][l] = 1.0f;
    }
    return c;
}

torch::Tensor guided_unet_output(models::MnistUNet& unet, const torch::Tensor& x,
                                 const torch::Tensor& t_norm, const torch::Tensor& one_hot,
                                 double guidance) {
    if (!one_hot.defined() || guidance == 1.0) return unet->forward(x, t_norm, one_hot);
    const auto n = x.size(0);
    auto enc = models::repeat_encoding(unet->encode(x), 2);
    auto c = torch::cat({one_hot, torch::zeros_like(one_hot)}, 0);
    auto out = unet->decode(enc, torch::cat({t_norm, t_norm}, 0), c);
    auto cond = out.narrow(0, 0, n), uncond = out.narrow(0, n, n);
    return uncond + guidance * (cond - uncond);
}

Prediction MnistNoisePredictor::predict(const torch::Tensor& x_t, std::int64_t t,
                                        const Conditioning& cond, double guidance) {
    const auto n = x_t.size(0);
    auto t_norm = torch::full({n}, double(t) / model_.spec.timesteps, x_t.options());
    torch::Tensor one_hot;
    if (is_conditional()) {
        std::vector<int> labels = cond.labels;
        if (labels.empty()) labels.assign(n, -1);
        if (static_cast<std::int64_t>(labels.size()) != n)
            throw InvalidRequest("conditioning has " + std::to_string(labels.size()) +
                                 " labels for a batch of " + std::to_string(n));
        one_hot = one_hot_labels(labels, model_.spec.num_classes).to(x_t.options());
    }
    return {guided_unet_output(model_.unet, x_t, t_norm, one_hot, guidance), {}};
}

}  // namespace ds::diffusion
