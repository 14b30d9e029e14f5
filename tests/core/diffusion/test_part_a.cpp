// Part A building blocks: views, Gaussian filters, the anagram/hybrid predictors, SDEdit and
// inpainting at tensor level.
// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "core/diffusion/combined_predictors.h"
#include "core/diffusion/filters.h"
#include "core/diffusion/schedule.h"
#include "core/diffusion/techniques.h"
#include "core/diffusion/views.h"
#include "core/engine/errors.h"
#include "core/engine/hashing.h"

using namespace ds::diffusion;

namespace {
// eps depends on x (nonlinearly, position-dependent) and on the label, so that views, batching
// and conditioning all show up in the output.
class ProbePredictor : public NoisePredictor {
public:
    ProbePredictor() : s_(linear_schedule(300)) {}
    const torch::Tensor& alpha_bars() const override { return s_.alpha_bars; }
    std::vector<std::int64_t> sample_shape() const override { return {1, 8, 8}; }
    std::pair<double, double> value_range() const override { return {0, 1}; }
    bool has_learned_variance() const override { return true; }
    bool is_conditional() const override { return true; }
    Prediction predict(const torch::Tensor& x, std::int64_t, const Conditioning& c, double g) override {
        ++calls;
        batch_sizes.push_back(x.size(0));
        auto ramp = torch::arange(64, x.options()).view({1, 1, 8, 8}) / 64.0;
        auto lab = torch::tensor(std::vector<float>(c.labels.begin(), c.labels.end())).view({-1, 1, 1, 1});
        auto eps = torch::tanh(x) * (1 + ramp) + 0.1 * lab * g;
        return {eps, torch::sin(x + ramp)};
    }
    int calls = 0;
    std::vector<std::int64_t> batch_sizes;

private:
    Schedule s_;
};

Conditioning labels(int label, int n) { return Conditioning{std::vector<int>(n, label), {}, {}}; }
}  // namespace

TEST_CASE("every view is a permutation (or negation) that unview undoes", "[diffusion][part-a]") {
    auto idx = torch::arange(2 * 1 * 8 * 8, torch::kFloat32).view({2, 1, 8, 8});
    for (const std::string name : {"identity", "flipv", "fliph", "rot90", "rot180", "rot270", "transpose",
                                   "jigsaw4", "jigsaw2:7", "jigsaw8:3"}) {
        INFO(name);
        auto v = parse_view(name);
        CHECK(view_name(v) == name);
        auto y = apply_view(v, idx);
        CHECK(y.sizes() == idx.sizes());
        // A permutation within each image: the same multiset of values per sample.
        for (int n = 0; n < 2; ++n)
            CHECK(torch::equal(std::get<0>(y[n].flatten().sort()), std::get<0>(idx[n].flatten().sort())));
        CHECK(torch::equal(unview(v, y), idx));
        CHECK(torch::equal(unview(v, y, false), idx));
        if (name != "identity") CHECK_FALSE(torch::equal(y, idx));
    }
    // Concrete orientation: flipv puts the top row at the bottom; rot90 is counter-clockwise.
    auto img = torch::arange(4, torch::kFloat32).view({1, 1, 2, 2});  // [[0,1],[2,3]]
    CHECK(torch::equal(apply_view(parse_view("flipv"), img), torch::tensor({2.f, 3.f, 0.f, 1.f}).view({1, 1, 2, 2})));
    CHECK(torch::equal(apply_view(parse_view("rot90"), img), torch::tensor({1.f, 3.f, 0.f, 2.f}).view({1, 1, 2, 2})));
    // Negation: reflection around the range centre at the iterate's noise level.
    auto neg = parse_view("negate");
    const double abar = 0.64, c = 0.5;
    auto x0 = torch::rand({1, 1, 8, 8}, torch::kFloat64), eps = torch::randn({1, 1, 8, 8}, torch::kFloat64);
    auto xt = std::sqrt(abar) * x0 + std::sqrt(1 - abar) * eps;
    // view(x_t) is the noisy version of the negated image (1 - x0) with noise -eps.
    CHECK(torch::allclose(apply_view(neg, xt, abar, c), std::sqrt(abar) * (1 - x0) - std::sqrt(1 - abar) * eps));
    CHECK(torch::allclose(unview(neg, -eps), eps));
    CHECK(torch::equal(unview(neg, eps, false), eps));
    CHECK(torch::allclose(apply_view(neg, apply_view(neg, xt, abar, c), abar, c), xt));
}

TEST_CASE("view names and sizes are validated", "[diffusion][part-a]") {
    CHECK_THROWS_WITH(parse_view("upside-down"), Catch::Contains("unknown view 'upside-down'") &&
                                                     Catch::Contains("rot180"));
    CHECK_THROWS_AS(parse_view("jigsawx"), ds::InvalidRequest);
    CHECK_THROWS_AS(parse_view("jigsaw1"), ds::InvalidRequest);
    CHECK_THROWS_WITH(apply_view(parse_view("jigsaw3"), torch::zeros({1, 1, 8, 8})), Catch::Contains("divisible"));
    auto p = jigsaw_permutation(4, 0);
    CHECK(p.front() == 15);
    CHECK(jigsaw_permutation(4, 5) == jigsaw_permutation(4, 5));
    CHECK(jigsaw_permutation(4, 5) != jigsaw_permutation(4, 6));
}

TEST_CASE("Gaussian kernel, blur, and lowpass + highpass = identity", "[diffusion][part-a]") {
    auto k = gaussian_kernel1d(5, 2.0);
    CHECK(k.sum().item<double>() == Approx(1.0));
    // torchvision: exp(-x^2 / 2 sigma^2) at x = -2..2, normalised.
    const double w1 = std::exp(-1.0 / 8), w2 = std::exp(-4.0 / 8), z = 1 + 2 * w1 + 2 * w2;
    CHECK(k[0].item<double>() == Approx(w2 / z));
    CHECK(k[1].item<double>() == Approx(w1 / z));
    auto x = torch::randn({2, 3, 28, 28});
    for (auto [kern, sigma] : std::vector<std::pair<int, double>>{{33, 2.0}, {5, 1.0}, {65, 8.0}}) {
        CHECK(torch::allclose(lowpass(x, kern, sigma) + highpass(x, kern, sigma), x, 1e-5, 1e-5));
    }
    auto flat = torch::full({1, 1, 10, 10}, 0.3);
    CHECK(torch::allclose(gaussian_blur(flat, 33, 2.0), flat, 1e-6, 1e-6));  // kernel > image: still fine
    // A blur lowers the variance of white noise, the high-pass keeps its mean near 0.
    CHECK(gaussian_blur(x, 33, 2.0).std().item<double>() < 0.3);
    // Reflect padding as torch's (pad < size): compare with an explicit reflect pad + conv.
    auto img = torch::randn({1, 1, 12, 12});
    auto ref = torch::nn::functional::pad(img, torch::nn::functional::PadFuncOptions({2, 2, 2, 2}).mode(torch::kReflect));
    auto k2 = gaussian_kernel1d(5, 1.5);
    auto k2d = (k2.view({5, 1}) * k2.view({1, 5})).view({1, 1, 5, 5});
    CHECK(torch::allclose(gaussian_blur(img, 5, 1.5), torch::conv2d(ref, k2d), 1e-5, 1e-6));
    CHECK_THROWS_AS(gaussian_kernel1d(4, 1.0), ds::InvalidRequest);
    CHECK_THROWS_AS(gaussian_kernel1d(5, 0.0), ds::InvalidRequest);
}

TEST_CASE("anagram predictor: batched views, inverse-mapped and averaged", "[diffusion][part-a]") {
    ProbePredictor base;
    auto x = torch::randn({2, 1, 8, 8});
    const std::int64_t t = 120;
    const double abar = base.alpha_bars()[t].item<double>();
    std::vector<View> views = {parse_view("identity"), parse_view("rot180"), parse_view("negate")};
    AnagramPredictor ana(base, views, {labels(6, 2), labels(9, 2), labels(3, 2)});
    auto p = ana.predict(x, t, {}, 5.0);
    CHECK(base.calls == 1);  // one batched forward for all views
    CHECK(base.batch_sizes.back() == 6);
    // Reference: one call per view.
    ProbePredictor ref;
    auto e0 = ref.predict(x, t, labels(6, 2), 5.0).eps;
    auto e1 = ref.predict(apply_view(views[1], x), t, labels(9, 2), 5.0).eps;
    auto e2 = ref.predict(apply_view(views[2], x, abar, 0.5), t, labels(3, 2), 5.0).eps;
    auto expected = (e0 + unview(views[1], e1) - e2) / 3.0;
    CHECK(torch::allclose(p.eps, expected, 1e-5, 1e-6));
    // Variance from the first view by default, the mean on request.
    CHECK(torch::allclose(p.variance, ref.predict(x, t, labels(6, 2), 5.0).variance));
    AnagramPredictor mean(base, views, {labels(6, 2), labels(9, 2), labels(3, 2)}, true);
    CHECK_FALSE(torch::allclose(mean.predict(x, t, {}, 5.0).variance, p.variance));
    CHECK_THROWS_AS(AnagramPredictor(base, views, {labels(6, 2)}), ds::InvalidRequest);
}

TEST_CASE("hybrid predictor: low-pass of one prompt plus high-pass of the other", "[diffusion][part-a]") {
    ProbePredictor base;
    auto x = torch::randn({1, 1, 8, 8});
    HybridPredictor hy(base, labels(0, 1), labels(8, 1), 5, 1.0);
    auto p = hy.predict(x, 50, {}, 3.0);
    CHECK(base.calls == 1);
    ProbePredictor ref;
    auto e_far = ref.predict(x, 50, labels(0, 1), 3.0).eps, e_near = ref.predict(x, 50, labels(8, 1), 3.0).eps;
    CHECK(torch::allclose(p.eps, lowpass(e_far, 5, 1.0) + highpass(e_near, 5, 1.0), 1e-5, 1e-6));
    // The same prompt twice: exactly the base prediction (lowpass + highpass = identity).
    HybridPredictor same(base, labels(4, 1), labels(4, 1), 5, 1.0);
    CHECK(torch::allclose(same.predict(x, 50, {}, 3.0).eps, ref.predict(x, 50, labels(4, 1), 3.0).eps, 1e-5, 1e-6));
    CHECK_THROWS_AS(HybridPredictor(base, labels(0, 1), labels(1, 1), 4, 1.0), ds::InvalidRequest);
}

TEST_CASE("default strided timesteps follow the course's 990..0 by 30", "[diffusion][part-a]") {
    auto if_list = default_strided_timesteps(1000);
    CHECK(if_list == strided_timesteps(990, 30));
    CHECK(if_list.size() == 34);
    auto mnist = default_strided_timesteps(300);
    CHECK(mnist.front() == 297);
    CHECK(mnist[1] == 288);
    CHECK(mnist.back() == 0);
    CHECK(mnist.size() == 34);
    CHECK(default_strided_timesteps(20).front() == 19);
}

TEST_CASE("inpainting keeps the unmasked pixels of the original exactly", "[diffusion][part-a]") {
    ProbePredictor model;
    auto orig = torch::rand({2, 1, 8, 8});
    auto mask = torch::zeros({1, 1, 8, 8});
    mask.narrow(2, 0, 3).fill_(1);  // generate the top three rows
    IterativeOptions o;
    o.timesteps = default_strided_timesteps(300);
    o.generator = at::make_generator<at::CPUGeneratorImpl>(3);
    std::vector<std::int64_t> seen;
    o.after_step = [&](torch::Tensor&, std::int64_t t) { seen.push_back(t); };
    auto start = torch::randn({2, 1, 8, 8});
    auto out = inpaint(model, start, orig, mask, labels(1, 2), o);
    auto keep = (1 - mask).expand_as(out).to(torch::kBool);
    CHECK(torch::equal(out.masked_select(keep), orig.masked_select(keep)));
    CHECK_FALSE(torch::allclose(out.narrow(2, 0, 3), orig.narrow(2, 0, 3)));
    CHECK(seen.size() == o.timesteps.size());  // the user's hook still runs
    CHECK(seen.back() == -1);
    CHECK_THROWS_AS(inpaint(model, start, orig, torch::zeros({1, 1, 4, 4}), labels(1, 2), o), ds::InvalidRequest);
}

TEST_CASE("SDEdit noises to timesteps[i_start] and takes the remaining steps", "[diffusion][part-a]") {
    ProbePredictor model;
    auto x0 = torch::rand({1, 1, 8, 8});
    auto eps = torch::randn({1, 1, 8, 8});
    IterativeOptions o;
    o.timesteps = default_strided_timesteps(300);
    o.generator = at::make_generator<at::CPUGeneratorImpl>(1);
    o.i_start = 20;
    sdedit(model, x0, eps, labels(2, 1), o);
    CHECK(model.calls == 34 - 20);
    o.i_start = 34;
    CHECK_THROWS_AS(sdedit(model, x0, eps, labels(2, 1), o), ds::InvalidRequest);
    // A very late start returns nearly the input.
    model.calls = 0;
    o.i_start = 33;  // t = 0
    auto y = sdedit(model, x0, eps, labels(2, 1), o);
    CHECK(model.calls == 1);
    CHECK((y - x0).abs().max().item<double>() < 0.05);
}

TEST_CASE("SHA-256 of known vectors", "[io]") {
    CHECK(ds::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(ds::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(ds::sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    CHECK(ds::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK_THROWS_AS(ds::sha256_file("/nonexistent/file"), ds::IoError);
}
