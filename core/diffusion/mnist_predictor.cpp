#include "core/io/text_checks.h"
#include "core/diffusion/mnist_predictor.h"

#include <cctype>
#include <cmath>

#include <torch/torch.h>

#include "core/engine/errors.h"

namespace ds::diffusion {

FlowPoint flow_point(const torch::Tensor& x_t, double alpha_bar) {
    const double a = std::sqrt(alpha_bar), b = std::sqrt(1.0 - alpha_bar);
    return {x_t / (a + b), a / (a + b)};
}

torch::Tensor eps_from_velocity(const FlowPoint& p, const torch::Tensor& velocity) { return p.x - p.s * velocity; }

MnistNoisePredictor::MnistNoisePredictor(models::LoadedModel model) : model_(std::move(model)) {
    if (!model_.spec.is_ddpm() && !model_.spec.is_flow())
        throw InvalidRequest("model '" + model_.path + "' is a " + to_string(model_.spec.kind) +
                             " model; the diffusion samplers need a time- or class-conditioned "
                             "DDPM or flow-matching model");
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

std::string MnistNoisePredictor::prompt_help() const {
    const auto& spec = model_.spec;
    if (!is_conditional())
        return "model '" + model_.path + "' is unconditional (" + to_string(spec.kind) +
               "): leave the prompt empty";
    std::string names;
    for (size_t i = 0; i < spec.class_names.size() && i < 12; ++i)
        names += (i ? ", " : "") + spec.class_names[i];
    return "prompts of this " + spec.dataset + " model are class indices 0.." +
           std::to_string(spec.num_classes - 1) + (names.empty() ? "" : " or names (" + names + ")") +
           "; an empty prompt is unconditional";
}

Conditioning MnistNoisePredictor::encode_prompts(const std::vector<std::string>& prompts,
                                                 const std::string& negative) {
    if (!is_conditional()) return NoisePredictor::encode_prompts(prompts, negative);
    if (!negative.empty())
        throw InvalidRequest("MNIST models have no negative prompt: CFG's unconditional input is "
                             "the zero class vector");
    auto lower = [](std::string s) {
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    };
    Conditioning c;
    for (const auto& p : prompts) {
        if (p.empty()) {
            c.labels.push_back(-1);
            continue;
        }
        int label = -1;
        if (p.find_first_not_of("0123456789") == std::string::npos && p.size() < 6) {
            label = std::stoi(p);
            if (label >= model_.spec.num_classes) label = -1;
        }
        for (size_t i = 0; label < 0 && i < model_.spec.class_names.size(); ++i)
            if (lower(model_.spec.class_names[i]) == lower(p)) label = static_cast<int>(i);
        if (label < 0) throw InvalidRequest("unknown prompt " + io::quoted(p) + ": " + prompt_help());
        c.labels.push_back(label);
    }
    return c;
}

Prediction MnistNoisePredictor::predict(const torch::Tensor& x_t, std::int64_t t,
                                        const Conditioning& cond, double guidance) {
    const auto n = x_t.size(0);
    const bool flow = model_.spec.is_flow();
    FlowPoint point;
    if (flow) {
        if (t < 0 || t >= num_timesteps()) throw InvalidRequest("timestep " + std::to_string(t) + " is outside the schedule");
        point = flow_point(x_t, schedule_.alpha_bars[t].item<double>());
    }
    auto t_norm = torch::full({n}, flow ? point.s : double(t) / model_.spec.timesteps, x_t.options());
    torch::Tensor one_hot;
    if (is_conditional()) {
        std::vector<int> labels = cond.labels;
        if (labels.empty()) labels.assign(n, -1);
        if (static_cast<std::int64_t>(labels.size()) != n)
            throw InvalidRequest("conditioning has " + std::to_string(labels.size()) +
                                 " labels for a batch of " + std::to_string(n));
        one_hot = one_hot_labels(labels, model_.spec.num_classes).to(x_t.options());
    }
    if (flow)  // CFG on the velocity is CFG on eps: eps is affine in v at a fixed point
        return {eps_from_velocity(point, guided_unet_output(model_.unet, point.x, t_norm, one_hot, guidance)), {}};
    return {guided_unet_output(model_.unet, x_t, t_norm, one_hot, guidance), {}};
}

}  // namespace ds::diffusion
