// --dtype auto (issue 24): per model family the precision that measured fastest here, cached per
// machine; a hostile cache is ignored and rewritten; the decision follows the measurement; an
// engine in auto runs and records what it resolved to, never "auto".
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "core/engine/precision_info.h"
#include "core/io/cpu_info.h"
#include "core/models/auto_precision.h"
#include "core/models/model_store.h"

namespace fs = std::filesystem;
using ds::models::Family;
using ds::models::resolve_precision;

namespace {
fs::path fresh_dir(const std::string& name) {
    const auto dir = fs::temp_directory_path() / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}
nlohmann::json read_json(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}
bool cpu_has_bf16() { return ds::io::cpu_has("avx512_bf16") || ds::io::cpu_has("amx_bf16"); }
}  // namespace

TEST_CASE("a named dtype is kept and auto on a GPU is fp16 for IF and fp32 for MNIST", "[engine][precision]") {
    CHECK(resolve_precision("bf16", Family::MnistUnet).dtype == "bf16");
    CHECK(resolve_precision("fp32-w16", Family::DeepFloydIf).dtype == "fp32-w16");
    CHECK(resolve_precision("auto", Family::DeepFloydIf, "cuda:0").dtype == "fp16");
    CHECK(resolve_precision("auto", Family::MnistUnet, "cuda").dtype == "fp32");
    const auto choices = ds::Engine::dtype_choices();
    CHECK(choices.front() == "auto");
}

TEST_CASE("auto measures once per machine, caches, and survives a hostile cache file", "[engine][precision]") {
    const auto dir = fresh_dir("ds_auto_precision");
    const std::string cache = (dir / "precision-auto.json").string();
    const auto first = resolve_precision("auto", Family::MnistUnet, "cpu", cache);
    CHECK((first.dtype == "fp32" || first.dtype == "bf16"));
    if (!cpu_has_bf16()) {
        CHECK_THAT(first.reason, Catch::Contains("no bf16 instructions"));
        CHECK_FALSE(fs::exists(cache));  // nothing to measure
        return;
    }
    CHECK(first.fp32_ms > 0);
    CHECK(first.bf16_ms > 0);
    CHECK_THAT(first.reason, Catch::Contains("measured now"));
    REQUIRE(fs::exists(cache));
    auto j = read_json(cache);
    REQUIRE(j.size() == 1);
    const std::string key = j.begin().key();
    CHECK_THAT(key, Catch::Contains("MNIST UNet"));
    const auto again = resolve_precision("auto", Family::MnistUnet, "cpu", cache);
    CHECK_THAT(again.reason, Catch::Contains("measured earlier"));
    CHECK(again.dtype == first.dtype);
    CHECK(again.fp32_ms == first.fp32_ms);

    // The decision follows the (cached) measurement: bf16 only when >= 1.10x faster.
    j[key] = {{"fp32_ms", 10.0}, {"bf16_ms", 5.0}};
    std::ofstream(cache) << j.dump();
    CHECK(resolve_precision("auto", Family::MnistUnet, "cpu", cache).dtype == "bf16");
    j[key] = {{"fp32_ms", 10.0}, {"bf16_ms", 9.5}};
    std::ofstream(cache) << j.dump();
    CHECK(resolve_precision("auto", Family::MnistUnet, "cpu", cache).dtype == "fp32");

    // Hostile or broken caches: measured again, the file rewritten as valid JSON.
    for (const std::string bad : {std::string("{not json"), std::string("[1,2,3]"),
                                  "{\"" + key + "\": {\"fp32_ms\": \"fast\", \"bf16_ms\": -1}}",
                                  "{\"" + key + "\": {\"fp32_ms\": 0, \"bf16_ms\": 0}}",
                                  std::string(300 * 1024, ' ')}) {
        std::ofstream(cache) << bad;
        const auto r = resolve_precision("auto", Family::MnistUnet, "cpu", cache);
        CHECK_THAT(r.reason, Catch::Contains("measured now"));
        CHECK(read_json(cache).contains(key));
    }
    fs::remove_all(dir);
}

TEST_CASE("an engine in auto runs and records the dtype it resolved to", "[engine][precision]") {
    const auto dir = fresh_dir("ds_auto_precision_engine");
    setenv("DS_CACHE_DIR", dir.c_str(), 1);
    auto spec = ds::models::ModelSpec::defaults(ds::ModelKind::ClassDdpm);
    spec.hidden = 4;
    spec.timesteps = 30;
    torch::manual_seed(5);
    const auto model = (dir / "class.safetensors").string();
    ds::models::save_model_file(model, ds::models::build_model(spec));

    ds::EngineOptions o;
    o.threads = 2;
    o.dtype = "auto";
    ds::Engine engine(o);
    {
        // An MNIST request resolves only the MNIST family: IF's measurement (about half a
        // second) is not paid by users who never open an IF folder.
        ds::SdeditRequest first;
        first.sampler.model = model;
        first.sampler.prompt = "3";
        first.input.image = ds::Image(28, 28, 1);
        first.i_starts = {25};
        REQUIRE(engine.sdedit(first).outcome == ds::Outcome::Completed);
        if (cpu_has_bf16()) {
            const auto cached = read_json(dir / "precision-auto.json");
            CHECK(cached.size() == 1);
            CHECK_THAT(cached.begin().key(), Catch::Contains("MNIST UNet"));
        }
    }
    const auto families = ds::describe_precision(o);
    REQUIRE(families.size() == 2);
    const std::string mnist = families[0].dtype;
    CHECK(families[0].family == "MNIST UNet");
    CHECK((mnist == "fp32" || mnist == "bf16"));
    ds::SdeditRequest r;
    r.sampler.model = model;
    r.sampler.prompt = "7";
    r.input.image = ds::Image(28, 28, 1);
    r.i_starts = {20};
    const auto res = engine.sdedit(r);
    REQUIRE(res.outcome == ds::Outcome::Completed);
    const auto recipe = nlohmann::json::parse(res.recipe_json);
    if (mnist == "fp32")
        CHECK_FALSE(recipe.contains("dtype"));  // as every fp32 recipe before
    else
        CHECK(recipe.value("dtype", "") == mnist);
    // The same request in the resolved dtype gives the same pixels (what a replay does).
    ds::EngineOptions named = o;
    named.dtype = mnist;
    CHECK(ds::Engine(named).sdedit(r).figure.pixels == res.figure.pixels);
    unsetenv("DS_CACHE_DIR");
    fs::remove_all(dir);
}
