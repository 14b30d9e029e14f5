// DeepFloyd IF as a noise predictor: leading timesteps, stage II noising parity, CFG as the
// pipeline does it, the prompt cache, and the Part A techniques on a tiny IF folder built from the
// fixtures (stage I UNet + a random T5 of matching width + the fixture tokenizer).
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/diffusion/if_predictor.h"
#include "core/diffusion/schedule.h"
#include "core/engine/engine.h"
#include "core/io/safetensors.h"
#include "core/text/prompt_encoder.h"
#include "tests/support/tiny_if.h"

namespace fs = std::filesystem;
using namespace ds::diffusion;

namespace {
const std::string kFix = DS_FIXTURES_DIR;
using ds::testing::make_tiny_if_folder;

ds::Image rgb_photo(int w, int h) {
    ds::Image img(w, h, 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            auto* p = img.at(x, y);
            p[0] = std::uint8_t(x * 255 / w);
            p[1] = std::uint8_t(y * 255 / h);
            p[2] = 128;
        }
    return img;
}
}  // namespace

TEST_CASE("leading timesteps as set_timesteps(n)", "[diffusion][if][fixture]") {
    auto f = ds::io::SafetensorsFile::open(kFix + "/ddpm_if_scheduler/cases.safetensors");
    auto d = f.tensor("timesteps_default");
    CHECK(leading_timesteps(1000, 20) == std::vector<std::int64_t>(d.data_ptr<std::int64_t>(), d.data_ptr<std::int64_t>() + d.numel()));
    CHECK(leading_timesteps(1000, 100).front() == 990);
    CHECK(leading_timesteps(1000, 50)[1] == 960);
    CHECK_THROWS_AS(leading_timesteps(1000, 0), ds::InvalidRequest);
}

TEST_CASE("stage II conditioning: bilinear align_corners upscale + add_noise at 250 (1e-6)", "[diffusion][if][fixture]") {
    auto f = ds::io::SafetensorsFile::open(kFix + "/ddpm_if_scheduler/cases.safetensors");
    auto levels = f.tensor("noising.noise_level");
    REQUIRE(levels[0].item<std::int64_t>() == 250);
    auto got = upscale_and_noise(f.tensor("noising.low_res"), 32, 250, f.tensor("noising.noise"));
    CHECK((got - f.tensor("noising.noised")).abs().max().item<double>() < 1e-6);
    CHECK(((cosine_schedule(1000).alpha_bars - f.tensor("noising.alphas_cumprod")).abs().max().item<double>()) < 1e-6);
    CHECK_THROWS_AS(upscale_and_noise(f.tensor("noising.low_res"), 32, 1000, f.tensor("noising.noise")), ds::InvalidRequest);
}

TEST_CASE("IF predictor: CFG in one batched forward, variance from the prompt half", "[diffusion][if]") {
    const auto dir = make_tiny_if_folder();
    auto unet = std::make_shared<ds::models::IfUNet>(ds::models::IfUNet::load(dir + "/unet"));
    const auto cache = fs::temp_directory_path() / "ds_prompt_cache_test";
    fs::remove_all(cache);
    auto prompts = std::make_shared<ds::text::PromptEncoder>(dir + "/text_encoder", dir + "/tokenizer/spiece.model", cache.string());
    IfNoisePredictor p(unet, prompts);
    CHECK(p.sample_shape() == std::vector<std::int64_t>{3, 32, 32});
    CHECK(p.default_guidance() == 7.0);
    auto cond = p.encode_prompts({"a photo of a cat", "an oil painting"}, "");
    REQUIRE(cond.text.sizes() == torch::IntArrayRef({2, 77, 32}));
    REQUIRE(cond.text_uncond.sizes() == torch::IntArrayRef({1, 77, 32}));
    CHECK(prompts->cached("a photo of a cat"));
    CHECK(fs::exists(cache));
    auto x = torch::randn({2, 3, 32, 32});
    auto cfg = p.predict(x, 500, cond, 7.0);
    // Reference: separate conditional and unconditional calls of the UNet.
    auto t = torch::full({2}, 500L);
    auto oc = unet->forward(x, t, cond.text);
    auto ou = unet->forward(x, t, cond.text_uncond.expand({2, -1, -1}));
    auto eps = ou.narrow(1, 0, 3) + 7.0 * (oc.narrow(1, 0, 3) - ou.narrow(1, 0, 3));
    INFO("max |cfg - separate| = " << (cfg.eps - eps).abs().max().item<double>()
         << ", max |eps| = " << eps.abs().max().item<double>());
    // Different batch shapes take different conv kernels (AVX2 vs AVX-512 oneDNN paths): the UNet
    // outputs agree to ~1e-5, and eps_u + 7 (eps_c - eps_u) scales that error by up to 15.
    CHECK(torch::allclose(cfg.eps, eps, 1e-4, 2e-4));
    CHECK(torch::allclose(cfg.variance, oc.narrow(1, 3, 3), 1e-4, 1e-5));
    auto plain = p.predict(x, 500, cond, 1.0);
    CHECK(torch::allclose(plain.eps, oc.narrow(1, 0, 3), 1e-4, 1e-5));
    // The cache serves the prompt without the encoder: a cache-only encoder with the same identity.
    ds::text::PromptEncoder again(dir + "/text_encoder", dir + "/tokenizer/spiece.model", cache.string());
    CHECK(again.cached("a photo of a cat"));
    CHECK(torch::equal(again.encode("a photo of a cat"), cond.text.narrow(0, 0, 1)));
    ds::text::PromptEncoder none("", "", cache.string());
    CHECK_THROWS_WITH(none.encode("never seen"), Catch::Contains("prompts import"));
}

TEST_CASE("Part A techniques run unchanged on an IF folder with text prompts", "[diffusion][if][engine]") {
    const auto dir = make_tiny_if_folder();
    setenv("DS_CACHE_DIR", (fs::temp_directory_path() / "ds_cache_engine").c_str(), 1);
    ds::Engine engine({2});
    ds::SdeditRequest sd;
    sd.sampler.model = dir;
    sd.sampler.prompt = "a photo of a cat";
    sd.sampler.seed = 5;
    sd.input.image = rgb_photo(48, 36);  // cropped and resized to 32x32, [-1, 1]
    sd.i_starts = {10, 20};
    auto a = engine.sdedit(sd);
    CHECK(a.images.size() == 2);
    CHECK(a.images[0].channels == 3);
    CHECK(a.images[0].width == 32);
    auto recipe = nlohmann::json::parse(a.recipe_json);
    CHECK(recipe["guidance"] == 7.0);
    CHECK(recipe["variance"] == "auto");
    CHECK(recipe["timesteps"].size() == 34);
    CHECK(recipe["timesteps"][0] == 990);
    CHECK(engine.sdedit(sd).figure.pixels == a.figure.pixels);  // deterministic

    ds::AnagramRequest an;
    an.sampler = sd.sampler;
    an.sampler.timesteps = {990, 660, 330, 0};
    an.prompts = {"an oil painting of an old man", "an oil painting of people around a campfire"};
    an.views = {"identity", "flipv"};
    CHECK(engine.anagram(an).images.size() == 1);
    an.views = {"identity", "negate"};  // [-1, 1] range: negation is a true reflection here
    CHECK(engine.anagram(an).images.size() == 1);

    ds::HybridRequest hy;
    hy.sampler = an.sampler;
    hy.prompt_far = "a lithograph of a skull";
    hy.prompt_near = "a lithograph of waterfalls";
    CHECK(engine.hybrid(hy).images.size() == 1);

    ds::InpaintRequest in;
    in.sampler = an.sampler;
    in.input.image = rgb_photo(32, 32);
    in.mask.image = ds::Image(32, 32, 1);
    for (int y = 2; y < 12; ++y)
        for (int x = 8; x < 24; ++x) *in.mask.image.at(x, y) = 255;
    auto r = engine.inpaint(in);
    for (int y = 14; y < 32; ++y)  // kept rows equal the input exactly
        for (int x = 0; x < 32; ++x)
            for (int c = 0; c < 3; ++c) CHECK(r.images[0].at(x, y)[c] == in.input.image.at(x, y)[c]);

    ds::IterateRequest it;
    it.sampler = an.sampler;
    it.sampler.x0_limit = ds::X0Limit::Dynamic;
    it.sampler.count = 2;
    CHECK(engine.iterate(it).images.size() == 2);
    // Learned variance is available (6 output channels).
    it.sampler.variance = ds::VarianceChoice::Learned;
    CHECK_NOTHROW(engine.iterate(it));
}

TEST_CASE("IF generate: stage I (+ stage II) is deterministic per seed", "[diffusion][if][engine]") {
    const auto dir = make_tiny_if_folder();
    const auto up = fs::temp_directory_path() / "ds_tiny_if_stage2";
    fs::create_directories(up / "unet");
    for (const char* f : {"config.json", "diffusion_pytorch_model.safetensors"})
        if (!fs::exists(up / "unet" / f)) fs::copy_file(kFix + "/if_stage2_unet_tiny/" + f, up / "unet" / f);
    setenv("DS_CACHE_DIR", (fs::temp_directory_path() / "ds_cache_engine").c_str(), 1);
    ds::Engine engine({2});
    ds::IfGenerateRequest r;
    r.weights = dir;
    r.prompts = {"a photo of a cat", "a rocket ship"};
    r.count = 2;
    r.steps = 8;
    r.seed = 11;
    int progress = 0;
    std::vector<std::string> loads;
    r.callbacks.on_progress = [&](const ds::ProgressEvent& e) {
        if (e.phase.rfind("loading ", 0) == 0) {
            if (e.step == e.total) loads.push_back(e.phase);
        } else {
            ++progress;
        }
    };
    auto a = engine.if_generate(r);
    CHECK(a.images.size() == 4);
    CHECK(progress == 8);
    // The first run loads stage I's UNet (the prompts are cached from earlier runs or encoded by
    // T5 before it); the second reuses it from the engine's cache.
    REQUIRE_FALSE(loads.empty());
    CHECK(loads.back().find("loading the IF stage I UNet") == 0);
    loads.clear();
    CHECK(engine.if_generate(r).figure.pixels == a.figure.pixels);
    CHECK(loads.empty());
    r.upscaler = up.string();
    r.upscale_steps = 4;
    auto b = engine.if_generate(r);
    CHECK(b.images.size() == 4);
    CHECK(b.images[0].pixels != a.images[0].pixels);
    CHECK(loads == std::vector<std::string>{"loading the IF stage II UNet (0.0 GB)"});
    // A cancel while stage II loads ends the run as cancelled, and nothing half-loaded is kept.
    ds::Engine fresh({2});
    ds::IfGenerateRequest c = r;
    c.cancel = ds::CancelToken();  // its own token (a copy would share r's)
    c.callbacks.on_progress = [&](const ds::ProgressEvent& e) {
        if (e.phase.rfind("loading the IF stage II", 0) == 0) c.cancel.request(ds::CancelMode::Now);
    };
    CHECK(fresh.if_generate(c).outcome == ds::Outcome::Cancelled);
    loads.clear();
    auto again = fresh.if_generate(r);
    CHECK(again.figure.pixels == b.figure.pixels);
    CHECK(loads == std::vector<std::string>{"loading the IF stage II UNet (0.0 GB)"});
    // A machine too small for the largest model is refused before anything loads, naming sizes.
    setenv("DS_MEMORY_LIMIT_GB", "0.0001", 1);
    ds::Engine small({2});
    CHECK_THROWS_WITH(small.if_generate(r), Catch::Contains("at its peak") && Catch::Contains("stage I UNet") &&
                                                Catch::Contains("stage II UNet") && Catch::Contains("Nothing was loaded"));
    unsetenv("DS_MEMORY_LIMIT_GB");
    r.noise_level = 1000;
    CHECK_THROWS_AS(engine.if_generate(r), ds::InvalidRequest);
    r.noise_level = 250;
    r.upscaler = "/nonexistent";
    CHECK_THROWS_AS(engine.if_generate(r), ds::ModelLoadError);
    // A stage II folder is refused by the Part A techniques with a pointer to upscaling.
    ds::IterateRequest it;
    it.sampler.model = up.string();
    CHECK_THROWS_WITH(engine.iterate(it), Catch::Contains("stage II"));
}

TEST_CASE("IF generate with --dtype fp32-w16 gives nearly the fp32 images", "[diffusion][if][engine]") {
    const auto dir = make_tiny_if_folder();
    setenv("DS_CACHE_DIR", (fs::temp_directory_path() / "ds_cache_w16").c_str(), 1);
    ds::IfGenerateRequest r;
    r.weights = dir;
    r.prompts = {"a rocket ship"};
    r.count = 1;
    r.steps = 6;
    r.seed = 5;
    ds::EngineOptions o;
    o.threads = 2;
    auto full = ds::Engine(o).if_generate(r);
    o.dtype = "fp32-w16";
    auto w16 = ds::Engine(o).if_generate(r);
    REQUIRE(w16.images.size() == 1);
    auto mean_abs_diff = [](const ds::Image& x, const ds::Image& y) {
        REQUIRE(x.pixels.size() == y.pixels.size());
        double d = 0;
        for (std::size_t i = 0; i < x.pixels.size(); ++i) d += std::abs(int(x.pixels[i]) - int(y.pixels[i]));
        return d / double(x.pixels.size());
    };
    const double w16_vs_fp32 = mean_abs_diff(w16.images[0], full.images[0]);
    // The scale of "a different image": the fp32 result of the next seed.
    r.seed = 6;
    o.dtype = "fp32";
    const double other_seed = mean_abs_diff(ds::Engine(o).if_generate(r).images[0], full.images[0]);
    INFO("w16 vs fp32 " << w16_vs_fp32 << ", another seed " << other_seed);
    CHECK(w16_vs_fp32 > 0);  // the fixture's fp32 weights really were held in bf16
    CHECK(w16_vs_fp32 < 0.5 * other_seed);
    // The recipe records the precision (fp32, the default, stays unrecorded as in older recipes).
    CHECK(nlohmann::json::parse(w16.recipe_json).value("dtype", "") == "fp32-w16");
    CHECK_FALSE(nlohmann::json::parse(full.recipe_json).contains("dtype"));
}

TEST_CASE("prompt embeddings from another precision are cached apart from fp32 ones", "[text][if]") {
    const auto dir = make_tiny_if_folder();
    const auto enc = dir + "/text_encoder", spiece = dir + "/tokenizer/spiece.model";
    const auto cache = (fs::temp_directory_path() / "ds_cache_precision").string();
    fs::remove_all(cache);
    ds::text::PromptEncoder fp32(enc, spiece, cache), again(enc, spiece, cache);
    ds::text::PromptEncoder w16(enc, spiece, cache, ds::models::Precision::fp32_w16());
    ds::text::PromptEncoder bf16(enc, spiece, cache, torch::kBFloat16);
    CHECK(fp32.identity() == again.identity());
    CHECK(w16.identity() != fp32.identity());
    CHECK(bf16.identity() != fp32.identity());
    CHECK(bf16.identity() != w16.identity());
    fp32.encode("a rocket ship");
    CHECK(again.cached("a rocket ship"));
    CHECK_FALSE(w16.cached("a rocket ship"));
    // Imported course embeddings (no encoder folder) are precision-free.
    CHECK(ds::text::PromptEncoder("", "", cache, ds::models::Precision::fp32_w16()).identity() ==
          ds::text::PromptEncoder::kIfT5Identity);
}

TEST_CASE("importing a prompt-embedding dict fills the cache, and bad files are refused", "[text][if]") {
    const auto cache = fs::temp_directory_path() / "ds_import_cache";
    fs::remove_all(cache);
    c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
    dict.insert("a rocket ship", torch::randn({1, 77, 32}));
    dict.insert("", torch::randn({1, 77, 32}));
    auto bytes = torch::pickle_save(dict);
    const auto pth = (fs::temp_directory_path() / "ds_embeds.pth").string();
    std::ofstream(pth, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    ds::Engine engine({1});
    CHECK(engine.import_prompts({pth, cache.string()}) == 2);
    ds::text::PromptEncoder only_cache("", "", cache.string());
    CHECK(only_cache.cached("a rocket ship"));
    CHECK(torch::equal(only_cache.encode("a rocket ship"), dict.at("a rocket ship").toTensor()));
    // Not a dict of string -> tensor.
    auto list_bytes = torch::pickle_save(c10::IValue(std::vector<int64_t>{1, 2, 3}));
    std::ofstream(pth, std::ios::binary).write(list_bytes.data(), std::streamsize(list_bytes.size()));
    CHECK_THROWS_AS(engine.import_prompts({pth, cache.string()}), ds::DataError);
    std::ofstream(pth) << "garbage";
    CHECK_THROWS_AS(engine.import_prompts({pth, cache.string()}), ds::DataError);
    CHECK_THROWS_AS(engine.import_prompts({"/nonexistent.pth", cache.string()}), ds::IoError);
}
