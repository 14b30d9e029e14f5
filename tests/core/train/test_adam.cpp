// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "core/train/adam.h"

using ds::train::Adam;

TEST_CASE("Adam's first step moves each weight by lr * g / (|g| + eps)", "[train]") {
    auto p = torch::tensor({1.0, -2.0, 3.0}, torch::kFloat64).requires_grad_(true);
    Adam adam({{"p", p}}, 0.1);
    p.mutable_grad() = torch::tensor({0.5, -4.0, 0.0}, torch::kFloat64);
    adam.step();
    CHECK(p[0].item<double>() == Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)));
    CHECK(p[1].item<double>() == Approx(-2.0 + 0.1));
    CHECK(p[2].item<double>() == Approx(3.0));
    CHECK(adam.steps() == 1);
}

TEST_CASE("Adam matches the closed-form second step and restores its state", "[train]") {
    auto p = torch::tensor({1.0}, torch::kFloat64).requires_grad_(true);
    Adam adam({{"p", p}}, 0.01);
    p.mutable_grad() = torch::tensor({2.0}, torch::kFloat64);
    adam.step();
    p.mutable_grad() = torch::tensor({-1.0}, torch::kFloat64);
    adam.step();
    const double m = 0.9 * (0.1 * 2.0) + 0.1 * -1.0;
    const double v = 0.999 * (0.001 * 4.0) + 0.001 * 1.0;
    const double mhat = m / (1 - 0.81), vhat = v / (1 - 0.999 * 0.999);
    const double p1 = 1.0 - 0.01 * 1.0;  // first step: g/|g| = 1
    CHECK(p.item<double>() == Approx(p1 - 0.01 * mhat / (std::sqrt(vhat) + 1e-8)));

    auto q = torch::tensor({0.0}, torch::kFloat64).requires_grad_(true);
    Adam other({{"p", q}}, 0.01);
    auto st = adam.state("x.");
    other.load_state([&](const std::string& k) {
        for (auto& [n, t] : st) if (n == k) return t;
        return torch::Tensor();
    }, "x.", adam.steps(), "test");
    CHECK(other.steps() == 2);
    CHECK_THROWS(other.load_state([](const std::string&) { return torch::Tensor(); }, "x.", 1, "t"));
}

TEST_CASE("gradient clipping scales to the max norm", "[train]") {
    auto p = torch::zeros({2}).requires_grad_(true);
    p.mutable_grad() = torch::tensor({3.0f, 4.0f});
    CHECK(ds::train::clip_grad_norm({p}, 1.0) == Approx(5.0));
    CHECK(p.grad().norm().item<double>() == Approx(1.0).epsilon(1e-4));
}
