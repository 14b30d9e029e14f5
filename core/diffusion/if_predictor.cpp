#include "core/diffusion/if_predictor.h"

#include <torch/torch.h>

#include "core/diffusion/iterative.h"
#include "core/engine/errors.h"

namespace ds::diffusion {

IfNoisePredictor::IfNoisePredictor(std::shared_ptr<models::IfUNet> unet, std::shared_ptr<text::PromptEncoder> prompts,
                                   bool stage2)
    : config_(unet->config()), unet_(std::move(unet)), prompts_(std::move(prompts)), stage2_(stage2),
      schedule_(cosine_schedule(1000)) {
    check_channels();
}

IfNoisePredictor::IfNoisePredictor(const models::IfUNetConfig& config, UNetSource source,
                                   std::shared_ptr<text::PromptEncoder> prompts, bool stage2)
    : config_(config), source_(std::move(source)), prompts_(std::move(prompts)), stage2_(stage2),
      schedule_(cosine_schedule(1000)) {
    check_channels();
}

void IfNoisePredictor::check_channels() const {
    const int expected_in = stage2_ ? 6 : 3;
    if (config_.in_channels != expected_in)
        throw ModelLoadError(std::string("this UNet has ") + std::to_string(config_.in_channels) +
                             " input channels; an IF stage " + (stage2_ ? "II" : "I") + " UNet has " +
                             std::to_string(expected_in));
}

models::IfUNet& IfNoisePredictor::unet() {
    if (!unet_) unet_ = source_();
    return *unet_;
}

std::vector<std::int64_t> IfNoisePredictor::sample_shape() const {
    const int s = config_.sample_size;
    return {3, s, s};
}

Conditioning IfNoisePredictor::encode_prompts(const std::vector<std::string>& prompts, const std::string& negative) {
    if (!prompts_) throw InvalidRequest("this IF model has no prompt encoder or embedding cache");
    Conditioning c;
    std::vector<std::string> all = prompts;
    all.push_back(negative);
    auto rows = prompts_->encode(all);  // the text encoder loads at most once
    c.text_uncond = rows.back();
    rows.pop_back();
    c.text = torch::cat(rows, 0);
    return c;
}

torch::Tensor upscale_and_noise(const torch::Tensor& image, int size, std::int64_t noise_level, const torch::Tensor& noise) {
    namespace F = torch::nn::functional;
    if (noise_level < 0 || noise_level >= 1000) throw InvalidRequest("noise_level must be in [0, 1000)");
    auto up = F::interpolate(image.to(torch::kFloat32),
                             F::InterpolateFuncOptions().size(std::vector<std::int64_t>{size, size})
                                 .mode(torch::kBilinear).align_corners(true));
    static const Schedule schedule = cosine_schedule(1000);
    return forward_noise(up, noise.to(torch::kFloat32), schedule.alpha_bars[noise_level].item<double>());
}

void IfNoisePredictor::set_low_res(const torch::Tensor& image, std::int64_t noise_level, const torch::Tensor& noise) {
    if (!stage2_) throw InvalidRequest("only a stage II model takes a low-resolution image");
    low_res_ = upscale_and_noise(image, config_.sample_size, noise_level, noise);
    noise_level_ = noise_level;
}

Prediction IfNoisePredictor::predict(const torch::Tensor& x, std::int64_t t, const Conditioning& cond, double g) {
    if (!cond.text.defined()) throw InvalidRequest("IF needs prompt embeddings (text conditioning)");
    const auto n = x.size(0);
    auto text = cond.text.size(0) == 1 && n > 1 ? cond.text.expand({n, -1, -1}) : cond.text;
    if (text.size(0) != n) throw InvalidRequest("prompt embeddings and samples differ in batch size");
    torch::Tensor input = x, labels;
    if (stage2_) {
        if (!low_res_.defined()) throw InvalidRequest("stage II needs the stage I image (set_low_res)");
        auto lr = low_res_.size(0) == 1 && n > 1 ? low_res_.expand({n, -1, -1, -1}) : low_res_;
        input = torch::cat({x, lr}, 1);  // noisy x first, the upscaled image second
        labels = torch::full({n}, noise_level_, torch::kLong);
    }
    const bool cfg = g != 1.0 && cond.text_uncond.defined();
    torch::Tensor out;
    if (cfg) {
        auto neg = cond.text_uncond.size(0) == 1 ? cond.text_uncond.expand({n, -1, -1}) : cond.text_uncond;
        out = unet().forward(torch::cat({input, input}, 0), torch::full({2 * n}, t, torch::kLong),
                             torch::cat({neg, text}, 0), labels.defined() ? torch::cat({labels, labels}, 0) : labels);
        auto u = out.narrow(0, 0, n), c = out.narrow(0, n, n);
        auto eps = u.narrow(1, 0, 3) + g * (c.narrow(1, 0, 3) - u.narrow(1, 0, 3));
        return {eps, c.size(1) > 3 ? c.narrow(1, 3, 3) : torch::Tensor()};
    }
    out = unet().forward(input, torch::full({n}, t, torch::kLong), text, labels);
    return {out.narrow(1, 0, 3), out.size(1) > 3 ? out.narrow(1, 3, 3) : torch::Tensor()};
}

}  // namespace ds::diffusion
