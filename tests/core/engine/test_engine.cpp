#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>

#include "core/engine/engine.h"
#include "core/engine/recipe.h"
#include <nlohmann/json.hpp>
#include "core/io/cpu_info.h"
#include "core/io/safetensors.h"
#include "core/models/model_store.h"

namespace fs = std::filesystem;

namespace {
// A random-initialised small model saved as a model file (speed: D=4, T=30).
std::string make_model(ds::ModelKind kind, const std::string& name) {
    auto dir = fs::temp_directory_path() / "ds_engine_models";
    fs::create_directories(dir);
    auto spec = ds::models::ModelSpec::defaults(kind);
    spec.hidden = 4;
    spec.timesteps = 30;
    torch::manual_seed(11);
    auto m = ds::models::build_model(spec);
    const auto path = (dir / (name + ".safetensors")).string();
    ds::models::save_model_file(path, m);
    return path;
}
}  // namespace

TEST_CASE("sampling is deterministic per seed and writes raw tensors", "[engine]") {
    ds::Engine engine({2});
    const auto model = make_model(ds::ModelKind::ClassDdpm, "class");
    ds::SampleRequest r;
    r.model = model;
    r.per_class = 1;
    r.seed = 3;
    auto a = engine.sample(r);
    auto b = engine.sample(r);
    REQUIRE(a.images.size() == 10);
    CHECK(a.labels == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(a.grid.pixels == b.grid.pixels);
    r.seed = 4;
    CHECK(engine.sample(r).grid.pixels != a.grid.pixels);

    r.raw_out = (fs::temp_directory_path() / "ds_engine_raw.safetensors").string();
    r.labels = {7, 7, -1};
    engine.sample(r);
    auto f = ds::io::SafetensorsFile::open(r.raw_out);
    CHECK(f.tensor("samples").sizes() == std::vector<std::int64_t>({3, 1, 28, 28}));
    CHECK(torch::equal(f.tensor("labels"), torch::tensor({7, 7, -1}, torch::kLong)));
    CHECK(f.tensor("samples").min().item<float>() >= 0.0f);
    CHECK(f.tensor("samples").max().item<float>() <= 1.0f);
}

TEST_CASE("every generative kind samples, and frames stream per step", "[engine]") {
    ds::Engine engine({2});
    for (auto kind : {ds::ModelKind::Denoiser, ds::ModelKind::TimeDdpm, ds::ModelKind::TimeFm,
                      ds::ModelKind::ClassFm}) {
        ds::SampleRequest r;
        r.model = make_model(kind, ds::to_string(kind));
        r.count = 3;
        r.steps = 5;
        int frames = 0;
        r.callbacks.on_frame = [&](const ds::FrameEvent& e) {
            ++frames;
            CHECK(!e.x_t.empty());
            CHECK(e.x_t.width == e.x0_hat.width);
        };
        auto res = engine.sample(r);
        INFO(ds::to_string(kind));
        CHECK(res.outcome == ds::Outcome::Completed);
        CHECK(res.images.size() == 3);
        CHECK(frames == (kind == ds::ModelKind::Denoiser ? 1 : kind == ds::ModelKind::TimeDdpm ? 6 : 5));
    }
}

TEST_CASE("sampling reports progress and frames through one reporter and writes its recipe", "[engine]") {
    ds::Engine engine({2});
    ds::SampleRequest r;
    r.model = make_model(ds::ModelKind::TimeDdpm, "time_progress");
    r.count = 2;
    r.steps = 8;  // 9 timesteps from 299 down to 0: 9 steps
    r.seed = 5;
    r.callbacks.preview_interval = 4;
    std::vector<std::int64_t> steps;
    std::int64_t total = -1;
    double eta_last = -2;
    std::vector<int> frame_steps;
    r.callbacks.on_progress = [&](const ds::ProgressEvent& e) {
        CHECK(e.phase == "sample");
        steps.push_back(e.step);
        total = e.total;
        eta_last = e.eta_seconds;
    };
    r.callbacks.on_frame = [&](const ds::FrameEvent& e) { frame_steps.push_back(e.step); };
    auto res = engine.sample(r);
    REQUIRE(res.outcome == ds::Outcome::Completed);
    REQUIRE(steps.size() == 9);
    for (std::size_t i = 0; i < steps.size(); ++i) CHECK(steps[i] == std::int64_t(i) + 1);
    CHECK(total == 9);
    CHECK(eta_last == 0);
    CHECK(frame_steps == std::vector<int>{4, 8, 9});  // every 4th and the last
    auto j = nlohmann::json::parse(res.recipe_json);
    CHECK(j["format"] == "ds.recipe/1");
    CHECK(j["technique"] == "part-b-sample");
    CHECK(j["seed"] == 5);
    CHECK(j["steps"] == 8);
    CHECK(j["labels"].size() == 2);
    CHECK(j["count"] == 2);  // the Studio restores its Samples field from it
    CHECK(ds::parse_recipe(res.recipe_json, "sample").settings.count == std::optional<int>(2));
}

TEST_CASE("sampling cancels within one step", "[engine]") {
    ds::Engine engine({2});
    ds::SampleRequest r;
    r.model = make_model(ds::ModelKind::ClassDdpm, "class_cancel");
    r.per_class = 1;
    int frames = 0;
    r.callbacks.on_frame = [&](const ds::FrameEvent& e) {
        ++frames;
        if (e.step == 2) r.cancel.request(ds::CancelMode::Now);
    };
    auto res = engine.sample(r);
    CHECK(res.outcome == ds::Outcome::Cancelled);
    CHECK(frames == 2);
    CHECK(res.images.empty());
}

TEST_CASE("bad sample requests get clear errors", "[engine]") {
    ds::Engine engine({2});
    const auto cls = make_model(ds::ModelKind::ClassDdpm, "class_bad");
    const auto tim = make_model(ds::ModelKind::TimeDdpm, "time_bad");
    ds::SampleRequest r;
    r.model = cls;
    r.labels = {3, 10};
    CHECK_THROWS_WITH(engine.sample(r), Catch::Contains("class 10"));
    r.labels = {};
    r.guidance = -1;
    CHECK_THROWS_AS(engine.sample(r), ds::InvalidRequest);
    r = {};
    r.model = tim;
    r.per_class = 2;
    CHECK_THROWS_WITH(engine.sample(r), Catch::Contains("takes no class labels"));
    r = {};
    r.model = "no/such/model";
    CHECK_THROWS_AS(engine.sample(r), ds::ModelLoadError);
    // A file that is not a model
    const auto junk = (fs::temp_directory_path() / "ds_engine_junk.safetensors").string();
    ds::io::write_safetensors(junk, {{"x", torch::ones({1})}});
    r.model = junk;
    CHECK_THROWS_WITH(engine.sample(r), Catch::Contains("not a Diffusion Studio model"));
    // Truncated model file
    const auto cut = (fs::temp_directory_path() / "ds_engine_cut.safetensors").string();
    fs::copy_file(cls, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, fs::file_size(cut) / 2);
    r.model = cut;
    CHECK_THROWS_AS(engine.sample(r), ds::ModelLoadError);
}

TEST_CASE("export drops training state and can halve the size", "[engine]") {
    ds::Engine engine({2});
    const auto src = make_model(ds::ModelKind::ClassDdpm, "class_export");
    const auto out = (fs::temp_directory_path() / "ds_engine_export.safetensors").string();
    engine.export_model({src, out, true, "test model"});
    CHECK(fs::file_size(out) < fs::file_size(src) * 0.8);  // tiny model: the JSON header is a large share
    auto info = engine.describe(out);
    CHECK(info.kind == ds::ModelKind::ClassDdpm);
    CHECK(info.description == "test model");
    auto a = ds::models::load_model_file(src), b = ds::models::load_model_file(out);
    auto wa = a.unet->enc1->conv1->conv->weight, wb = b.unet->enc1->conv1->conv->weight;
    CHECK(torch::allclose(wa, wb, 1e-3, 1e-3));
}

TEST_CASE("the engine takes fp32, bf16, fp16 (GPU) and fp32-w16 for DeepFloyd IF and names them when refusing", "[engine]") {
    ds::EngineOptions o;
    o.threads = 1;
    CHECK(ds::Engine::dtype_choices() == std::vector<std::string>{"auto", "fp32", "bf16", "fp16", "fp32-w16"});
    for (const auto& d : ds::Engine::dtype_choices()) {
        o.dtype = d;
        if (d == "fp16")  // GPU only (test_if_device.cpp)
            CHECK_THROWS_AS(ds::Engine(o), ds::InvalidRequest);
        else
            CHECK_NOTHROW(ds::Engine(o));
    }
    o.dtype = "fp64";
    CHECK_THROWS_WITH(ds::Engine(o), Catch::Contains("auto (what measured fastest on this CPU), fp32, bf16, fp16 (GPU only) or fp32-w16") &&
                                         Catch::Contains("'fp64'"));
    CHECK(ds::Engine::dtype_warning("fp32-w16").empty());
}

TEST_CASE("bf16 is flagged on CPUs without AVX-512 and fp32 never is", "[engine]") {
    CHECK(ds::Engine::dtype_warning("fp32").empty());
    const auto w = ds::Engine::dtype_warning("bf16");
    CHECK(w.empty() == ds::io::cpu_has("avx512f"));
    if (!w.empty()) CHECK_THAT(w, Catch::Contains("fp32 is faster"));
    // AVX-512 sub-features never appear without avx512f.
    if (ds::io::cpu_has("avx512_bf16")) CHECK(ds::io::cpu_has("avx512f"));
    CHECK_FALSE(ds::io::cpu_model().empty());
}

TEST_CASE("loss plots skip a torn last metrics line but not a bad line elsewhere", "[engine]") {
    const auto dir = fs::temp_directory_path() / "ds_test_plot_torn";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const auto metrics = dir / "metrics.jsonl";
    {
        std::ofstream out(metrics);
        out << R"({"step":1,"loss":0.5})" << "\n" << R"({"step":2,"loss":0.4})" << "\n" << R"({"step":3,"lo)";
    }
    ds::Engine engine({1});
    ds::LossPlotRequest r;
    r.runs = {dir.string()};
    r.out_png = (dir / "loss.png").string();
    engine.plot_losses(r);  // a run killed mid-write leaves such a line
    CHECK(fs::exists(r.out_png));
    {
        std::ofstream out(metrics);
        out << R"({"step":1,"loss":0.5})" << "\n" << "garbage\n" << R"({"step":3,"loss":0.3})" << "\n";
    }
    CHECK_THROWS_WITH(engine.plot_losses(r), Catch::Contains("metrics.jsonl:2: not a metrics line"));
    fs::remove_all(dir);
}


TEST_CASE("the model catalogue needs no engine and leaves the thread count alone", "[engine]") {
    const int before = at::get_num_threads();
    at::set_num_threads(1);
    ds::EngineOptions o;
    o.threads = 2;
    const auto list = ds::bundled_models(o);
    CHECK(at::get_num_threads() == 1);  // an Engine would have set 2
    REQUIRE(!list.empty());
    std::vector<std::string> ids, engine_ids;
    for (const auto& m : list) ids.push_back(m.id);
    {
        ds::Engine engine(o);
        for (const auto& m : engine.bundled_models()) engine_ids.push_back(m.id);
        CHECK(ds::describe_model(list.front().id, o).path == engine.describe(list.front().id).path);
    }
    CHECK(ids == engine_ids);
    CHECK(!ds::describe_model("mnist-class-ddpm").default_timesteps.empty());
    CHECK_THROWS_AS(ds::describe_model("/nonexistent/model.safetensors"), ds::ModelLoadError);
    o.dtype = "fp64";
    CHECK_THROWS_AS(ds::bundled_models(o), ds::InvalidRequest);
    at::set_num_threads(before);
}
