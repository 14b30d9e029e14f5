// Test support: a tiny DeepFloyd IF folder built from the fixtures (see tiny_if.h).
#include "tests/support/tiny_if.h"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/io/safetensors.h"

namespace fs = std::filesystem;

namespace ds::testing {

std::string tiny_t5_config_json() {
    std::ifstream in(std::string(DS_FIXTURES_DIR) + "/t5_encoder_tiny/config.json");
    auto cfg = nlohmann::json::parse(in);
    cfg["d_model"] = 32;
    cfg["d_kv"] = 8;
    cfg["num_heads"] = 4;
    cfg["d_ff"] = 64;
    cfg["num_layers"] = 2;
    return cfg.dump(2);
}

// A diffusers-style IF folder: unet/ (fixture), text_encoder/ (random T5, d_model 32),
// tokenizer/spiece.model (fixture), model_index.json.
std::string make_tiny_if_folder() {
    const std::string kFix = DS_FIXTURES_DIR;
    const auto final_root = fs::temp_directory_path() / "ds_tiny_if";
    if (fs::exists(final_root / "model_index.json")) return final_root.string();
    // Built under a per-process name and renamed into place: test processes running in
    // parallel never see (or delete) each other's half-built folder.
    const auto root = fs::temp_directory_path() / ("ds_tiny_if." + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "unet");
    fs::create_directories(root / "text_encoder");
    fs::create_directories(root / "tokenizer");
    for (const char* f : {"config.json", "diffusion_pytorch_model.safetensors"})
        fs::copy_file(kFix + "/if_stage1_unet_tiny/" + f, root / "unet" / f);
    fs::copy_file(kFix + "/t5_encoder_tiny/spiece.model", root / "tokenizer" / "spiece.model");
    std::ofstream(root / "text_encoder" / "config.json") << tiny_t5_config_json();
    torch::manual_seed(3);
    std::vector<std::pair<std::string, torch::Tensor>> w = {
        {"shared.weight", torch::randn({1128, 32})},
        {"encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", torch::randn({32, 4}) * 0.1},
        {"encoder.final_layer_norm.weight", torch::ones({32})}};
    for (int i = 0; i < 2; ++i) {
        const std::string b = "encoder.block." + std::to_string(i) + ".layer.";
        for (const char* m : {"q", "k", "v", "o"}) w.push_back({b + "0.SelfAttention." + m + ".weight", torch::randn({32, 32}) * 0.1});
        w.push_back({b + "0.layer_norm.weight", torch::ones({32})});
        w.push_back({b + "1.DenseReluDense.wi_0.weight", torch::randn({64, 32}) * 0.1});
        w.push_back({b + "1.DenseReluDense.wi_1.weight", torch::randn({64, 32}) * 0.1});
        w.push_back({b + "1.DenseReluDense.wo.weight", torch::randn({32, 64}) * 0.1});
        w.push_back({b + "1.layer_norm.weight", torch::ones({32})});
    }
    ds::io::write_safetensors((root / "text_encoder" / "model.safetensors").string(), w);
    std::ofstream(root / "model_index.json") << R"({"_class_name": "IFPipeline", "_diffusers_version": "0.24.0"})";
    std::error_code ec;
    fs::rename(root, final_root, ec);  // fails if another process won the race: use theirs
    if (ec && !fs::exists(final_root / "model_index.json")) {  // a broken leftover: replace it
        fs::remove_all(final_root, ec);
        fs::rename(root, final_root, ec);
    }
    if (ec) fs::remove_all(root, ec);
    return final_root.string();
}

std::string make_tiny_if_stage2_folder() {
    const std::string kFix = DS_FIXTURES_DIR;
    const auto root = fs::temp_directory_path() / ("ds_tiny_if_stage2." + std::to_string(::getpid()));
    fs::create_directories(root / "unet");
    for (const char* f : {"config.json", "diffusion_pytorch_model.safetensors"})
        if (!fs::exists(root / "unet" / f)) fs::copy_file(kFix + "/if_stage2_unet_tiny/" + f, root / "unet" / f);
    return root.string();
}

}  // namespace ds::testing
