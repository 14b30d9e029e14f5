#pragma once
// Noise predictors built from another one, so that every sampler (iterative_denoise) runs them
// unchanged: visual anagrams (course §2.9) and hybrid images / factorized diffusion (§2.10).
// Each evaluates all its prompts in one batched forward of the base model.
#include <vector>

#include "core/diffusion/noise_predictor.h"
#include "core/diffusion/views.h"

namespace ds::diffusion {

// Forwards the schedule, shape and range of a base predictor.
class DelegatingPredictor : public NoisePredictor {
public:
    explicit DelegatingPredictor(NoisePredictor& base) : base_(base) {}
    const torch::Tensor& alpha_bars() const override { return base_.alpha_bars(); }
    std::vector<std::int64_t> sample_shape() const override { return base_.sample_shape(); }
    std::pair<double, double> value_range() const override { return base_.value_range(); }
    bool has_learned_variance() const override { return base_.has_learned_variance(); }
    bool is_conditional() const override { return base_.is_conditional(); }
    double default_guidance() const override { return base_.default_guidance(); }

protected:
    NoisePredictor& base_;
};

// eps = mean_k unview_k(CFG-eps(view_k(x_t), prompt_k)). The `cond` passed to predict() is
// ignored: view k uses conds[k] (each for the whole batch). Variance channels come from the
// first view, or the mean over views when `mean_variance`.
class AnagramPredictor : public DelegatingPredictor {
public:
    AnagramPredictor(NoisePredictor& base, std::vector<View> views, std::vector<Conditioning> conds,
                     bool mean_variance = false);
    Prediction predict(const torch::Tensor& x_t, std::int64_t t, const Conditioning& cond,
                       double guidance) override;

private:
    std::vector<View> views_;
    std::vector<Conditioning> conds_;
    bool mean_variance_;
};

// eps = lowpass(eps(x_t, low)) + highpass(eps(x_t, high)), Gaussian kernel k and sigma.
// Variance channels come from the low-pass prompt's pass.
class HybridPredictor : public DelegatingPredictor {
public:
    HybridPredictor(NoisePredictor& base, Conditioning low, Conditioning high, int kernel = 33,
                    double sigma = 2.0);
    Prediction predict(const torch::Tensor& x_t, std::int64_t t, const Conditioning& cond,
                       double guidance) override;
    // The two parts of the last prediction (for display): lowpass(eps_low), highpass(eps_high).
    const torch::Tensor& last_low() const { return last_low_; }
    const torch::Tensor& last_high() const { return last_high_; }

private:
    Conditioning low_, high_;
    int kernel_;
    double sigma_;
    torch::Tensor last_low_, last_high_;
};

}  // namespace ds::diffusion
