// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <thread>

#include "core/diffusion/iterative.h"
#include "core/diffusion/schedule.h"
#include "core/engine/errors.h"

using namespace ds::diffusion;

namespace {
// Predicts eps = scale * x_t (deterministic, input-dependent) and counts calls.
class FakePredictor : public NoisePredictor {
public:
    explicit FakePredictor(Schedule s) : s_(std::move(s)) {}
    const torch::Tensor& alpha_bars() const override { return s_.alpha_bars; }
    std::vector<std::int64_t> sample_shape() const override { return {1, 4, 4}; }
    std::pair<double, double> value_range() const override { return {0, 1}; }
    bool is_conditional() const override { return false; }
    Prediction predict(const torch::Tensor& x, std::int64_t t, const Conditioning&, double) override {
        ++calls;
        last_t = t;
        return {0.3 * x, {}};
    }
    int calls = 0;
    std::int64_t last_t = -1;

private:
    Schedule s_;
};
}  // namespace

TEST_CASE("A.3 on the full list equals the DDPM posterior mean (eq. 11 form)", "[diffusion]") {
    auto s = linear_schedule(300);
    auto x = torch::randn({2, 1, 4, 4}, torch::kFloat64);
    auto eps = torch::randn({2, 1, 4, 4}, torch::kFloat64);
    for (int t : {299, 150, 1}) {
        const double ab = s.alpha_bars[t].item<double>(), ab_prev = s.alpha_bars[t - 1].item<double>();
        const double beta = s.betas[t].item<double>();
        auto m = step_mean(x, eps, ab, ab_prev, {}, {0, 1});
        // mu = (x_t - beta / sqrt(1 - abar_t) eps) / sqrt(alpha_t)
        auto mu = (x - beta / std::sqrt(1 - ab) * eps) / std::sqrt(1 - beta);
        CHECK(torch::allclose(m.mean, mu, 1e-6, 1e-5));
    }
}

TEST_CASE("forward process and one-step x0 invert each other", "[diffusion]") {
    auto x0 = torch::rand({3, 1, 5, 5}, torch::kFloat64);
    auto eps = torch::randn({3, 1, 5, 5}, torch::kFloat64);
    for (double ab : {0.99, 0.5, 0.01}) {
        auto xt = forward_noise(x0, eps, ab);
        CHECK(torch::allclose(predict_x0(xt, eps, ab), x0, 1e-9, 1e-9));
        CHECK(torch::allclose(xt, std::sqrt(ab) * x0 + std::sqrt(1 - ab) * eps));
    }
}

TEST_CASE("fixed and learned variances", "[diffusion]") {
    const double ab = 0.5, ab_prev = 0.8;
    const double beta = 1 - ab / ab_prev, post = (1 - ab_prev) / (1 - ab) * beta;
    auto like = torch::zeros({1, 1, 2, 2});
    CHECK(step_log_variance(VarianceMode::Beta, ab, ab_prev, {}, like)[0][0][0][0].item<double>() ==
          Approx(std::log(beta)));
    CHECK(step_log_variance(VarianceMode::Posterior, ab, ab_prev, {}, like)[0][0][1][1].item<double>() ==
          Approx(std::log(post)));
    // v = 1 -> log beta, v = -1 -> log posterior, v = 0 -> the mean of both logs
    auto v = torch::tensor({1.0f, -1.0f, 0.0f, 0.5f}).view({1, 1, 2, 2});
    auto lv = step_log_variance(VarianceMode::Learned, ab, ab_prev, v, like).flatten();
    CHECK(lv[0].item<double>() == Approx(std::log(beta)).epsilon(1e-6));
    CHECK(lv[1].item<double>() == Approx(std::log(post)).epsilon(1e-6));
    CHECK(lv[2].item<double>() == Approx(0.5 * (std::log(beta) + std::log(post))).epsilon(1e-6));
    CHECK_THROWS_AS(step_log_variance(VarianceMode::Learned, ab, ab_prev, {}, like), ds::InvalidRequest);
}

TEST_CASE("iterative denoising: steps, determinism, i_start and validation", "[diffusion]") {
    FakePredictor model(linear_schedule(300));
    IterativeOptions o;
    for (int t = 299; t >= 0; --t) o.timesteps.push_back(t);
    o.generator = at::make_generator<at::CPUGeneratorImpl>(7);
    auto x = torch::randn({2, 1, 4, 4});
    auto a = iterative_denoise(model, x, {}, o);
    CHECK(model.calls == 300);
    CHECK(model.last_t == 0);
    o.generator = at::make_generator<at::CPUGeneratorImpl>(7);
    auto b = iterative_denoise(model, x, {}, o);
    CHECK(torch::equal(a, b));
    o.generator = at::make_generator<at::CPUGeneratorImpl>(8);
    CHECK_FALSE(torch::equal(a, iterative_denoise(model, x, {}, o)));

    model.calls = 0;
    o.timesteps = strided_timesteps(290, 10);  // 30 entries
    o.i_start = 10;
    o.to_clean = false;
    iterative_denoise(model, x, {}, o);
    CHECK(model.calls == 19);  // from index 10 up to the pair (10, 0)
    o.i_start = 29;
    CHECK_THROWS_AS(iterative_denoise(model, x, {}, o), ds::InvalidRequest);
    o.i_start = 0;
    o.timesteps = {10, 20};
    CHECK_THROWS_AS(iterative_denoise(model, x, {}, o), ds::InvalidRequest);
}

TEST_CASE("cancellation stops within one step", "[diffusion]") {
    FakePredictor model(linear_schedule(300));
    ds::CancelToken cancel;
    IterativeOptions o;
    for (int t = 299; t >= 0; --t) o.timesteps.push_back(t);
    o.generator = at::make_generator<at::CPUGeneratorImpl>(1);
    o.cancel = &cancel;
    o.on_step = [&](const StepInfo& s) {
        if (s.step == 5) cancel.request(ds::CancelMode::Now);
    };
    CHECK_THROWS_AS(iterative_denoise(model, torch::randn({1, 1, 4, 4}), {}, o), ds::Cancelled);
    CHECK(model.calls == 5);

    // From another thread: the loop notices before its next model call.
    cancel.reset();
    model.calls = 0;
    o.on_step = [&](const StepInfo& s) {
        if (s.step == 3) {
            std::thread([&] { cancel.request(ds::CancelMode::Now); }).join();
        }
    };
    CHECK_THROWS_AS(iterative_denoise(model, torch::randn({1, 1, 4, 4}), {}, o), ds::Cancelled);
    CHECK(model.calls == 3);
}

TEST_CASE("after_step hook sees the new timestep (inpainting hook)", "[diffusion]") {
    FakePredictor model(linear_schedule(300));
    IterativeOptions o;
    o.timesteps = {200, 100, 0};
    o.generator = at::make_generator<at::CPUGeneratorImpl>(1);
    std::vector<std::int64_t> seen;
    o.after_step = [&](torch::Tensor& x, std::int64_t t_next) {
        seen.push_back(t_next);
        x.fill_(0.25);
    };
    auto y = iterative_denoise(model, torch::randn({1, 1, 4, 4}), {}, o);
    CHECK((seen == std::vector<std::int64_t>{100, 0, -1}));
    CHECK(torch::allclose(y, torch::full_like(y, 0.25)));
}
