// The `dstudio debug unet` / `debug t5` contract, end to end through the binary.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/io/safetensors.h"

namespace fs = std::filesystem;

namespace {
int run(const std::string& args) {
    return std::system((std::string(DS_CLI_PATH) + " " + args + " > /dev/null 2>&1").c_str()) >> 8;
}
double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}
}  // namespace

TEST_CASE("dstudio debug unet reproduces the fixtures' outputs", "[cli][if][fixture]") {
    const auto out = (fs::temp_directory_path() / "ds_debug_unet.safetensors").string();
    for (const char* stage : {"if_stage1_unet_tiny", "if_stage2_unet_tiny"}) {
        INFO(stage);
        const std::string dir = std::string(DS_FIXTURES_DIR) + "/" + stage;
        REQUIRE(run("debug unet --model-dir " + dir + " --cases " + dir + "/cases.safetensors --out " + out) == 0);
        auto got = ds::io::SafetensorsFile::open(out);
        auto want = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
        for (int i = 0; i < 3; ++i) {
            const std::string k = "case" + std::to_string(i) + ".out";
            REQUIRE(got.contains(k));
            CHECK(got.info(k).dtype == ds::io::DType::F32);
            CHECK(max_diff(got.tensor(k), want.tensor(k)) < 1e-4);
        }
        CHECK_FALSE(got.contains("case3.out"));
    }
    CHECK(run("debug unet --model-dir /nonexistent --cases x --out " + out) == 1);
    CHECK(run("debug unet --model-dir x") == 2);
}

TEST_CASE("dstudio debug t5 writes ids, mask and hidden states as encode_prompt", "[cli][t5][fixture]") {
    const std::string dir = std::string(DS_FIXTURES_DIR) + "/t5_encoder_tiny";
    const auto prompts = (fs::temp_directory_path() / "ds_prompts.json").string();
    const auto out = (fs::temp_directory_path() / "ds_debug_t5.safetensors").string();
    std::ofstream(prompts) << R"(["", "a photo of a cat", "An Oil Painting of a SHIP at Sunset!"])";
    REQUIRE(run("debug t5 --model-dir " + dir + " --prompts " + prompts + " --out " + out) == 0);
    auto got = ds::io::SafetensorsFile::open(out);
    auto want = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
    CHECK(torch::equal(got.tensor("input_ids"), want.tensor("input_ids").narrow(0, 0, 3)));
    CHECK(torch::equal(got.tensor("attention_mask"), want.tensor("attention_mask").narrow(0, 0, 3)));
    CHECK(max_diff(got.tensor("last_hidden_state"), want.tensor("last_hidden_state").narrow(0, 0, 3)) < 1e-5);
    std::ofstream(prompts) << R"({"not": "a list"})";
    CHECK(run("debug t5 --model-dir " + dir + " --prompts " + prompts + " --out " + out) == 1);
}
