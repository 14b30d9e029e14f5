#pragma once
// Prompt -> T5 embeddings [1, 77, E] with an on-disk cache (safetensors keyed by SHA-256 of the
// encoder identity and the prompt), so T5 runs once per prompt. The encoder is loaded on the
// first cache miss and, with `free_after_use`, dropped again (IF-I-XL's T5 is 19 GB in fp32).
// Without a text encoder only cached (e.g. imported course) embeddings are available.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/models/weight_loading.h"

namespace ds::text {

class PromptEncoder {
public:
    // `encoder_dir`: T5 folder (config.json + weights; may be empty = cache only);
    // `spiece_model`: tokenizer model; `cache_dir`: where embeddings are kept ("" = no disk cache).
    PromptEncoder(std::string encoder_dir, std::string spiece_model, std::string cache_dir,
                  const models::Precision& precision = torch::kFloat32, bool free_after_use = false);
    ~PromptEncoder();

    // [1, 77, E] float32. Throws InvalidRequest when the prompt is not cached and there is no
    // encoder (saying how to import embeddings).
    torch::Tensor encode(const std::string& prompt);
    // Several at once: the encoder is loaded (at most) once for all that are not cached.
    std::vector<torch::Tensor> encode(const std::vector<std::string>& prompts);
    // Whether encoding `prompts` would load the text encoder (some are not cached).
    bool needs_encoder(const std::vector<std::string>& prompts);
    // Bytes the text encoder's weights take when loaded (0 without one); reads only config.json.
    std::int64_t encoder_bytes() const;
    // Called before the encoder loads (with its bytes: room is made for it) and as it loads.
    void set_load_hooks(std::function<void(std::int64_t)> before_load, models::LoadProgress progress);
    // Stores an embedding for `prompt` under this encoder's identity (imports).
    void put(const std::string& prompt, const torch::Tensor& embeds);
    bool cached(const std::string& prompt) const;
    const std::string& identity() const { return identity_; }
    // The default cache folder: $DS_CACHE_DIR/prompts or ~/.cache/diffusion-studio/prompts.
    static std::string default_cache_dir();
    // Identity used when no encoder folder is given: IF's T5-v1.1-XXL.
    static constexpr const char* kIfT5Identity = "t5-v1_1-xxl@deepfloyd-if";

private:
    std::string cache_file(const std::string& prompt) const;
    torch::Tensor lookup(const std::string& prompt);  // memory, then disk; undefined when not cached
    struct Loaded;
    std::string encoder_dir_, spiece_, cache_dir_, identity_;
    models::Precision precision_;
    bool free_after_;
    std::unique_ptr<Loaded> loaded_;
    std::vector<std::pair<std::string, torch::Tensor>> memory_;  // small in-process cache
    std::function<void(std::int64_t)> before_load_;
    models::LoadProgress load_progress_;
};

// Imports the course's prompt_embeds_dict.pth (a pickled dict {prompt: tensor [1, 77, E]}) into
// the cache under `identity`. Returns the number of prompts; throws DataError for anything that
// is not a dict of strings to 3-d tensors.
int import_prompt_dict(const std::string& pth_file, const std::string& cache_dir, const std::string& identity);

}  // namespace ds::text
