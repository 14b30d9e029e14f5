// IF folders in every layout the model hub uses, written by the random-folder writer at tiny
// configs: single files, shards, the fp16 variant and its index, fallbacks and missing files.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/bench/if_folder_writer.h"
#include "core/engine/errors.h"
#include "core/io/safetensors.h"
#include "core/models/if_unet.h"
#include "core/models/t5_encoder.h"
#include "core/text/t5_tokenizer.h"
#include "tests/support/tiny_if.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ds::bench::WeightForm;

namespace {

const std::string kFix = DS_FIXTURES_DIR;

struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& name)
        : path(fs::temp_directory_path() / ("ds_if_folders_" + name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

// The fixture's T5 config shrunk to d_model 32 (the writer draws its weights).
std::string tiny_t5_config(const fs::path& where) {
    fs::create_directories(where);
    const auto path = where / "t5-tiny.json";
    std::ofstream(path) << ds::testing::tiny_t5_config_json();
    return path.string();
}

ds::bench::IfFolderOptions stage1(const fs::path& out, const fs::path& scratch) {
    ds::bench::IfFolderOptions o;
    o.out = out.string();
    o.unet_config = kFix + "/if_stage1_unet_tiny/config.json";
    o.t5_config = tiny_t5_config(scratch);
    o.tokenizer = kFix + "/t5_encoder_tiny/spiece.model";
    o.seed = 7;
    return o;
}

torch::Tensor unet_out(const ds::models::IfUNet& u) {
    torch::manual_seed(0);
    auto x = torch::randn({1, 3, 16, 16});
    auto text = torch::randn({1, 77, 32});
    return u.forward(x, torch::tensor({500L}), text);
}

}  // namespace

TEST_CASE("random IF folders use the hub's file names and load as the random models", "[models][if][folders]") {
    const TempDir tmp("names");
    auto o = stage1(tmp.path / "IF-I", tmp.path);
    o.unet_forms = {WeightForm::Fp32, WeightForm::Fp16, WeightForm::Fp32Sharded, WeightForm::Fp16Sharded};
    o.t5_forms = {WeightForm::Fp32Sharded, WeightForm::Fp16Sharded};
    o.shard_bytes = 1'000'000;  // the tiny UNet (3.4 MB in fp32) in 4 shards, 2 in fp16
    const auto report = ds::bench::write_random_if_folder(o);
    const fs::path root = o.out;
    for (const char* f : {"model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
                          "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
                          "unet/diffusion_pytorch_model-00001-of-00004.safetensors",
                          "unet/diffusion_pytorch_model-00004-of-00004.safetensors",
                          "unet/diffusion_pytorch_model.safetensors.index.json",
                          "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                          "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
                          "text_encoder/config.json", "text_encoder/model-00001-of-00001.safetensors",
                          "text_encoder/model.safetensors.index.json",
                          "text_encoder/model.fp16-00001-of-00001.safetensors",
                          "text_encoder/model.safetensors.index.fp16.json", "tokenizer/spiece.model"}) {
        INFO(f);
        CHECK(fs::exists(root / f));
    }
    CHECK_FALSE(fs::exists(root / "unet/diffusion_pytorch_model-00005-of-00004.safetensors"));
    CHECK(report.files.back() == "model_index.json");  // written last: a folder without it is unfinished
    std::ifstream idx(root / "model_index.json");
    CHECK(nlohmann::json::parse(idx)["_class_name"] == "IFPipeline");

    // The fp16 variant of T5 keeps `wo` in F32, as the hub's does.
    const auto t5f16 = ds::io::SafetensorsSet::open((root / "text_encoder/model.safetensors.index.fp16.json").string());
    CHECK(t5f16.info("encoder.block.1.layer.1.DenseReluDense.wo.weight").dtype == ds::io::DType::F32);
    CHECK(t5f16.info("encoder.block.1.layer.1.DenseReluDense.wi_0.weight").dtype == ds::io::DType::F16);
    CHECK(t5f16.info("shared.weight").dtype == ds::io::DType::F16);

    // The same seed gives the same model in every form: fp32 forms exactly IfUNet::random's.
    const auto config = ds::models::IfUNetConfig::from_json_file(o.unet_config);
    const auto want = unet_out(ds::models::IfUNet::random(config, torch::kFloat32, 7));
    const auto single = ds::models::IfUNet::load((root / "unet").string());
    CHECK(torch::equal(unet_out(single), want));
    const auto set32 = ds::io::SafetensorsSet::open((root / "unet/diffusion_pytorch_model.safetensors.index.json").string());
    const auto set16 = ds::io::SafetensorsSet::open((root / "unet/diffusion_pytorch_model.safetensors.index.fp16.json").string());
    const auto one = ds::io::SafetensorsFile::open((root / "unet/diffusion_pytorch_model.safetensors").string());
    int compared = 0;
    for (const auto& name : set32.names()) {
        INFO(name);
        REQUIRE(torch::equal(set32.tensor(name), one.tensor(name)));
        REQUIRE(torch::equal(set16.tensor(name), one.tensor(name).to(torch::kHalf)));
        ++compared;
    }
    CHECK(compared == 199);
    // The fp16 file is what fp32-w16 prefers; it computes what fp32 computes from that file.
    const auto w16 = ds::models::IfUNet::load((root / "unet").string(), ds::models::Precision::fp32_w16());
    CHECK((unet_out(w16) - want).abs().max().item<double>() < 1e-2);

    const auto t5 = ds::models::T5Encoder::load((root / "text_encoder").string());
    const auto t5_want = ds::models::T5Encoder::random(ds::models::T5Config::from_json_file(o.t5_config), torch::kFloat32, 7);
    auto ids = torch::tensor({{5L, 9L, 1L}});
    auto mask = torch::ones({1, 3}, torch::kLong);
    CHECK(torch::equal(t5.forward(ids, mask), t5_want.forward(ids, mask)));
}

TEST_CASE("a missing variant falls back to the other file, and missing files are named", "[models][if][folders]") {
    const TempDir tmp("fallback");
    auto o = stage1(tmp.path / "IF-I", tmp.path);
    o.unet_forms = {WeightForm::Fp16};
    o.t5_forms = {WeightForm::Fp16Sharded};
    o.shard_bytes = 60'000;  // T5's fp16 shards: several
    ds::bench::write_random_if_folder(o);
    const fs::path root = o.out;
    // fp32 asks for the fp32 file first; only the fp16 variant is there: it is used.
    const auto config = ds::models::IfUNetConfig::from_json_file(o.unet_config);
    const auto u = ds::models::IfUNet::load((root / "unet").string());
    CHECK((unet_out(u) - unet_out(ds::models::IfUNet::random(config, torch::kFloat32, 7))).abs().max().item<double>() < 1e-2);
    const auto t5 = ds::models::T5Encoder::load((root / "text_encoder").string());
    CHECK(t5.config().d_model == 32);

    // A shard deleted: the error names it.
    std::ifstream in(root / "text_encoder/model.safetensors.index.fp16.json");
    const auto index = nlohmann::json::parse(in);
    const std::string shard = index["weight_map"]["shared.weight"];
    CHECK(shard.rfind("model.fp16-0000", 0) == 0);
    fs::remove(root / "text_encoder" / shard);
    CHECK_THROWS_WITH(ds::models::T5Encoder::load((root / "text_encoder").string()), Contains(shard));

    // No weight file at all: every name looked for is listed.
    fs::remove(root / "unet/diffusion_pytorch_model.fp16.safetensors");
    try {
        ds::models::IfUNet::load((root / "unet").string());
        FAIL("expected an error");
    } catch (const ds::Error& e) {
        const std::string m = e.what();
        CHECK(m.find("diffusion_pytorch_model.fp16.safetensors") != std::string::npos);
        CHECK(m.find("diffusion_pytorch_model.safetensors.index.json") != std::string::npos);
    }
}

TEST_CASE("the folder writer refuses what would overwrite or mismatch, before writing", "[models][if][folders]") {
    const TempDir tmp("refuse");
    auto o = stage1(tmp.path / "IF-I", tmp.path);
    fs::create_directories(o.out);
    std::ofstream(fs::path(o.out) / "keep.txt") << "mine";
    CHECK_THROWS_WITH(ds::bench::write_random_if_folder(o), Contains("not an empty folder"));
    CHECK(fs::exists(fs::path(o.out) / "keep.txt"));
    o.out = (tmp.path / "II").string();
    o.unet_config = kFix + "/if_stage2_unet_tiny/config.json";
    CHECK_THROWS_WITH(ds::bench::write_random_if_folder(o), Contains("stage II folder has no text encoder"));
    o.t5_config.clear();
    o.unet_config = kFix + "/if_stage1_unet_tiny/config.json";
    CHECK_THROWS_WITH(ds::bench::write_random_if_folder(o), Contains("needs the text encoder"));
    CHECK_FALSE(fs::exists(o.out));
    CHECK_THROWS_AS(ds::bench::parse_weight_form("fp8"), ds::InvalidRequest);
    CHECK(ds::bench::parse_weight_form("fp16-sharded") == WeightForm::Fp16Sharded);
}

TEST_CASE("a stage II folder and the stand-in tokenizer", "[models][if][folders][tokenizer]") {
    const TempDir tmp("stage2");
    ds::bench::IfFolderOptions o;
    o.out = (tmp.path / "IF-II").string();
    o.unet_config = kFix + "/if_stage2_unet_tiny/config.json";
    o.unet_forms = {WeightForm::Fp16};
    ds::bench::write_random_if_folder(o);
    CHECK(fs::exists(tmp.path / "IF-II/image_noising_scheduler/scheduler_config.json"));
    CHECK_FALSE(fs::exists(tmp.path / "IF-II/text_encoder"));
    CHECK(ds::models::IfUNet::load((tmp.path / "IF-II/unet").string()).config().in_channels == 6);

    // No --tokenizer: a unigram model trained here, with T5's special ids.
    auto s1 = stage1(tmp.path / "IF-I", tmp.path);
    s1.tokenizer.clear();
    ds::bench::write_random_if_folder(s1);
    const auto spiece = tmp.path / "IF-I/tokenizer/spiece.model";
    REQUIRE(fs::exists(spiece));
    CHECK_FALSE(fs::exists(tmp.path / "IF-I/tokenizer/.captions.txt"));
    const auto tok = ds::text::T5Tokenizer::open(spiece.string());
    const auto enc = tok.encode("an oil painting of a snowy mountain village");
    REQUIRE(enc.ids.size() == 77);
    CHECK(*std::max_element(enc.ids.begin(), enc.ids.end()) < 32128);
    CHECK(std::count(enc.mask.begin(), enc.mask.end(), 1) > 2);  // several pieces and </s>
    CHECK(std::count(enc.ids.begin(), enc.ids.end(), ds::text::T5Tokenizer::kUnk) == 0);
}
