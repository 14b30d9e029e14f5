// Recipes are data (issue 23): parse_recipe's allow-list of techniques, commands and options.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/engine/hashing.h"
#include "core/engine/image.h"
#include "core/engine/recipe.h"
#include "core/io/bounded_json.h"

using Catch::Contains;
using json = nlohmann::json;

namespace {
json base() {
    return {{"format", "ds.recipe/1"}, {"technique", "sdedit"}, {"command", "sdedit"},
            {"argv", {"--input", "in.png", "--prompt", "7", "--seed", "3"}},
            {"input", {{"path", "in.png"}, {"sha256", "ab"}}}, {"output", {{"sha256", "cd"}}}};
}
std::string error_of(const json& j) {
    try {
        ds::parse_recipe(j.dump(), "r.json");
    } catch (const ds::DataError& e) {
        return e.what();
    }
    return "accepted";
}
}  // namespace

TEST_CASE("a recipe written by a sampling command is accepted with its fields", "[recipe]") {
    const auto r = ds::parse_recipe(base().dump(), "r.json");
    CHECK(r.technique == "sdedit");
    CHECK(r.command == "sdedit");
    CHECK(r.argv == std::vector<std::string>{"--input", "in.png", "--prompt", "7", "--seed", "3"});
    REQUIRE(r.inputs.size() == 1);
    CHECK(r.inputs[0].key == "input");
    CHECK(r.inputs[0].path == "in.png");
    CHECK(r.output_sha256 == "cd");
    CHECK(r.dtype == "fp32");
    CHECK(r.device == "cpu");
    // The GUI's own results carry no command: settings only.
    auto gui = base();
    gui.erase("command");
    gui.erase("argv");
    CHECK(ds::parse_recipe(gui.dump(), "g.json").command.empty());
}

TEST_CASE("recipes cannot name output files, other commands or themselves", "[recipe]") {
    for (const char* opt : {"--out", "--gif", "--raw", "--help"}) {
        auto j = base();
        j["argv"].push_back(opt);
        j["argv"].push_back("/tmp/victim.txt");
        INFO(opt);
        CHECK_THAT(error_of(j), Contains("output files come only from your own command line"));
    }
    // A GIF's frame spacing names no file: recipes written before it was left out still replay,
    // without it.
    auto gif = base();
    const auto before = ds::parse_recipe(base().dump(), "r.json").argv;
    gif["argv"].push_back("--gif-every");
    gif["argv"].push_back("3");
    gif["argv"].push_back("--gif-x0");
    gif["argv"].push_back("--gif-every=5");
    CHECK(ds::parse_recipe(gif.dump(), "r.json").argv == before);
    auto eq = base();
    eq["argv"].push_back("--gif=/tmp/victim.txt");
    CHECK_THAT(error_of(eq), Contains("--gif"));
    auto h = base();
    h["argv"].push_back("-h");
    CHECK_THAT(error_of(h), Contains("help"));
    for (const char* cmd : {"replay", "train", "export", "bench", "prompts", "debug", "plot", ""}) {
        auto j = base();
        j["command"] = cmd;
        INFO(cmd);
        CHECK_THAT(error_of(j), Contains("cannot be replayed"));
    }
    auto no_argv = base();
    no_argv.erase("argv");
    CHECK_THAT(error_of(no_argv), Contains("go together"));
}

TEST_CASE("recipe values are type- and range-checked", "[recipe]") {
    auto j = base();
    j["technique"] = "rm -rf";
    CHECK_THAT(error_of(j), Contains("unknown technique"));
    j = base();
    j["format"] = "ds.recipe/2";
    CHECK_THAT(error_of(j), Contains("ds.recipe/1"));
    j = base();
    j["argv"] = "--seed 3";
    CHECK_THAT(error_of(j), Contains("\"argv\" must be a list"));
    j = base();
    j["argv"] = json::array();
    for (int i = 0; i < 300; ++i) j["argv"].push_back("x");
    CHECK_THAT(error_of(j), Contains("at most 256"));
    j = base();
    j["argv"].push_back(std::string(5000, 'x'));
    CHECK_THAT(error_of(j), Contains("longer than 4096"));
    j = base();
    j["dtype"] = "fp8";
    CHECK_THAT(error_of(j), Contains("dtype 'fp8'"));
    j = base();
    j["device"] = "cuda:x";
    CHECK_THAT(error_of(j), Contains("device"));
    j = base();
    j["device"] = "cuda:1";
    CHECK(error_of(j) == "accepted");
    j = base();
    j["guidance"] = "high";
    CHECK_THAT(error_of(j), Contains("\"guidance\" must be a number"));
    j = base();
    j["seed"] = -1;
    CHECK_THAT(error_of(j), Contains("\"seed\""));
    j = base();
    j["views"] = {"identity", 3};
    CHECK_THAT(error_of(j), Contains("\"views\""));
    j = base();
    j["input"] = "in.png";
    CHECK_THAT(error_of(j), Contains("\"input\" must be an object"));
    CHECK_THAT(error_of(json::array({1, 2})), Contains("not a JSON object"));
}

TEST_CASE("denoise and Euler-step recipes: their own fields are checked", "[recipe]") {
    json d = {{"format", "ds.recipe/1"}, {"technique", "denoise"}, {"model", "mnist-denoiser"},
              {"sigma", 0.5},            {"sweep", {0, 0.5, 1}},   {"pure_noise", false}};
    CHECK(error_of(d) == "accepted");
    auto j = d;
    j["pure_noise"] = "yes";
    CHECK_THAT(error_of(j), Contains("\"pure_noise\" must be true or false"));
    j = d;
    j["sweep"] = {0.5, "1"};
    CHECK_THAT(error_of(j), Contains("\"sweep\" must hold numbers"));
    j = d;
    j["sweep"] = {-1};
    CHECK_THAT(error_of(j), Contains("\"sweep\" must hold numbers in [0"));
    j = d;
    j["sweep"] = json::array();
    for (int i = 0; i < 65; ++i) j["sweep"].push_back(0.1);
    CHECK_THAT(error_of(j), Contains("at most 64 numbers"));
    json f = {{"format", "ds.recipe/1"}, {"technique", "sample"}, {"model", "mnist-class-fm"}, {"flow_steps", 300}};
    CHECK(error_of(f) == "accepted");
    f["flow_steps"] = -2;
    CHECK_THAT(error_of(f), Contains("\"flow_steps\""));
}

TEST_CASE("recipe text is bounded: size, nesting, JSON", "[recipe]") {
    auto expect = [](const std::string& text, const std::string& what) {
        try {
            ds::parse_recipe(text, "r.json");
            FAIL("accepted");
        } catch (const ds::DataError& e) {
            CHECK_THAT(std::string(e.what()), Contains(what));
        }
    };
    expect(std::string(200000, '[') + std::string(200000, ']'), "nested deeper than 64");
    expect("{\"format\": ", "not valid JSON");
    expect("{\"pad\":\"" + std::string(ds::kMaxRecipeBytes, 'x') + "\"}", "bytes of JSON");
    // Brackets inside strings do not count as nesting.
    CHECK(ds::io::json_depth(R"({"a":"[[[[[[","b":[1,{"c":"]]]"}]})") == 3);
}

TEST_CASE("an inpainting recipe from before mask.cover replays with the half-coverage rule", "[recipe]") {
    json j = {{"format", "ds.recipe/1"}, {"technique", "inpaint"}, {"command", "inpaint"},
              {"argv", {"--input", "in.png", "--mask", "m.png"}},
              {"input", {{"path", "in.png"}}}, {"mask", {{"path", "m.png"}, {"grow", 0}, {"feather", 0.0}}}};
    using V = std::vector<std::string>;
    CHECK(ds::parse_recipe(j.dump(), "old.json").argv == V{"--input", "in.png", "--mask", "m.png", "--mask-cover", "half"});
    j["mask"]["cover"] = "any";  // written today: replayed as written
    CHECK(ds::parse_recipe(j.dump(), "new.json").argv == V{"--input", "in.png", "--mask", "m.png"});
    j["mask"]["cover"] = "most";
    CHECK_THAT(error_of(j), Contains("mask.cover"));
    // An old recipe that chose the rule itself keeps its choice.
    j["mask"].erase("cover");
    j["argv"].push_back("--mask-cover=any");
    CHECK(ds::parse_recipe(j.dump(), "old2.json").argv.back() == "--mask-cover=any");
}

TEST_CASE("recipe inputs that name a data-set image are not files", "[engine][recipe]") {
    const auto r = ds::parse_recipe(R"({"format": "ds.recipe/1", "technique": "sdedit", "command": "sdedit",
        "argv": ["--input", "mnist:test:2"], "input": {"path": "mnist:test:2", "sha256": "ab"},
        "mask": {"path": "masks/top.png"}})", "test");
    REQUIRE(r.inputs.size() == 2);
    CHECK(r.inputs[0].is_dataset_image());
    CHECK_FALSE(r.inputs[1].is_dataset_image());
    for (const char* p : {"fashion-mnist:train:0", "mnist:test:123456"}) CHECK(ds::RecipeInput{"input", p, ""}.is_dataset_image());
    for (const char* p : {"mnist:val:1", "mnist:test:", "mnist:test:1234567", "cifar:test:1", "mnist:test:1/../x"})
        CHECK_FALSE(ds::RecipeInput{"input", p, ""}.is_dataset_image());
}

TEST_CASE("parse_recipe gives the settings a front end restores", "[recipe]") {
    json j = base();
    j["model"] = "mnist-class-ddpm";
    j["seed"] = 12;
    j["guidance"] = 3.5;
    j["timesteps"] = {990, 960, 930};
    j["i_starts"] = {1, 3};
    j["prompt"] = "7";
    j["negative_prompt"] = "";
    j["mask"] = {{"grow", 2}, {"feather", 1.5}};
    auto s = ds::parse_recipe(j.dump(), "r.json").settings;
    CHECK(s.model == "mnist-class-ddpm");
    REQUIRE(s.seed);
    CHECK(*s.seed == 12);
    CHECK(s.guidance == 3.5);
    CHECK(s.timesteps == std::vector<std::int64_t>{990, 960, 930});
    CHECK(s.i_starts == std::vector<int>{1, 3});
    CHECK(s.prompts == std::vector<std::string>{"7"});
    CHECK(s.mask_grow == 2.0);
    CHECK(s.mask_feather == 1.5);
    CHECK(!s.count);
    CHECK(!s.i_start);
    CHECK(s.views.empty());

    // An IF text-to-image recipe names its folders "weights" and "upscaler"; a hybrid its two prompts.
    json g = {{"format", "ds.recipe/1"}, {"technique", "if-generate"}, {"weights", "/m/IF-I"},
              {"upscaler", "/m/IF-II"}, {"upscale_steps", 20}, {"seed", 18446744073709551615ull}};
    auto gs = ds::parse_recipe(g.dump(), "g.json").settings;
    CHECK(gs.model == "/m/IF-I");
    CHECK(gs.upscaler == "/m/IF-II");
    CHECK(gs.upscale_steps == 20);
    CHECK(*gs.seed == 18446744073709551615ull);
    json h = {{"format", "ds.recipe/1"}, {"technique", "hybrid"}, {"prompt_far", "1"}, {"prompt_near", "8"},
              {"kernel", 9}, {"sigma", 2.0}};
    auto hs = ds::parse_recipe(h.dump(), "h.json").settings;
    CHECK(hs.prompts == std::vector<std::string>{"1", "8"});
    CHECK(hs.kernel == 9);
    CHECK(hs.sigma == 2.0);

    j["mask"] = {{"grow", -1}};
    CHECK_THROWS_WITH(ds::parse_recipe(j.dump(), "r.json"), Contains("grow"));
}

TEST_CASE("a saved result carries its recipe without output options, and a sidecar with its hash", "[recipe]") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("ds_save_result_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    ds::Image img;
    img.width = 4;
    img.height = 2;
    img.channels = 1;
    img.pixels.assign(8, 200);
    const std::string out = (dir / "fig.png").string();
    ds::save_result_png(img, out, R"({"format": "ds.recipe/1", "technique": "sample", "seed": 3})", "iterate",
                        {"--model", "m", "--out", "x.png", "--gif", "a.gif", "--gif-x0", "--seed", "3"});
    std::string chunk;
    for (const auto& [k, v] : ds::read_png_text(out))
        if (k == "ds.recipe") chunk = v;
    const auto r = ds::parse_recipe(chunk, out);
    CHECK(r.command == "iterate");
    CHECK(r.argv == std::vector<std::string>{"--model", "m", "--seed", "3"});
    CHECK(r.output_sha256.empty());  // the PNG cannot hold its own hash
    CHECK(ds::recipe_sidecar_path(out) == (dir / "fig.json").string());
    std::ifstream side(ds::recipe_sidecar_path(out));
    std::stringstream text;
    text << side.rdbuf();
    const auto s = ds::parse_recipe(text.str(), "sidecar");
    CHECK(s.output_sha256 == ds::sha256_file(out));
    CHECK_THROWS_AS(ds::save_result_png(img, (dir / "g.png").string(), "[1, 2]"), ds::DataError);
    CHECK(!fs::exists(dir / "g.png"));
    fs::remove_all(dir);
}
