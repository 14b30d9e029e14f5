#pragma once
// DeepFloyd IF folders with random weights, laid out exactly as the model hub ships them
// (deepfloyd_if_spec.md §2.1), so that everything a user with the real weights meets except
// their values can be run here: multi-GB files (offsets past 4 GiB), the fp16 variants, the
// sharded text encoder with `model.safetensors.index.fp16.json`, loading one model after another.
// Tensors are drawn and written one at a time (streaming safetensors writer), so a 17 GB folder
// needs only the largest tensor in memory. Values follow IfUNet::random / T5Encoder::random
// (same seed, same numbers: a folder written in fp32 loads as exactly those models).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ds::bench {

// How a model's weights are stored; a folder may hold several forms side by side (as the hub's do).
enum class WeightForm {
    Fp32,         // one float32 file:  diffusion_pytorch_model.safetensors / model.safetensors
    Fp16,         // one float16 file:  diffusion_pytorch_model.fp16.safetensors / model.fp16.safetensors
    Fp32Sharded,  // float32 shards:    <base>-0000K-of-0000N.safetensors + <base>.safetensors.index.json
    Fp16Sharded,  // float16 shards:    <base>.fp16-0000K-of-0000N.safetensors + <base>.safetensors.index.fp16.json
};
// "fp32", "fp16", "fp32-sharded", "fp16-sharded"; throws InvalidRequest for anything else.
WeightForm parse_weight_form(const std::string& name);
const char* weight_form_name(WeightForm form);

struct IfFolderOptions {
    std::string out;             // the folder to write; must not exist, or be empty
    std::string unet_config;     // unet/config.json to use (e.g. assets/configs/if-i-xl-unet.json)
    std::vector<WeightForm> unet_forms = {WeightForm::Fp16};
    std::string t5_config;       // text_encoder/config.json; empty: no text encoder (a stage II folder)
    std::vector<WeightForm> t5_forms = {WeightForm::Fp16Sharded};
    // tokenizer/spiece.model: copied from this file; empty: a small unigram model is trained here
    // on generated captions (a stand-in for T5's 32,000-piece spiece.model).
    std::string tokenizer;
    std::uint64_t shard_bytes = 10'000'000'000;  // transformers' default max_shard_size "10GB"
    std::uint64_t seed = 0;
    // One line per file started ("unet/diffusion_pytorch_model.fp16.safetensors (8.61 GB)").
    std::function<void(const std::string&)> on_file;
};

struct IfFolderReport {
    std::vector<std::string> files;  // relative paths written, in order
    std::uint64_t bytes = 0;         // total size of the weight files
};

// Writes the folder (stage I when the UNet takes 3 input channels, stage II when it takes 6).
// Refuses before writing anything when the disk lacks the space. In the T5 fp16 forms the
// feed-forward output weights `wo` stay F32, as in the hub's fp16 variant (spec §6.4). Every file
// is written atomically; a failure leaves the files already complete and removes the one in
// progress. Throws InvalidRequest, ModelLoadError or IoError.
IfFolderReport write_random_if_folder(const IfFolderOptions& options);

}  // namespace ds::bench
