#pragma once
// The course's time- and class-conditioned DDPM UNets behind the NoisePredictor interface.
// The UNet receives the normalised time t/T; a class label of -1 is the zero one-hot.
#include "core/diffusion/noise_predictor.h"
#include "core/diffusion/schedule.h"
#include "core/models/model_store.h"

namespace ds::diffusion {

class MnistNoisePredictor : public NoisePredictor {
public:
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
