#pragma once
// The course's time- and class-conditioned UNets behind the NoisePredictor interface: the DDPM
// models directly (the UNet receives t/T), the flow-matching models through the adapter below, so
// every Part A technique runs on both. A class label of -1 is the zero one-hot.
#include "core/diffusion/noise_predictor.h"
#include "core/diffusion/schedule.h"
#include "core/models/model_store.h"

namespace ds::diffusion {

// Flow matching seen from DDPM (issue 21): DDPM's x_t = sqrt(abar) x0 + sqrt(1 - abar) eps divided
// by sqrt(abar) + sqrt(1 - abar) is the flow-matching point x_s = s x0 + (1 - s) eps at
// s = sqrt(abar) / (sqrt(abar) + sqrt(1 - abar)) (course §3.6: s = 0 noise, s = 1 data). A velocity
// v = x0 - eps predicted there gives eps = x_s - s v (and x0 = x_s + (1 - s) v).
struct FlowPoint {
    torch::Tensor x;  // x_s
    double s = 0;
};
FlowPoint flow_point(const torch::Tensor& x_t, double alpha_bar);
torch::Tensor eps_from_velocity(const FlowPoint& point, const torch::Tensor& velocity);

class MnistNoisePredictor : public NoisePredictor {
public:
    // DDPM models, or flow-matching ones (time-fm, class-fm) seen through the adapter above on the
    // DDPM schedule of their spec (T = 300, betas 1e-4..0.02 by default).
    explicit MnistNoisePredictor(models::LoadedModel model);

    const torch::Tensor& alpha_bars() const override { return schedule_.alpha_bars; }
    std::vector<std::int64_t> sample_shape() const override;
    std::pair<double, double> value_range() const override { return {0.0, 1.0}; }
    bool is_conditional() const override { return model_.spec.is_class_conditioned(); }
    double default_guidance() const override { return 5.0; }  // course §3.5 (class DDPM)
    Prediction predict(const torch::Tensor& x_t, std::int64_t t, const Conditioning& cond,
                       double guidance) override;
    // Class models: a prompt is a class index ("7") or a class name ("sneaker", any case);
    // "" is the zero one-hot (unconditional). There is no negative prompt.
    Conditioning encode_prompts(const std::vector<std::string>& prompts,
                                const std::string& negative) override;
    std::string prompt_help() const override;

    const Schedule& schedule() const { return schedule_; }
    models::LoadedModel& model() { return model_; }

private:
    models::LoadedModel model_;
    Schedule schedule_;
};

// One-hot rows for labels (-1 -> zero row), float32 [N, num_classes]. Throws InvalidRequest for
// labels outside [-1, num_classes).
torch::Tensor one_hot_labels(const std::vector<int>& labels, int num_classes);

// Model output for a velocity / noise network with classifier-free guidance: the encoder runs
// once on x, the decoder on the conditional and unconditional halves together.
torch::Tensor guided_unet_output(models::MnistUNet& unet, const torch::Tensor& x,
                                 const torch::Tensor& t_norm, const torch::Tensor& one_hot,
                                 double guidance);

}  // namespace ds::diffusion
