// The A.3 step with learned-range variance and x0 limits against diffusers' DDPMScheduler
// (tests/fixtures/ddpm_if_scheduler: IF stage I config, variance noise given as input).
// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "core/diffusion/iterative.h"
#include "core/diffusion/schedule.h"
#include "core/io/safetensors.h"

using namespace ds::diffusion;

namespace {

const std::string kCases = std::string(DS_FIXTURES_DIR) + "/ddpm_if_scheduler/cases.safetensors";

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

X0Options if_limit(const std::string& mode) {
    X0Options o;
    o.mode = mode == "threshold" ? X0Clamp::Dynamic : mode == "clip" ? X0Clamp::Clip : X0Clamp::None;
    o.ratio = 0.95;
    o.sample_max = 1.5;
    return o;
}

// Replays the fixture's per-step model outputs (eps = channels 0-2, variance = 3-5).
class ReplayPredictor : public NoisePredictor {
public:
    ReplayPredictor(torch::Tensor abar, torch::Tensor outputs)
        : abar_(std::move(abar)), outputs_(std::move(outputs)) {}
    const torch::Tensor& alpha_bars() const override { return abar_; }
    std::vector<std::int64_t> sample_shape() const override { return {3, 8, 8}; }
    std::pair<double, double> value_range() const override { return {-1, 1}; }
    bool has_learned_variance() const override { return true; }
    bool is_conditional() const override { return false; }
    Prediction predict(const torch::Tensor&, std::int64_t, const Conditioning&, double) override {
        auto out = outputs_[calls++];
        return {out.narrow(1, 0, 3), out.narrow(1, 3, 3)};
    }
    int calls = 0;

private:
    torch::Tensor abar_, outputs_;
};

}  // namespace

TEST_CASE("our cosine schedule equals the fixture's alphas_cumprod", "[diffusion][fixture]") {
    auto f = ds::io::SafetensorsFile::open(kCases);
    auto ours = cosine_schedule(1000).alpha_bars;
    CHECK(max_abs_diff(ours, f.tensor("alphas_cumprod")) < 1e-6);
}

TEST_CASE("one scheduler step: log variance, x0 and prev_sample match diffusers to 1e-6",
          "[diffusion][fixture]") {
    auto f = ds::io::SafetensorsFile::open(kCases);
    auto abar = f.tensor("alphas_cumprod").to(torch::kFloat64);
    struct Case {
        std::string list;
        std::vector<std::int64_t> ts;
    };
    auto strided = f.tensor("timesteps_strided");
    auto deflt = f.tensor("timesteps_default");
    std::vector<std::int64_t> s(strided.data_ptr<std::int64_t>(), strided.data_ptr<std::int64_t>() + strided.numel());
    std::vector<std::int64_t> d(deflt.data_ptr<std::int64_t>(), deflt.data_ptr<std::int64_t>() + deflt.numel());
    CHECK(s == strided_timesteps(990, 30));
    for (const auto& [list, ts, checked] : std::vector<std::tuple<std::string, std::vector<std::int64_t>, std::vector<int>>>{
             {"strided", s, {990, 510, 30, 0}}, {"default", d, {950, 500, 50, 0}}}) {
        for (int t : checked) {
            const auto it = std::find(ts.begin(), ts.end(), t);
            REQUIRE(it != ts.end());
            const std::int64_t t_prev = it + 1 != ts.end() ? *(it + 1) : -1;
            const double ab = abar[t].item<double>(), ab_prev = t_prev >= 0 ? abar[t_prev].item<double>() : 1.0;
            const std::string p = "step." + list + ".t" + std::to_string(t) + ".";
            INFO(p);
            auto out = f.tensor(p + "model_output");
            Prediction pred{out.narrow(1, 0, 3), out.narrow(1, 3, 3)};
            auto x = f.tensor(p + "sample");
            auto lv = step_log_variance(VarianceMode::Learned, ab, ab_prev, pred.variance, x);
            CHECK(max_abs_diff(lv, f.tensor(p + "log_variance")) < 1e-6 * (1 + lv.abs().max().item<double>()));
            for (const std::string mode : {"none", "clip", "threshold"}) {
                INFO(mode);
                auto m = ddpm_step(x, pred, t, ab, ab_prev, VarianceMode::Learned, if_limit(mode), {-1, 1},
                                   f.tensor(p + "variance_noise"));
                CHECK(max_abs_diff(m.x0, f.tensor(p + mode + ".pred_original_sample")) < 1e-5);
                CHECK(max_abs_diff(m.mean, f.tensor(p + mode + ".prev_sample")) < 1e-6);
            }
        }
    }
}

TEST_CASE("a whole sampling loop on the strided and default lists matches diffusers",
          "[diffusion][fixture]") {
    auto f = ds::io::SafetensorsFile::open(kCases);
    auto abar = f.tensor("alphas_cumprod");
    for (const std::string list : {"strided", "default"}) {
        INFO(list);
        auto tsn = f.tensor("timesteps_" + list);
        ReplayPredictor model(abar, f.tensor("loop." + list + ".model_outputs"));
        auto noises = f.tensor("loop." + list + ".variance_noises");
        auto samples = f.tensor("loop." + list + ".samples");
        IterativeOptions o;
        o.timesteps.assign(tsn.data_ptr<std::int64_t>(), tsn.data_ptr<std::int64_t>() + tsn.numel());
        o.variance = VarianceMode::Learned;
        o.x0 = if_limit("threshold");
        o.noise = [&](int k, const torch::Tensor&) { return noises[k]; };
        std::vector<double> errors;
        o.on_step = [&](const StepInfo& s) { errors.push_back(max_abs_diff(*s.x, samples[s.step])); };
        iterative_denoise(model, samples[0], {}, o);
        CHECK(model.calls == tsn.numel());
        REQUIRE(errors.size() == size_t(tsn.numel()));
        CHECK(*std::max_element(errors.begin(), errors.end()) < 1e-5);
    }
}
