// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"
#include "core/models/mnist_classifier.h"
#include "core/models/mnist_unet.h"
#include "core/models/model_store.h"
#include "core/models/model_spec.h"

using namespace ds::models;

TEST_CASE("course UNet parameter counts match the analytic counts", "[models]") {
    UNetConfig c;
    c.hidden = 128;
    CHECK(count_parameters(*MnistUNet(c)) == 7891073);
    c.hidden = 64;
    CHECK(count_parameters(*MnistUNet(c)) == 1975361);
    c.time_mode = TimeMode::Additive;
    CHECK(count_parameters(*MnistUNet(c)) == 1996417);
    c.num_classes = 10;
    CHECK(count_parameters(*MnistUNet(c)) == 2019201);
}

TEST_CASE("UNet output has the input shape for every variant", "[models]") {
    for (auto kind : {ds::ModelKind::Denoiser, ds::ModelKind::TimeDdpm, ds::ModelKind::ClassDdpm,
                      ds::ModelKind::TimeFm, ds::ModelKind::ClassFm}) {
        auto spec = ModelSpec::defaults(kind);
        spec.hidden = 8;
        MnistUNet net(spec.unet_config());
        auto x = torch::rand({3, 1, 28, 28});
        auto t = torch::rand({3});
        auto c = spec.is_class_conditioned() ? torch::eye(10).narrow(0, 0, 3) : torch::Tensor();
        auto y = kind == ds::ModelKind::Denoiser ? net->forward(x) : net->forward(x, t, c);
        CHECK(y.sizes() == x.sizes());
    }
}

TEST_CASE("image size is configurable (multiples of 4)", "[models]") {
    UNetConfig c;
    c.hidden = 4;
    c.image_size = 32;
    c.in_channels = 3;
    MnistUNet net(c);
    CHECK(net->forward(torch::rand({1, 3, 32, 32})).sizes() == std::vector<int64_t>{1, 3, 32, 32});
    c.image_size = 30;
    CHECK_THROWS_AS(MnistUNet(c), ds::InvalidRequest);
}

TEST_CASE("time conditioning is additive for DDPM and multiplicative for FM", "[models]") {
    // With t-embedding weights forced to produce exactly 0, an additive model is unaffected
    // and a multiplicative one zeroes the u0/u1 paths; the outputs must differ.
    torch::manual_seed(1);
    auto add_spec = ModelSpec::defaults(ds::ModelKind::TimeDdpm);
    auto mul_spec = ModelSpec::defaults(ds::ModelKind::TimeFm);
    add_spec.hidden = mul_spec.hidden = 8;
    CHECK(add_spec.unet_config().time_mode == TimeMode::Additive);
    CHECK(mul_spec.unet_config().time_mode == TimeMode::Multiplicative);
    MnistUNet a(add_spec.unet_config());
    a->eval();
    torch::NoGradGuard ng;
    for (auto* fc : {&a->t_fc1, &a->t_fc2}) {
        (*fc)->fc2->weight.zero_();
        (*fc)->fc2->bias.zero_();
    }
    auto x = torch::rand({2, 1, 28, 28});
    auto e = a->encode(x);
    auto y_time = a->decode(e, torch::rand({2}), {});
    // Additive with a zero embedding equals the plain decoder path.
    auto u0 = a->unflatten(e.b);
    auto u1 = a->up1(torch::cat({e.e3, u0}, 1));
    auto u2 = a->up2(torch::cat({e.e2, u1}, 1));
    auto plain = a->out(a->dec(torch::cat({e.e1, u2}, 1)));
    CHECK(torch::allclose(y_time, plain));
}

TEST_CASE("class conditioning follows c*h + t and a zero class vector is unconditional",
          "[models]") {
    torch::manual_seed(2);
    auto spec = ModelSpec::defaults(ds::ModelKind::ClassDdpm);
    spec.hidden = 8;
    MnistUNet net(spec.unet_config());
    net->eval();
    torch::NoGradGuard ng;
    auto x = torch::rand({2, 1, 28, 28});
    auto t = torch::full({2}, 0.5);
    auto c = torch::eye(10).narrow(0, 3, 2);
    auto y1 = net->forward(x, t, c);
    auto y0 = net->forward(x, t, torch::zeros({2, 10}));
    CHECK_FALSE(torch::allclose(y1, y0));
    // Same input twice in one batch -> identical rows (no cross-talk in eval mode).
    auto xx = torch::cat({x.narrow(0, 0, 1), x.narrow(0, 0, 1)});
    auto yy = net->forward(xx, t, torch::cat({c.narrow(0, 0, 1), c.narrow(0, 0, 1)}));
    CHECK(torch::allclose(yy[0], yy[1]));
}

TEST_CASE("model spec JSON round trip and validation", "[models]") {
    auto s = ModelSpec::defaults(ds::ModelKind::ClassFm);
    s.class_names = {"a", "b"};
    auto r = ModelSpec::from_json(s.to_json(), "test");
    CHECK(r.kind == ds::ModelKind::ClassFm);
    CHECK(r.hidden == 64);
    CHECK(r.class_names == s.class_names);
    CHECK_THROWS_AS(ModelSpec::from_json("{\"kind\":\"nope\"}", "x"), ds::ModelLoadError);
    CHECK_THROWS_AS(ModelSpec::from_json("not json", "x"), ds::ModelLoadError);
    CHECK_THROWS_AS(ModelSpec::from_json("{\"kind\":\"denoiser\",\"hidden\":-3}", "x"),
                    ds::ModelLoadError);
    CHECK_THROWS_AS(ds::parse_model_kind("ddpm"), ds::InvalidRequest);
}

TEST_CASE("Unflatten's matmul form equals the 7x7 stride-7 transposed convolution", "[models]") {
    torch::manual_seed(5);
    Unflatten u(16, 7);
    u->eval();
    torch::NoGradGuard ng;
    auto x = torch::randn({3, 16, 1, 1});
    auto ref = torch::gelu(u->bn(torch::conv_transpose2d(x, u->conv->weight, u->conv->bias, 7)));
    CHECK(torch::allclose(u->forward(x), ref, 1e-5, 1e-5));
}

TEST_CASE("Flatten's one-pass inference form equals average pooling then GELU", "[models]") {
    torch::manual_seed(6);
    Flatten f(7);
    const auto cl = at::MemoryFormat::ChannelsLast;
    auto x = torch::randn({3, 16, 7, 7}) * 2;
    auto ref = torch::gelu(torch::avg_pool2d(x, 7));
    {  // training mode and NCHW input take torch's ops
        auto got = f->forward(x.contiguous(cl));
        CHECK(torch::allclose(got, ref, 1e-6, 1e-6));
    }
    f->eval();
    torch::NoGradGuard ng;
    auto got = f->forward(x.contiguous(cl));  // the inference pass
    REQUIRE(got.sizes() == ref.sizes());
    CHECK(torch::allclose(got, ref, 1e-5, 1e-5));
    auto xb = x.to(torch::kBFloat16).contiguous(cl);
    auto got_bf = f->forward(xb);
    CHECK(got_bf.scalar_type() == torch::kBFloat16);
    auto ref_bf = torch::gelu(torch::avg_pool2d(xb.to(torch::kFloat32), 7));
    CHECK(torch::allclose(got_bf.to(torch::kFloat32), ref_bf, 1e-2, 1e-2));  // one bf16 rounding
    CHECK(torch::allclose(f->forward(x), ref, 1e-5, 1e-5));  // NCHW: torch's ops
}

TEST_CASE("inference BatchNorm folding equals conv + BN and follows weight changes", "[models]") {
    torch::manual_seed(6);
    auto spec = ModelSpec::defaults(ds::ModelKind::ClassDdpm);
    spec.hidden = 8;
    MnistUNet net(spec.unet_config());
    {
        torch::NoGradGuard ng;  // BN statistics and affine parameters far from their init values
        for (auto& m : net->modules(false)) {
            if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
                bn->running_mean.uniform_(-0.5, 0.5);
                bn->running_var.uniform_(0.2, 3.0);
                bn->weight.uniform_(0.5, 1.5);
                bn->bias.uniform_(-0.3, 0.3);
            }
        }
    }
    net->eval();
    auto x = torch::rand({4, 1, 28, 28});
    auto t = torch::rand({4});
    auto c = torch::eye(10).narrow(0, 0, 4);
    auto reference = net->forward(x, t, c).detach();  // autograd on: the unfolded conv -> BN path
    torch::Tensor folded;
    {
        torch::NoGradGuard ng;
        CHECK(BnFold::active(*net->enc1->conv1));
        folded = net->forward(x, t, c);
    }
    CHECK_FALSE(torch::equal(folded, reference));       // the two paths really differ in rounding
    CHECK(torch::allclose(folded, reference, 1e-4, 1e-5));

    // Changing a folded source in place (as an optimizer step or loading does) must be seen.
    {
        torch::NoGradGuard ng;
        net->enc1->conv1->bn->running_var.mul_(4);
        auto after = net->forward(x, t, c);
        CHECK_FALSE(torch::equal(after, folded));  // a stale cache would repeat the old output
    }
    auto reference2 = net->forward(x, t, c).detach();
    CHECK((reference2 - reference).abs().max().item<double>() > 1e-4);
    c10::InferenceMode guard;
    CHECK(torch::allclose(net->forward(x, t, c), reference2, 1e-4, 1e-5));
}

TEST_CASE("inference joins the conditioning FCBlocks into two products and follows their weights", "[models]") {
    for (auto kind : {ds::ModelKind::TimeDdpm, ds::ModelKind::TimeFm, ds::ModelKind::ClassDdpm, ds::ModelKind::ClassFm}) {
        INFO(ds::to_string(kind));
        torch::manual_seed(7);
        auto spec = ModelSpec::defaults(kind);
        spec.hidden = 8;
        MnistUNet net(spec.unet_config());
        net->eval();
        auto x = torch::rand({3, 1, 28, 28});
        auto t = torch::rand({3});
        auto c = net->config.num_classes > 0 ? torch::eye(10).narrow(0, 2, 3) : torch::Tensor();
        // A bottleneck far from the untrained one (whose GELU output is ~0, where c * h hides c).
        auto enc = net->encode(x);
        enc.b = torch::randn_like(enc.b) * 3;
        auto run = [&] { return net->decode(enc, t, c); };
        auto reference = run().detach();  // autograd on: every FCBlock on its own
        torch::Tensor joined;
        {
            torch::NoGradGuard ng;
            joined = run();
        }
        CHECK(torch::allclose(joined, reference, 1e-4, 1e-5));
        {  // the joined products against each block on its own
            std::vector<torch::Tensor> blocks;
            if (net->config.time_mode != TimeMode::None)
                for (auto* b : {&net->t_fc1, &net->t_fc2}) blocks.push_back((*b)->fc2(torch::gelu((*b)->fc1(t.reshape({-1, 1})))));
            if (net->config.num_classes > 0)
                for (auto* b : {&net->c_fc1, &net->c_fc2}) blocks.push_back((*b)->fc2(torch::gelu((*b)->fc1(c))));
            torch::NoGradGuard ng;
            auto parts = net->conditioning(t, c, torch::kFloat32);
            REQUIRE(parts.size() == blocks.size());
            for (size_t i = 0; i < parts.size(); ++i) {
                REQUIRE(parts[i].sizes() == torch::IntArrayRef({3, blocks[i].size(1), 1, 1}));
                CHECK(torch::allclose(parts[i].flatten(1), blocks[i], 1e-5, 1e-6));
            }
        }
        // An in-place change to one block's second layer (an optimizer step, an EMA swap) is seen.
        auto& fc = net->config.num_classes > 0 ? net->c_fc1 : net->t_fc1;
        torch::Tensor after;
        {
            torch::NoGradGuard ng;
            fc->fc2->weight.mul_(-20);
            fc->fc2->bias.add_(10);
            after = run();
        }
        auto reference2 = run().detach();
        const double moved = (reference2 - reference).abs().max().item<double>();
        INFO("the change moves the output by " << moved);
        REQUIRE(moved > 1e-6);
        CHECK((after - joined).abs().max().item<double>() > 0.5 * moved);  // a stale cache would not move
        CHECK(torch::allclose(after, reference2, 1e-4, 1e-5));
    }
}

TEST_CASE("a bf16 inference copy runs in bf16, keeps BatchNorm in fp32 and stays close to fp32", "[models]") {
    torch::manual_seed(8);
    auto spec = ModelSpec::defaults(ds::ModelKind::ClassDdpm);
    spec.hidden = 16;
    auto model = ds::models::build_model(spec);
    {
        torch::NoGradGuard ng;
        for (auto& m : model.unet->modules(false))
            if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
                bn->running_mean.uniform_(-0.5, 0.5);
                bn->running_var.uniform_(0.2, 3.0);
            }
    }
    model.unet->eval();
    auto copy = ds::models::with_compute_dtype(model, torch::kBFloat16);
    CHECK(copy.unet.get() != model.unet.get());
    CHECK(copy.unet->out->weight.scalar_type() == torch::kBFloat16);
    CHECK(copy.unet->c_fc1->fc1->weight.scalar_type() == torch::kBFloat16);
    CHECK(copy.unet->enc1->conv1->bn->running_var.scalar_type() == torch::kFloat32);
    CHECK(copy.unet->enc1->conv1->bn->weight.scalar_type() == torch::kFloat32);
    CHECK(model.unet->out->weight.scalar_type() == torch::kFloat32);  // the source is untouched
    CHECK(ds::models::with_compute_dtype(model, torch::kFloat32).unet.get() == model.unet.get());

    c10::InferenceMode guard;
    // Batch 2 (native transposed-convolution size in fp32, phase form in bf16) and 20 (phase form).
    for (int n : {2, 20}) {
        auto x = torch::randn({n, 1, 28, 28});
        auto t = torch::rand({n});
        auto c = torch::zeros({n, 10});
        for (int i = 0; i < n; ++i) c[i][i % 10] = 1;
        auto ref = model.unet->forward(x, t, c);
        auto out = copy.unet->forward(x, t, c);
        INFO("batch " << n);
        CHECK(out.scalar_type() == torch::kFloat32);  // samplers get fp32 back
        CHECK(out.sizes() == ref.sizes());
        const double scale = ref.abs().max().item<double>();
        const double err = (out - ref).abs().max().item<double>();
        CHECK(err > 0);                // really computed in bf16
        CHECK(err < 0.05 * scale);     // bf16 keeps 8 significant bits
        const double rel = ((out - ref).norm() / ref.norm()).item<double>();
        CHECK(rel < 0.02);
    }
}

TEST_CASE("UpConv's four-phase form equals the 4x4 stride-2 transposed convolution, gradients included",
          "[models]") {
    torch::manual_seed(7);
    for (auto [ci, co, hw] : {std::tuple{12, 5, 7}, std::tuple{6, 4, 3}, std::tuple{3, 2, 1}}) {
        INFO(ci << "->" << co << " at " << hw << " px");
        auto x = torch::randn({2, ci, hw, hw + 1}, torch::requires_grad());
        auto w = torch::randn({ci, co, 4, 4}, torch::requires_grad());
        auto b = torch::randn({co}, torch::requires_grad());
        auto ref = torch::conv_transpose2d(x, w, b, 2, 1);
        auto got = conv_transpose_k4s2p1(x, w, b);
        REQUIRE(got.sizes() == ref.sizes());
        CHECK(torch::allclose(got, ref, 1e-5, 1e-5));
        auto g = torch::randn_like(ref);
        auto gr = torch::autograd::grad({ref}, {x, w, b}, {g});
        auto gg = torch::autograd::grad({got}, {x, w, b}, {g});
        for (int i = 0; i < 3; ++i) CHECK(torch::allclose(gg[i], gr[i], 1e-4, 1e-4));
    }
    CHECK_THROWS(conv_transpose_k4s2p1(torch::randn({1, 3, 4, 4}), torch::randn({3, 2, 3, 3}), {}));
}

TEST_CASE("state_numel predicts every model's size without building it at its width", "[models]") {
    for (auto kind : {ds::ModelKind::Denoiser, ds::ModelKind::TimeDdpm, ds::ModelKind::ClassDdpm,
                      ds::ModelKind::TimeFm, ds::ModelKind::ClassFm, ds::ModelKind::Classifier}) {
        for (int d : {4, 64, 128}) {
            auto spec = ModelSpec::defaults(kind);
            spec.hidden = d;
            spec.image_size = d == 4 ? 32 : 28;
            auto m = build_model(spec);
            std::int64_t n = 0;
            for (const auto& [name, t] : state_tensors(m.module())) n += t.numel();
            INFO(ds::to_string(kind) << " D=" << d);
            CHECK(state_numel(spec) == n);
        }
    }
}

TEST_CASE("hostile model files are refused before any large allocation", "[models]") {
    namespace fs = std::filesystem;
    const auto dir = fs::temp_directory_path() / "ds_test_hostile_models";
    fs::remove_all(dir);
    fs::create_directories(dir);
    // Issue 23: a 151-byte file whose spec says D = 1024 built the module first (2.2 GB).
    auto spec = ModelSpec::defaults(ds::ModelKind::ClassDdpm);
    spec.hidden = 1024;
    const auto tiny = (dir / "tiny.safetensors").string();
    ds::io::write_safetensors(tiny, {{"x", torch::zeros({1})}}, {{kSpecKey, spec.to_json()}});
    CHECK_THROWS_WITH(load_model_file(tiny), Catch::Contains("D=1024") && Catch::Contains("holds 1"));
    spec.image_size = 2048;  // the 7x7 bottleneck would be 512 x 512
    ds::io::write_safetensors(tiny, {{"x", torch::zeros({1})}}, {{kSpecKey, spec.to_json()}});
    CHECK_THROWS_WITH(load_model_file(tiny), Catch::Contains("at most 64 px"));

    // NaN weights: an error naming the weight, not a black image.
    auto good = ModelSpec::defaults(ds::ModelKind::TimeDdpm);
    good.hidden = 4;
    auto m = build_model(good);
    {
        torch::NoGradGuard no_grad;
        m.module().named_parameters(true)[0].value().fill_(std::nan(""));
    }
    const auto nan_file = (dir / "nan.safetensors").string();
    save_model_file(nan_file, m, false);
    CHECK_THROWS_WITH(load_model_file(nan_file), Catch::Contains("NaN or infinite"));
    fs::remove_all(dir);
}

TEST_CASE("Fréchet distance matches its closed form on shifted and scaled feature sets", "[models]") {
    torch::manual_seed(5);
    auto a = torch::randn({500, 6}, torch::kFloat64) * torch::tensor({1.0, 2.0, 0.5, 1.0, 3.0, 1.0}, torch::kFloat64);
    CHECK(frechet_distance(a, a) == Approx(0).margin(1e-6));
    // Same covariance, shifted mean: exactly the squared shift.
    auto shift = torch::tensor({1.0, -2.0, 0.0, 0.5, 0.0, 3.0}, torch::kFloat64);
    CHECK(frechet_distance(a, a + shift) == Approx(shift.pow(2).sum().item<double>()).epsilon(1e-6));
    // b = 2a: covariances S and 4S, so Tr(S + 4S - 2 * 2S) = Tr(S), plus |mu|^2.
    auto c = a - a.mean(0);
    const double tr = (c.t().matmul(c) / 499.0).trace().item<double>();
    const double mu2 = a.mean(0).pow(2).sum().item<double>();
    CHECK(frechet_distance(a, 2 * a) == Approx(tr + mu2).epsilon(1e-6));
    CHECK(frechet_distance(a.to(torch::kFloat32), (a + shift).to(torch::kFloat32)) ==
          Approx(shift.pow(2).sum().item<double>()).epsilon(1e-4));
}
