// The Part A techniques through the engine facade: outputs, determinism, cancellation, recipes
// and the bad-input messages. Small random models (D=4, T=30) keep it fast; the bundled models
// are exercised by the CLI tests and docs figures.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "core/diffusion/mnist_predictor.h"
#include "core/models/model_store.h"

namespace fs = std::filesystem;

namespace {
std::string make_model(ds::ModelKind kind, const std::string& name) {
    auto dir = fs::temp_directory_path() / "ds_part_a_models";
    fs::create_directories(dir);
    auto spec = ds::models::ModelSpec::defaults(kind);
    spec.hidden = 4;
    spec.timesteps = 30;
    torch::manual_seed(5);
    auto m = ds::models::build_model(spec);
    const auto path = (dir / (name + ".safetensors")).string();
    ds::models::save_model_file(path, m);
    return path;
}

// A "1": a bright vertical bar on black, 28x28 gray.
ds::Image bar_digit() {
    ds::Image img(28, 28, 1);
    for (int y = 5; y < 23; ++y)
        for (int x = 13; x < 16; ++x) *img.at(x, y) = 255;
    return img;
}

ds::Image top_mask(int size) {
    ds::Image m(size, size, 1);
    for (int y = 0; y < size / 3; ++y)
        for (int x = 0; x < size; ++x) *m.at(x, y) = 255;
    return m;
}

ds::SamplerSettings settings(const std::string& model) {
    ds::SamplerSettings s;
    s.model = model;
    s.prompt = "7";
    s.seed = 9;
    return s;
}
}  // namespace

TEST_CASE("SDEdit strip: one column per i_start, deterministic per seed, recipe complete", "[engine][part-a]") {
    ds::Engine engine({2});
    const auto model = make_model(ds::ModelKind::ClassDdpm, "class");
    ds::SdeditRequest r;
    r.sampler = settings(model);
    r.input.image = bar_digit();
    r.i_starts = {1, 5, 20};
    int frames = 0;
    r.callbacks.on_frame = [&](const ds::FrameEvent& e) {
        ++frames;
        CHECK(e.x_t.width == e.x0_hat.width);
    };
    auto a = engine.sdedit(r);
    REQUIRE(a.outcome == ds::Outcome::Completed);
    CHECK(a.images.size() == 3);
    CHECK(frames == (30 - 1) + (30 - 5) + (30 - 20));
    auto b = engine.sdedit(r);
    CHECK(a.figure.pixels == b.figure.pixels);
    r.sampler.seed = 10;
    CHECK(engine.sdedit(r).figure.pixels != a.figure.pixels);

    auto j = nlohmann::json::parse(a.recipe_json);
    CHECK(j["technique"] == "sdedit");
    CHECK(j["seed"] == 9);
    CHECK(j["prompt"] == "7");
    CHECK(j["guidance"] == 5.0);
    CHECK(j["timesteps"].size() == 30);
    CHECK(j["i_starts"] == std::vector<int>{1, 5, 20});
    CHECK(j["input"]["sha256"].get<std::string>().size() == 64);

    // Shared noise: the same forward noise for every i_start unless asked otherwise.
    r.sampler.seed = 9;
    r.shared_noise = false;
    CHECK(engine.sdedit(r).figure.pixels != a.figure.pixels);
}

TEST_CASE("every technique runs on a class DDPM and returns its figure", "[engine][part-a]") {
    ds::Engine engine({2});
    const auto model = make_model(ds::ModelKind::ClassDdpm, "class");
    ds::NoiseExplorerRequest ex;
    ex.sampler = settings(model);
    ex.input.image = bar_digit();
    auto e = engine.explore_noise(ex);
    CHECK(e.images.size() == 3);  // one-step estimates at T/4, T/2, 3T/4
    CHECK(e.panels.size() == 1 + 3 * 3);
    ex.show_blur = ex.show_one_step = false;
    CHECK(engine.explore_noise(ex).figure.height < e.figure.height);

    ds::IterateRequest it;
    it.sampler = settings(model);
    it.input.image = bar_digit();
    auto i1 = engine.iterate(it);
    CHECK(i1.images.size() == 1);
    CHECK(nlohmann::json::parse(i1.recipe_json)["i_start"] == 10);
    it.input = {};
    it.sampler.count = 5;
    auto s = engine.iterate(it);
    CHECK(s.images.size() == 5);
    CHECK(nlohmann::json::parse(s.recipe_json)["technique"] == "sample");

    ds::InpaintRequest in;
    in.sampler = settings(model);
    in.input.image = bar_digit();
    in.mask.image = top_mask(28);
    auto p = engine.inpaint(in);
    REQUIRE(p.images.size() == 1);
    // Rows below the mask are the original's pixels exactly.
    for (int y = 10; y < 28; ++y)
        for (int x = 0; x < 28; ++x) CHECK(*p.images[0].at(x, y) == *in.input.image.at(x, y));

    ds::AnagramRequest an;
    an.sampler = settings(model);
    an.prompts = {"6", "9"};
    an.views = {"identity", "rot180"};
    an.sampler.count = 2;
    auto a = engine.anagram(an);
    CHECK(a.images.size() == 2);
    CHECK(a.panels.size() == 2);

    ds::HybridRequest hy;
    hy.sampler = settings(model);
    hy.prompt_far = "0";
    hy.prompt_near = "8";
    auto h = engine.hybrid(hy);
    CHECK(h.images.size() == 1);
    CHECK(h.panels.size() == 2);
}

TEST_CASE("Part A cancellation stops within one step", "[engine][part-a]") {
    ds::Engine engine({2});
    const auto model = make_model(ds::ModelKind::ClassDdpm, "class");
    ds::SdeditRequest r;
    r.sampler = settings(model);
    r.input.image = bar_digit();
    r.i_starts = {0, 0};
    int steps = 0;
    r.callbacks.on_progress = [&](const ds::ProgressEvent& e) {
        steps = int(e.step);
        if (e.step == 4) r.cancel.request(ds::CancelMode::Now);
    };
    auto res = engine.sdedit(r);
    CHECK(res.outcome == ds::Outcome::Cancelled);
    CHECK(steps == 4);
    CHECK(res.figure.empty());
}

TEST_CASE("Part A bad input gets clear messages", "[engine][part-a]") {
    ds::Engine engine({2});
    const auto model = make_model(ds::ModelKind::ClassDdpm, "class");
    const auto flow = make_model(ds::ModelKind::ClassFm, "flow");
    const auto time = make_model(ds::ModelKind::TimeDdpm, "time");
    ds::SdeditRequest r;
    r.sampler = settings(model);
    r.input.image = bar_digit();

    r.i_starts = {40};
    CHECK_THROWS_WITH(engine.sdedit(r), Catch::Contains("i_start 40 is outside 0..29"));
    r.i_starts = {1};
    r.sampler.prompt = "eleven";
    CHECK_THROWS_WITH(engine.sdedit(r), Catch::Contains("unknown prompt 'eleven'") && Catch::Contains("0..9"));
    r.sampler.prompt = "10";
    CHECK_THROWS_AS(engine.sdedit(r), ds::InvalidRequest);
    r.sampler.prompt = "3";
    r.sampler.timesteps = {10, 20, 5};
    CHECK_THROWS_AS(engine.sdedit(r), ds::InvalidRequest);
    r.sampler.timesteps = {};
    r.sampler.count = 0;
    CHECK_THROWS_AS(engine.sdedit(r), ds::InvalidRequest);
    r.sampler.count = 1;
    r.sampler.model = flow;  // flow matching runs through the adapter (a random D=4 model)
    CHECK(engine.sdedit(r).images.size() == 1);
    r.sampler.model = make_model(ds::ModelKind::Denoiser, "denoiser");
    CHECK_THROWS_WITH(engine.sdedit(r), Catch::Contains("need a DDPM or flow-matching model"));
    r.sampler.model = time;
    CHECK_THROWS_WITH(engine.sdedit(r), Catch::Contains("unconditional"));
    r.sampler.prompt = "";
    CHECK_NOTHROW(engine.sdedit(r));
    r.sampler.model = model;
    r.input = {};
    r.input.path = "/nonexistent/drawing.png";
    CHECK_THROWS_AS(engine.sdedit(r), ds::IoError);
    r.input.path = "mnist:test:99999999";
    CHECK_THROWS_AS(engine.sdedit(r), ds::Error);

    ds::InpaintRequest in;
    in.sampler = settings(model);
    in.input.image = bar_digit();
    CHECK_THROWS_WITH(engine.inpaint(in), Catch::Contains("needs a mask"));
    in.mask.image = ds::Image(28, 28, 1);
    CHECK_THROWS_WITH(engine.inpaint(in), Catch::Contains("mask is empty"));
    in.mask.image = top_mask(100);  // another size: resized with a note
    auto res = engine.inpaint(in);
    bool noted = false;
    for (const auto& n : res.notes) noted |= n.find("resized the mask from 100x100") != std::string::npos;
    CHECK(noted);

    ds::AnagramRequest an;
    an.sampler = settings(model);
    an.prompts = {"6"};
    CHECK_THROWS_WITH(engine.anagram(an), Catch::Contains("one prompt per view"));
    an.prompts = {"6", "9"};
    an.views = {"identity", "sideways"};
    CHECK_THROWS_WITH(engine.anagram(an), Catch::Contains("unknown view 'sideways'"));

    ds::HybridRequest hy;
    hy.sampler = settings(model);
    hy.prompt_far = "0";
    hy.prompt_near = "8";
    hy.kernel = 8;
    CHECK_THROWS_WITH(engine.hybrid(hy), Catch::Contains("odd"));

    ds::NoiseExplorerRequest ex;
    ex.sampler = settings(model);
    ex.input.image = bar_digit();
    ex.t_list = {5, 30};
    CHECK_THROWS_WITH(engine.explore_noise(ex), Catch::Contains("timestep 30 is outside 0..29"));
}

TEST_CASE("finish current ends an SDEdit strip after the running i_start", "[engine][part-a]") {
    ds::Engine engine({2});
    const auto model = make_model(ds::ModelKind::ClassDdpm, "class");
    ds::SdeditRequest r;
    r.sampler = settings(model);
    r.input.image = bar_digit();
    r.i_starts = {20, 22, 24};
    int steps = 0;
    r.callbacks.on_progress = [&](const ds::ProgressEvent& e) {
        steps = int(e.step);
        if (e.step == 2) r.cancel.request(ds::CancelMode::AfterCurrent);
    };
    auto res = engine.sdedit(r);
    REQUIRE(res.outcome == ds::Outcome::Completed);
    CHECK(steps == 30 - 20);  // the first i_start ran to the end, the others never started
    CHECK(res.images.size() == 1);
    REQUIRE_FALSE(res.notes.empty());
    CHECK_THAT(res.notes.back(), Catch::Contains("stopped after 1 of 3"));
    CHECK_THAT(res.recipe_json, Catch::Contains("\"i_starts\": [\n    20\n  ]"));
}

TEST_CASE("anagram frames carry the x0 estimate through every view", "[engine][part-a]") {
    ds::Engine engine({2});
    const auto model = make_model(ds::ModelKind::ClassDdpm, "class");
    ds::AnagramRequest an;
    an.sampler = settings(model);
    an.sampler.count = 1;
    an.prompts = {"6", "9"};
    an.views = {"identity", "rot180"};
    int frames = 0;
    an.callbacks.on_frame = [&](const ds::FrameEvent& e) {
        ++frames;
        REQUIRE(e.views.size() == 2);
        CHECK(e.views[0].first == "view identity");
        CHECK(e.views[1].first == "view rot180");
        CHECK(e.views[0].second.pixels == e.x0_hat.pixels);
        // rot180 of a one-sample grid: pixel (x, y) comes from (w-1-x, h-1-y).
        const auto& v = e.views[1].second;
        REQUIRE(v.width == e.x0_hat.width);
        REQUIRE(v.height == e.x0_hat.height);
        bool same = true;
        for (int y = 0; y < v.height; ++y)
            for (int x = 0; x < v.width; ++x)
                for (int c = 0; c < v.channels; ++c)
                    same &= v.at(x, y)[c] == e.x0_hat.at(v.width - 1 - x, v.height - 1 - y)[c];
        CHECK(same);
    };
    CHECK(engine.anagram(an).outcome == ds::Outcome::Completed);
    CHECK(frames == 30);

    // Other techniques send no views.
    ds::IterateRequest it;
    it.sampler = settings(model);
    it.sampler.count = 1;
    int with_views = 0;
    it.callbacks.on_frame = [&](const ds::FrameEvent& e) { with_views += !e.views.empty(); };
    engine.iterate(it);
    CHECK(with_views == 0);
}

TEST_CASE("flow matching through the DDPM interface: the adapter's closed form and the bundled models", "[part-a]") {
    // Data concentrated at one image x*: the ideal DDPM noise prediction at (x_t, t) is
    // (x_t - sqrt(abar) x*) / sqrt(1 - abar), the ideal flow velocity at (x_s, s) is
    // (x* - x_s) / (1 - s). The adapter must turn the second into the first at every timestep.
    torch::manual_seed(3);
    const auto x_star = torch::rand({2, 1, 28, 28}, torch::kFloat64);
    const auto x_t = torch::randn({2, 1, 28, 28}, torch::kFloat64);
    for (double abar : {0.9999, 0.9, 0.5, 0.1, 0.048}) {
        const auto p = ds::diffusion::flow_point(x_t, abar);
        CHECK(p.s == Approx(std::sqrt(abar) / (std::sqrt(abar) + std::sqrt(1 - abar))));
        const auto v = (x_star - p.x) / (1 - p.s);
        const auto eps = ds::diffusion::eps_from_velocity(p, v);
        const auto expected = (x_t - std::sqrt(abar) * x_star) / std::sqrt(1 - abar);
        INFO("abar " << abar);
        CHECK(torch::allclose(eps, expected, 1e-9, 1e-9));
    }

    // The bundled class-conditioned flow model samples asked-for digits on the course's strided
    // DDPM timesteps (iterate = course 1.5/1.6 through the adapter), as the scoring classifier sees them.
    ds::Engine engine({2});
    auto clf = ds::models::load_model_file(std::string(DS_SOURCE_DIR) + "/tests/data/mnist-classifier.safetensors");
    clf.classifier->eval();
    int right = 0;
    for (int digit : {3, 7}) {
        ds::IterateRequest r;
        r.sampler.model = "mnist-class-fm";
        r.sampler.prompt = std::to_string(digit);
        r.sampler.count = 5;
        r.sampler.seed = 11;
        auto res = engine.iterate(r);
        REQUIRE(res.images.size() == 5);
        for (const auto& img : res.images) {
            auto x = torch::from_blob(const_cast<std::uint8_t*>(img.pixels.data()), {1, 1, img.height, img.width},
                                      torch::kUInt8).to(torch::kFloat32) / 255.0;
            c10::InferenceMode guard;
            right += clf.classifier->forward(x).argmax(1).item<int>() == digit;
        }
    }
    CHECK(right >= 8);  // of 10
}

TEST_CASE("Generate with Euler steps: a flow model's own sampler through iterate", "[engine][part-a]") {
    ds::Engine engine({2});
    const auto flow = make_model(ds::ModelKind::ClassFm, "flow");
    ds::IterateRequest r;
    r.sampler = settings(flow);
    r.sampler.count = 3;
    r.sampler.guidance = 3;
    r.flow_steps = 6;
    std::vector<double> ts;
    int last_progress = 0;
    r.callbacks.on_frame = [&](const ds::FrameEvent& f) {
        CHECK(f.total == 6);
        ts.push_back(f.t);
    };
    r.callbacks.on_progress = [&](const ds::ProgressEvent& e) { last_progress = int(e.step); };
    auto res = engine.iterate(r);
    REQUIRE(res.images.size() == 3);
    CHECK(last_progress == 6);
    REQUIRE(ts.size() == 6);
    for (int k = 0; k < 6; ++k) CHECK(ts[k] == Approx((k + 1) / 6.0));
    const auto recipe = nlohmann::json::parse(res.recipe_json);
    CHECK(recipe["technique"] == "sample");
    CHECK(recipe["flow_steps"] == 6);
    CHECK_FALSE(recipe.contains("timesteps"));  // no DDPM list was used

    // The same noise, labels, guidance and steps as Part B's sampler: the same pixels.
    ds::SampleRequest s;
    s.model = flow;
    s.labels = {7, 7, 7};
    s.guidance = 3;
    s.steps = 6;
    s.seed = 9;
    auto b = engine.sample(s);
    REQUIRE(b.images.size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(b.images[i].pixels == res.images[i].pixels);

    // Cancel inside the Euler loop.
    ds::IterateRequest c = r;
    c.callbacks.on_frame = nullptr;
    c.callbacks.on_progress = [&](const ds::ProgressEvent& e) {
        if (e.step == 2) c.cancel.request(ds::CancelMode::Now);
    };
    CHECK(engine.iterate(c).outcome == ds::Outcome::Cancelled);

    // Euler steps are for flow models sampling from noise.
    r.callbacks = {};
    r.sampler.model = make_model(ds::ModelKind::ClassDdpm, "class");
    CHECK_THROWS_WITH(engine.iterate(r), Catch::Contains("need a flow-matching model"));
    r.sampler.model = flow;
    r.input.image = bar_digit();
    CHECK_THROWS_WITH(engine.iterate(r), Catch::Contains("from pure noise"));
    r.input = {};
    r.flow_steps = -3;
    CHECK_THROWS_WITH(engine.iterate(r), Catch::Contains("flow_steps must be in 1.."));
}

TEST_CASE("the single-step denoiser on any image: main result, sweep strip, pure noise", "[engine][part-a]") {
    ds::Engine engine({2});
    const auto model = make_model(ds::ModelKind::Denoiser, "denoiser");
    ds::DenoiseRequest r;
    r.model = model;
    r.input.image = bar_digit();
    r.input.fit = ds::InputFit::Stretch;  // 28 px in, 28 px model: the pixels as given
    r.input.invert = ds::Invert::No;
    r.sigma = 0.5;
    r.seed = 4;
    int frames = 0;
    double frame_t = 0;
    r.callbacks.on_frame = [&](const ds::FrameEvent& f) {
        ++frames;
        frame_t = f.t;
    };
    auto res = engine.denoise(r);
    REQUIRE(res.images.size() == 1);
    CHECK(frames == 1);
    CHECK(frame_t == Approx(0.5));
    CHECK(res.panels.size() == 3);  // input, noisy, denoised

    // D(x + sigma eps) with eps the seed's first draw, computed here directly.
    auto loaded = ds::models::load_model_file(model);
    loaded.unet->eval();
    c10::InferenceMode guard;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
    const auto eps = torch::randn({1, 1, 28, 28}, gen, torch::kFloat32);
    const auto& px = r.input.image.pixels;
    auto x = torch::from_blob(const_cast<std::uint8_t*>(px.data()), {1, 1, 28, 28}, torch::kUInt8).to(torch::kFloat32) / 255.0;
    auto expected = (loaded.unet->forward(x + 0.5 * eps).clamp(0, 1) * 255).round().to(torch::kUInt8).flatten();
    auto got = torch::from_blob(const_cast<std::uint8_t*>(res.images[0].pixels.data()), {28 * 28}, torch::kUInt8);
    CHECK((expected.to(torch::kInt) - got.to(torch::kInt)).abs().max().item<int>() <= 1);

    // The sweep shares the noise draw: its column at the main sigma is the main result.
    r.sweep = {0.0, 0.5, 1.0};
    auto sw = engine.denoise(r);
    REQUIRE(sw.panels.size() == 3 + 2 * 3);
    auto panel = [&](const std::string& name) {
        for (const auto& [n, img] : sw.panels)
            if (n == name) return img;
        FAIL("no panel " << name);
        return ds::Image{};
    };
    CHECK(panel("denoised sigma 0.5").pixels == panel("denoised").pixels);
    CHECK(panel("noisy sigma 0").pixels == panel("input").pixels);  // sigma 0 is the clean input
    CHECK(sw.figure.height > res.figure.height);
    const auto recipe = nlohmann::json::parse(sw.recipe_json);
    CHECK(recipe["technique"] == "denoise");
    CHECK(recipe["sweep"].size() == 3);
    CHECK(recipe["input"].contains("sha256"));

    // Pure noise: the canvas is not used; one output per sample.
    ds::DenoiseRequest p;
    p.model = model;
    p.pure_noise = true;
    p.count = 3;
    double pt = 0;
    p.callbacks.on_frame = [&](const ds::FrameEvent& f) { pt = f.t; };
    auto pure = engine.denoise(p);
    CHECK(pure.images.size() == 3);
    CHECK(pt == -1);
    CHECK(nlohmann::json::parse(pure.recipe_json)["pure_noise"] == true);
}

TEST_CASE("the denoiser's bad input gets clear messages", "[engine][part-a]") {
    ds::Engine engine({2});
    ds::DenoiseRequest r;
    r.model = make_model(ds::ModelKind::Denoiser, "denoiser");
    CHECK_THROWS_WITH(engine.denoise(r), Catch::Contains("needs an input image"));
    r.input.image = bar_digit();
    r.sigma = -0.1;
    CHECK_THROWS_WITH(engine.denoise(r), Catch::Contains("sigma must be in [0, 10]"));
    r.sigma = 0.5;
    r.sweep = std::vector<double>(21, 0.5);
    CHECK_THROWS_WITH(engine.denoise(r), Catch::Contains("at most 20 sigma values"));
    r.sweep = {0.2, std::nan("")};
    CHECK_THROWS_AS(engine.denoise(r), ds::InvalidRequest);
    r.sweep = {};
    r.pure_noise = true;
    r.count = 65;
    CHECK_THROWS_WITH(engine.denoise(r), Catch::Contains("count must be in 1..64"));
    r.pure_noise = false;
    r.count = 1;
    r.model = make_model(ds::ModelKind::ClassDdpm, "class");
    CHECK_THROWS_WITH(engine.denoise(r), Catch::Contains("needs a single-step denoiser"));
}
