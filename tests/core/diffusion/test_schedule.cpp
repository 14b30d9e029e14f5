// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "core/diffusion/schedule.h"
#include "core/engine/errors.h"

using namespace ds::diffusion;

TEST_CASE("course DDPM linear schedule", "[diffusion]") {
    auto s = linear_schedule(300);
    REQUIRE(s.size() == 300);
    CHECK(s.betas[0].item<double>() == Approx(1e-4));
    CHECK(s.betas[299].item<double>() == Approx(0.02));
    CHECK(s.alpha_bars[0].item<double>() == Approx(0.9999));
    CHECK(s.alpha_bars[149].item<double>() == Approx(0.467).epsilon(2e-3));
    CHECK(s.alpha_bars[299].item<double>() == Approx(0.0481).epsilon(2e-3));
    // alpha_bar is the running product of 1 - beta (closed form in float64)
    double prod = 1;
    auto b = s.betas.to(torch::kFloat64);
    for (int t = 0; t < 300; ++t) prod *= 1 - b[t].item<double>();
    CHECK(s.alpha_bars[299].item<double>() == Approx(prod).epsilon(1e-5));
}

TEST_CASE("IF cosine schedule matches the course's reference values", "[diffusion]") {
    auto s = cosine_schedule(1000);
    auto ab = [&](int t) { return s.alpha_bars[t].item<double>(); };
    CHECK(ab(0) == Approx(0.999959).epsilon(1e-5));
    CHECK(ab(250) == Approx(0.84589).epsilon(1e-4));
    CHECK(ab(500) == Approx(0.49229).epsilon(1e-4));
    CHECK(ab(750) == Approx(0.14318).epsilon(1e-4));
    CHECK(ab(990) == Approx(1.967e-4).epsilon(1e-3));
}

TEST_CASE("strided timesteps and validation", "[diffusion]") {
    auto ts = strided_timesteps(990, 30);
    REQUIRE(ts.size() == 34);
    CHECK(ts.front() == 990);
    CHECK(ts.back() == 0);
    CHECK_NOTHROW(check_timesteps(ts, 1000));
    CHECK_THROWS_AS(check_timesteps({}, 1000), ds::InvalidRequest);
    CHECK_THROWS_AS(check_timesteps({5, 5, 1}, 1000), ds::InvalidRequest);
    CHECK_THROWS_AS(check_timesteps({1, 5}, 1000), ds::InvalidRequest);
    CHECK_THROWS_AS(check_timesteps({1000, 5}, 1000), ds::InvalidRequest);
    CHECK_THROWS_AS(linear_schedule(1), ds::InvalidRequest);
}
