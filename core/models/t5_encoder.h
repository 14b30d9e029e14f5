#pragma once
// The T5 v1.1 encoder DeepFloyd IF uses for prompts (deepfloyd_if_spec.md §6): token embedding
// (no scaling), per block RMS-norm -> self-attention without 1/sqrt(d) scaling, with a relative
// position bias computed in block 0 and shared by all blocks -> residual; RMS-norm -> gated-GELU
// (tanh) feed-forward -> residual; final RMS-norm. Weights keep their transformers names.
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/models/weight_loading.h"

namespace ds::models {

struct T5Config {
    int d_model = 4096, d_kv = 64, num_heads = 64, d_ff = 10240, num_layers = 24;
    int num_buckets = 32, max_distance = 128, vocab_size = 32128;
    double eps = 1e-6;
    // config.json of a transformers T5EncoderModel; throws ModelLoadError naming the file.
    static T5Config from_json_file(const std::string& path);
};

// T5's bidirectional relative-position bucket of (key - query) (torch's float32 arithmetic).
int t5_relative_bucket(int relative, int num_buckets = 32, int max_distance = 128);

// The expected weight names and shapes of a config (encoder.embed_tokens.weight, tied to
// shared.weight, is not among them).
std::map<std::string, std::vector<std::int64_t>> t5_weight_shapes(const T5Config& config);
// The float32 value T5Encoder::random gives one weight (RMS-norm scales 1, everything else
// N(0, 0.05^2) from `gen`), drawn in sorted-name order.
torch::Tensor t5_random_weight(const std::string& name, const std::vector<std::int64_t>& shape, at::Generator& gen,
                               torch::Device device = torch::kCPU);

class T5Encoder {
public:
    // `dir` holds config.json and model.safetensors (or a sharded model.safetensors.index.json /
    // model.safetensors.index.fp16.json). Every missing, unexpected or mis-shaped weight is
    // reported by name. Arithmetic in float32, bfloat16 or (GPU) float16; weights in that type
    // or, with Precision::fp32_w16, in 16 bits (the fp16 file preferred when both exist); on
    // precision.device. forward takes and returns CPU tensors.
    static T5Encoder load(const std::string& dir, const Precision& precision = torch::kFloat32,
                          const LoadProgress& progress = {});
    // Bytes the weights of `config` take in `precision` (what load() needs), without loading.
    static std::int64_t weight_bytes_of(const T5Config& config, const Precision& precision);
    // Random weights for a config (benchmarks at real scale); seeded on the CPU, drawn on the
    // device (unseeded) elsewhere.
    static T5Encoder random(const T5Config& config, const Precision& precision, std::uint64_t seed = 0);
    std::int64_t parameter_count() const;
    // Bytes the weights take in memory.
    std::int64_t weight_bytes() const;

    // ids, mask: [B, L] int64. Returns last_hidden_state [B, L, d_model] (float32). `hooks`, if
    // given, receives the embedding lookup and the hidden state after every block.
    torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask,
                          std::vector<torch::Tensor>* hooks = nullptr) const;
    // The block-0 relative position bias [1, heads, L, L] (without the mask).
    torch::Tensor position_bias(int length) const;
    const T5Config& config() const { return config_; }

private:
    torch::Tensor w(const std::string& name) const;  // in the compute dtype
    // fp16 (GPU): the feed-forward output weights `wo` are held in fp32, as transformers keeps
    // them (`_keep_in_fp32_modules`): their products overflow float16, and with them the residual
    // stream turns fp32 after the first block's feed-forward (an fp16 + fp32 sum). The residual
    // is clamped to float16's range while it is still fp16 (transformers' clamp).
    void keep_wo_in_fp32();
    T5Config config_;
    Precision precision_;
    std::map<std::string, torch::Tensor> weights_;
};

}  // namespace ds::models
