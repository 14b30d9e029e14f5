#pragma once
// DeepFloyd IF behind the NoisePredictor interface, so every sampler and Part A technique runs on
// it unchanged: the cosine (squaredcos_cap_v2) schedule, 6-channel output (eps + learned variance
// values), CFG as IFPipeline does it (one batched forward of [negative, prompt], eps combined,
// variance from the prompt half), prompts through T5 with the embedding cache. Stage II (super-
// resolution) additionally feeds the noised, upscaled stage I image and its noise level.
#include <functional>
#include <memory>
#include <string>

#include "core/diffusion/noise_predictor.h"
#include "core/diffusion/schedule.h"
#include "core/models/if_unet.h"
#include "core/text/prompt_encoder.h"

namespace ds::diffusion {

class IfNoisePredictor : public NoisePredictor {
public:
    IfNoisePredictor(std::shared_ptr<models::IfUNet> unet, std::shared_ptr<text::PromptEncoder> prompts,
                     bool stage2 = false);
    // The UNet is asked of `source` at the first prediction, so the prompts are encoded before it
    // loads (the text encoder and the UNet need not be in memory together).
    using UNetSource = std::function<std::shared_ptr<models::IfUNet>()>;
    IfNoisePredictor(const models::IfUNetConfig& config, UNetSource source,
                     std::shared_ptr<text::PromptEncoder> prompts, bool stage2 = false);

    const torch::Tensor& alpha_bars() const override { return schedule_.alpha_bars; }
    std::vector<std::int64_t> sample_shape() const override;
    std::pair<double, double> value_range() const override { return {-1.0, 1.0}; }
    bool has_learned_variance() const override { return config_.out_channels == 6; }
    bool is_conditional() const override { return true; }
    double default_guidance() const override { return stage2_ ? 4.0 : 7.0; }  // pipelines' defaults
    Prediction predict(const torch::Tensor& x_t, std::int64_t t, const Conditioning& cond,
                       double guidance) override;
    Conditioning encode_prompts(const std::vector<std::string>& prompts, const std::string& negative) override;
    std::string prompt_help() const override { return "prompts are text (T5); the negative prompt defaults to \"\""; }

    // Stage II: the stage I image [N, 3, s, s] in [-1, 1], upscaled bilinearly (align_corners) to
    // the UNet size and noised to `noise_level` with `noise` (same shape as the upscaled image).
    void set_low_res(const torch::Tensor& image, std::int64_t noise_level, const torch::Tensor& noise);
    const torch::Tensor& upscaled_noised() const { return low_res_; }
    models::IfUNet& unet();  // loads it from the source on first use
    const models::IfUNetConfig& config() const { return config_; }

private:
    void check_channels() const;
    models::IfUNetConfig config_;
    UNetSource source_;
    std::shared_ptr<models::IfUNet> unet_;
    std::shared_ptr<text::PromptEncoder> prompts_;
    bool stage2_;
    Schedule schedule_;
    torch::Tensor low_res_;
    std::int64_t noise_level_ = 250;
};

// Stage II conditioning image: bilinear upscaling with align_corners=True to `size`, then
// add_noise at `noise_level` on the cosine schedule.
torch::Tensor upscale_and_noise(const torch::Tensor& image, int size, std::int64_t noise_level,
                                const torch::Tensor& noise);

}  // namespace ds::diffusion
