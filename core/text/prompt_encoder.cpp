#include "core/io/text_checks.h"
#include "core/text/prompt_encoder.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/engine/hashing.h"
#include "core/io/safetensors.h"
#include "core/models/t5_encoder.h"
#include "core/text/t5_tokenizer.h"

namespace fs = std::filesystem;

namespace ds::text {

namespace {
constexpr int kMaxLength = 77;         // IF's max_length
constexpr size_t kMemoryEntries = 64;  // embeddings kept in memory per encoder

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
}  // namespace

struct PromptEncoder::Loaded {
    T5Tokenizer tokenizer;
    models::T5Encoder encoder;
};

std::string PromptEncoder::default_cache_dir() {
    if (const char* d = std::getenv("DS_CACHE_DIR"); d && *d) return (fs::path(d) / "prompts").string();
    const char* home = std::getenv("HOME");
    return (fs::path(home && *home ? home : "/tmp") / ".cache" / "diffusion-studio" / "prompts").string();
}

PromptEncoder::PromptEncoder(std::string encoder_dir, std::string spiece_model, std::string cache_dir,
                             const models::Precision& precision, bool free_after_use)
    : encoder_dir_(std::move(encoder_dir)), spiece_(std::move(spiece_model)), cache_dir_(std::move(cache_dir)),
      precision_(precision), free_after_(free_after_use) {
    // Identity: the encoder's config and the sizes of its weight files (cheap; a different
    // checkpoint of the same architecture changes the sizes or the config in practice).
    if (encoder_dir_.empty()) {
        identity_ = kIfT5Identity;
    } else {
        std::string id = read_all((fs::path(encoder_dir_) / "config.json").string());
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(encoder_dir_, ec))
            if (e.path().extension() == ".safetensors")
                id += "\n" + e.path().filename().string() + ":" + std::to_string(e.file_size(ec));
        // Embeddings computed from weights held or computed in another precision differ a
        // little: cache them apart from fp32 ones (fp32 keeps the identity it always had).
        if (precision_.name() != "fp32") id += "\nprecision:" + precision_.name();
        identity_ = sha256_hex(id);
    }
}

PromptEncoder::~PromptEncoder() = default;

std::string PromptEncoder::cache_file(const std::string& prompt) const {
    return (fs::path(cache_dir_) / (sha256_hex(identity_ + "\x1f" + prompt) + ".safetensors")).string();
}

bool PromptEncoder::cached(const std::string& prompt) const {
    for (const auto& [p, t] : memory_)
        if (p == prompt) return true;
    return !cache_dir_.empty() && fs::exists(cache_file(prompt));
}

void PromptEncoder::put(const std::string& prompt, const torch::Tensor& embeds) {
    if (embeds.dim() != 3 || embeds.size(0) != 1)
        throw InvalidRequest("a prompt embedding must be [1, L, E]");
    auto e = embeds.to(torch::kFloat32).contiguous();
    if (!cache_dir_.empty()) {
        fs::create_directories(cache_dir_);
        io::write_safetensors(cache_file(prompt), {{"prompt_embeds", e}},
                              {{"prompt", prompt}, {"encoder", identity_}});
    }
    memory_.push_back({prompt, e});
    if (memory_.size() > kMemoryEntries) memory_.erase(memory_.begin());
}

torch::Tensor PromptEncoder::lookup(const std::string& prompt) {
    if (!io::is_valid_utf8(prompt))
        throw InvalidRequest("the prompt " + io::quoted(prompt) + " is not valid UTF-8 text; retype it or "
                             "save the file it came from as UTF-8");
    for (const auto& [p, t] : memory_)
        if (p == prompt) return t;
    if (!cache_dir_.empty() && fs::exists(cache_file(prompt))) {
        auto f = io::SafetensorsFile::open(cache_file(prompt));
        auto t = f.tensor("prompt_embeds", torch::kFloat32);
        memory_.push_back({prompt, t});
        return t;
    }
    return {};
}

std::int64_t PromptEncoder::encoder_bytes() const {
    if (encoder_dir_.empty()) return 0;
    return models::T5Encoder::weight_bytes_of(models::T5Config::from_json_file((fs::path(encoder_dir_) / "config.json").string()),
                                              precision_);
}

bool PromptEncoder::needs_encoder(const std::vector<std::string>& prompts) {
    for (const auto& p : prompts)
        if (!lookup(p).defined()) return true;
    return false;
}

void PromptEncoder::set_load_hooks(std::function<void(std::int64_t)> before_load, models::LoadProgress progress) {
    before_load_ = std::move(before_load);
    load_progress_ = std::move(progress);
}

torch::Tensor PromptEncoder::encode(const std::string& prompt) { return encode(std::vector<std::string>{prompt})[0]; }

std::vector<torch::Tensor> PromptEncoder::encode(const std::vector<std::string>& prompts) {
    std::vector<torch::Tensor> out;
    for (const auto& prompt : prompts) out.push_back(lookup(prompt));
    bool missing = false;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        if (out[i].defined()) continue;
        if (encoder_dir_.empty())
            throw InvalidRequest("no embedding of the prompt " + io::quoted(prompts[i]) + " is cached and this IF folder "
                                 "has no text_encoder/: import the course's embeddings with `dstudio prompts import "
                                 "prompt_embeds_dict.pth`, or use a folder with text_encoder/ and tokenizer/");
        missing = true;
    }
    if (!missing) return out;
    if (!loaded_) {  // once for all the prompts of a request (T5-XXL is 9.5 GB in bf16)
        if (before_load_) before_load_(encoder_bytes());
        loaded_ = std::make_unique<Loaded>(
            Loaded{T5Tokenizer::open(spiece_), models::T5Encoder::load(encoder_dir_, precision_, load_progress_)});
    }
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        if (out[i].defined()) continue;
        if (auto again = lookup(prompts[i]); again.defined()) {  // a repeated prompt
            out[i] = again;
            continue;
        }
        auto tokens = loaded_->tokenizer.encode(prompts[i], kMaxLength);
        auto ids = torch::tensor(tokens.ids, torch::kLong).view({1, kMaxLength});
        auto mask = torch::tensor(tokens.mask, torch::kLong).view({1, kMaxLength});
        out[i] = loaded_->encoder.forward(ids, mask);
        put(prompts[i], out[i]);
    }
    if (free_after_) loaded_.reset();
    return out;
}

int import_prompt_dict(const std::string& pth_file, const std::string& cache_dir, const std::string& identity) {
    std::ifstream in(pth_file, std::ios::binary);
    if (!in) throw IoError("cannot read '" + pth_file + "'");
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    c10::IValue value;
    try {
        value = torch::pickle_load(bytes);
    } catch (const std::exception& e) {
        throw DataError("'" + pth_file + "' is not a torch.save file LibTorch can read: " + std::string(e.what()).substr(0, 200));
    }
    if (!value.isGenericDict()) throw DataError("'" + pth_file + "' does not hold a dict of prompt -> tensor");
    int n = 0;
    for (const auto& item : value.toGenericDict()) {
        if (!item.key().isString() || !item.value().isTensor())
            throw DataError("'" + pth_file + "' maps something other than a string to a tensor");
        auto t = item.value().toTensor();
        if (t.dim() == 2) t = t.unsqueeze(0);
        if (t.dim() != 3 || t.size(0) != 1)
            throw DataError("'" + pth_file + "': the embedding of '" + item.key().toStringRef() + "' is not [1, L, E]");
        const std::string prompt = item.key().toStringRef();
        fs::create_directories(cache_dir);
        io::write_safetensors((fs::path(cache_dir) / (sha256_hex(identity + "\x1f" + prompt) + ".safetensors")).string(),
                              {{"prompt_embeds", t.to(torch::kFloat32).contiguous()}},
                              {{"prompt", prompt}, {"encoder", identity}});
        ++n;
    }
    return n;
}

}  // namespace ds::text
