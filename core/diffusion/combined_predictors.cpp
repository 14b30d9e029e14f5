#include "core/io/text_checks.h"
#include "core/diffusion/combined_predictors.h"

#include <torch/torch.h>

#include "core/diffusion/filters.h"
#include "core/engine/errors.h"

namespace ds::diffusion {

Conditioning NoisePredictor::encode_prompts(const std::vector<std::string>& prompts,
                                            const std::string& negative) {
    for (const auto& p : prompts)
        if (!p.empty()) throw InvalidRequest("prompt " + io::quoted(p) + " given, but " + prompt_help());
    if (!negative.empty()) throw InvalidRequest("negative prompt given, but " + prompt_help());
    return {};
}

Conditioning concat_conditioning(const std::vector<Conditioning>& parts,
                                 const std::vector<std::int64_t>& sizes) {
    Conditioning out;
    std::vector<torch::Tensor> text, uncond;
    for (size_t i = 0; i < parts.size(); ++i) {
        const auto& c = parts[i];
        out.labels.insert(out.labels.end(), c.labels.begin(), c.labels.end());
        if (c.text.defined()) text.push_back(c.text);
        if (c.text_uncond.defined())
            uncond.push_back(c.text_uncond.size(0) == 1 && sizes[i] > 1
                                 ? c.text_uncond.expand({sizes[i], -1, -1})
                                 : c.text_uncond);
    }
    if (!text.empty() && text.size() != parts.size())
        throw InvalidRequest("cannot mix text-conditioned and unconditioned prompts in one batch");
    if (!text.empty()) out.text = torch::cat(text, 0);
    if (!uncond.empty()) out.text_uncond = torch::cat(uncond, 0);
    return out;
}

namespace {
void check_square_for(const View& v, const torch::Tensor& x) {
    const bool swaps = v.kind == ViewKind::Rot90 || v.kind == ViewKind::Rot270 ||
                       v.kind == ViewKind::Transpose;
    if (swaps && x.size(-1) != x.size(-2))
        throw InvalidRequest("view " + view_name(v) + " needs a square image");
}
}  // namespace

AnagramPredictor::AnagramPredictor(NoisePredictor& base, std::vector<View> views,
                                   std::vector<Conditioning> conds, bool mean_variance)
    : DelegatingPredictor(base), views_(std::move(views)), conds_(std::move(conds)),
      mean_variance_(mean_variance) {
    if (views_.empty()) throw InvalidRequest("an anagram needs at least one view");
    if (views_.size() != conds_.size())
        throw InvalidRequest("an anagram needs one prompt per view (" + std::to_string(views_.size()) +
                             " views, " + std::to_string(conds_.size()) + " prompts)");
}

Prediction AnagramPredictor::predict(const torch::Tensor& x, std::int64_t t, const Conditioning&,
                                     double guidance) {
    const auto n = x.size(0);
    const double abar = base_.alpha_bars()[t].item<double>();
    const auto range = base_.value_range();
    const double centre = 0.5 * (range.first + range.second);
    std::vector<torch::Tensor> batch;
    for (const auto& v : views_) {
        check_square_for(v, x);
        batch.push_back(apply_view(v, x, abar, centre));
    }
    auto cond = concat_conditioning(conds_, std::vector<std::int64_t>(views_.size(), n));
    Prediction p = base_.predict(torch::cat(batch, 0), t, cond, guidance);
    torch::Tensor eps, var;
    for (size_t k = 0; k < views_.size(); ++k) {
        auto e = unview(views_[k], p.eps.narrow(0, k * n, n), true);
        eps = eps.defined() ? eps + e : e;
        if (p.variance.defined() && (mean_variance_ || k == 0)) {
            auto v = unview(views_[k], p.variance.narrow(0, k * n, n), false);
            var = var.defined() ? var + v : v;
        }
    }
    eps = eps / double(views_.size());
    if (var.defined() && mean_variance_) var = var / double(views_.size());
    return {eps, var};
}

HybridPredictor::HybridPredictor(NoisePredictor& base, Conditioning low, Conditioning high,
                                 int kernel, double sigma)
    : DelegatingPredictor(base), low_(std::move(low)), high_(std::move(high)), kernel_(kernel),
      sigma_(sigma) {
    gaussian_kernel1d(kernel, sigma);  // validates both now, not at the first step
}

Prediction HybridPredictor::predict(const torch::Tensor& x, std::int64_t t, const Conditioning&,
                                    double guidance) {
    const auto n = x.size(0);
    auto cond = concat_conditioning({low_, high_}, {n, n});
    Prediction p = base_.predict(torch::cat({x, x}, 0), t, cond, guidance);
    last_low_ = lowpass(p.eps.narrow(0, 0, n), kernel_, sigma_);
    last_high_ = highpass(p.eps.narrow(0, n, n), kernel_, sigma_);
    return {last_low_ + last_high_,
            p.variance.defined() ? p.variance.narrow(0, 0, n) : torch::Tensor()};
}

}  // namespace ds::diffusion
