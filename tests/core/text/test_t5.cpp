// T5 tokenization (sentencepiece through the dlmopen shim, in this torch-linked binary) and the
// T5 v1.1 encoder against transformers' outputs (tests/fixtures/t5_encoder_tiny).
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"
#include "core/models/t5_encoder.h"
#include "core/text/prompt_encoder.h"
#include "core/text/t5_tokenizer.h"

namespace fs = std::filesystem;

namespace {
const std::string kDir = std::string(DS_FIXTURES_DIR) + "/t5_encoder_tiny";

nlohmann::json cases() {
    std::ifstream in(kDir + "/tokenization_cases.json");
    return nlohmann::json::parse(in);
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}
}  // namespace

TEST_CASE("Python-style lower().strip() on UTF-8", "[text]") {
    CHECK(ds::text::lower_strip("  An Oil PAINTING!\t\n") == "an oil painting!");
    CHECK(ds::text::lower_strip("CAFÉ ÀÉÎ") == "café àéî");
    CHECK(ds::text::lower_strip("\xEF\xBC\xA1\xEF\xBC\xA2") == "\xEF\xBD\x81\xEF\xBD\x82");  // full-width AB -> ab
    CHECK(ds::text::lower_strip("\xC2\xA0x\xE3\x80\x80") == "x");  // no-break and ideographic spaces
    CHECK(ds::text::lower_strip("") == "");
}

TEST_CASE("T5 tokenization matches IF's encode_prompt token for token", "[text][fixture]") {
    auto tok = ds::text::T5Tokenizer::open(kDir + "/spiece.model");
    CHECK(tok.vocab_size() == 1100);
    const auto all = cases();  // keep the document alive through the loop
    REQUIRE(all["cases"].size() == 10);
    for (const auto& c : all["cases"]) {
        INFO(c["prompt"].get<std::string>());
        CHECK(ds::text::lower_strip(c["prompt"]) == c["preprocessed"].get<std::string>());
        auto t = tok.encode(c["prompt"]);
        CHECK(t.ids == c["input_ids"].get<std::vector<std::int64_t>>());
        CHECK(t.mask == c["attention_mask"].get<std::vector<std::int64_t>>());
        CHECK(t.truncated() == c["truncated"].get<bool>());
        CHECK(t.untruncated == c["untruncated_len_incl_eos"].get<int>());
    }
}

TEST_CASE("tokenizer errors name the file", "[text]") {
    CHECK_THROWS_WITH(ds::text::T5Tokenizer::open("/nonexistent/spiece.model"), Catch::Contains("/nonexistent/spiece.model"));
    const auto bad = (fs::temp_directory_path() / "ds_bad_spiece.model").string();
    std::ofstream(bad) << "not a sentencepiece model";
    CHECK_THROWS_AS(ds::text::T5Tokenizer::open(bad), ds::ModelLoadError);
}

TEST_CASE("relative position buckets follow the spec's table", "[models][t5]") {
    using ds::models::t5_relative_bucket;
    CHECK(t5_relative_bucket(0) == 0);
    CHECK(t5_relative_bucket(-7) == 7);
    CHECK(t5_relative_bucket(7) == 23);
    CHECK(t5_relative_bucket(-8) == 8);
    CHECK(t5_relative_bucket(-16) == 10);
    CHECK(t5_relative_bucket(16) == 26);
    CHECK(t5_relative_bucket(-76) == 14);
    CHECK(t5_relative_bucket(-23) == 11);
    CHECK(t5_relative_bucket(-32) == 12);
    CHECK(t5_relative_bucket(-46) == 13);
    CHECK(t5_relative_bucket(-64) == 14);
    CHECK(t5_relative_bucket(-500) == 15);
}

TEST_CASE("T5 encoder matches transformers: bias, hooks, last_hidden_state (1e-5)", "[models][t5][fixture]") {
    auto enc = ds::models::T5Encoder::load(kDir);
    auto f = ds::io::SafetensorsFile::open(kDir + "/cases.safetensors");
    CHECK(max_diff(enc.position_bias(77), f.tensor("relative_position_bias")) < 1e-6);
    auto ids = f.tensor("input_ids"), mask = f.tensor("attention_mask");
    std::vector<torch::Tensor> hooks;
    auto out = enc.forward(ids, mask, &hooks);
    REQUIRE(hooks.size() == 4);
    CHECK(max_diff(hooks[0], f.tensor("hook.embed_tokens")) == 0.0);
    for (int b = 0; b < 3; ++b) CHECK(max_diff(hooks[b + 1], f.tensor("hook.block." + std::to_string(b))) < 1e-5);
    CHECK(max_diff(out, f.tensor("last_hidden_state")) < 1e-5);
    CHECK(max_diff(enc.forward(ids, torch::ones_like(mask)), f.tensor("last_hidden_state_no_mask")) < 1e-5);
    // The empty negative prompt, through the tokenizer.
    auto tok = ds::text::T5Tokenizer::open(kDir + "/spiece.model");
    auto t = tok.encode("");
    auto neg = enc.forward(torch::tensor(t.ids).view({1, 77}), torch::tensor(t.mask).view({1, 77}));
    CHECK(max_diff(neg[0], f.tensor("negative_prompt_embeds")[0]) < 1e-5);
}

TEST_CASE("T5 loading reports bad folders and weights by name", "[models][t5]") {
    CHECK_THROWS_WITH(ds::models::T5Encoder::load("/nonexistent"), Catch::Contains("config.json"));
    const auto dir = fs::temp_directory_path() / "ds_t5_bad";
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(kDir + "/config.json", dir / "config.json");
    CHECK_THROWS_WITH(ds::models::T5Encoder::load(dir.string()), Catch::Contains("none of model.safetensors") && Catch::Contains("model.safetensors.index.fp16.json"));
    // Drop one weight, reshape another.
    auto f = ds::io::SafetensorsFile::open(kDir + "/model.safetensors");
    std::vector<std::pair<std::string, torch::Tensor>> ts;
    for (const auto& info : f.tensors()) {
        if (info.name == "encoder.block.1.layer.0.SelfAttention.q.weight") continue;
        auto t = f.tensor(info.name);
        if (info.name == "encoder.final_layer_norm.weight") t = torch::ones({65});
        ts.push_back({info.name, t});
    }
    ds::io::write_safetensors((dir / "model.safetensors").string(), ts);
    try {
        ds::models::T5Encoder::load(dir.string());
        FAIL("expected an error");
    } catch (const ds::ModelLoadError& e) {
        const std::string msg = e.what();
        CHECK(msg.find("missing weight encoder.block.1.layer.0.SelfAttention.q.weight") != std::string::npos);
        CHECK(msg.find("encoder.final_layer_norm.weight has shape [65], expected [64]") != std::string::npos);
    }
}

TEST_CASE("an invalid UTF-8 prompt is named as such, not blamed on the prompt cache", "[engine]") {
    ds::text::PromptEncoder enc("", "", (std::filesystem::temp_directory_path() / "ds_test_prompt_cache").string(),
                                ds::models::Precision(torch::kFloat32), false);
    CHECK_THROWS_WITH(enc.encode(std::string("caf\xe9", 4)), Catch::Contains("not valid UTF-8"));
}
