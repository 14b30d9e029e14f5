#include "core/jobs/predictors.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <torch/torch.h>

#include "core/diffusion/mnist_predictor.h"
#include "core/engine/errors.h"
#include "core/io/memory.h"
#include "core/jobs/reporter.h"
#include "core/models/if_config.h"
#include "core/models/if_unet.h"
#include "core/text/prompt_encoder.h"

namespace ds::jobs {

namespace fs = std::filesystem;

namespace {

std::string cache_key(const std::string& what, const fs::path& dir, const models::Precision& precision) {
    std::error_code ec;
    const auto stamp = fs::last_write_time(dir / "config.json", ec).time_since_epoch().count();
    return what + "|" + fs::absolute(dir).lexically_normal().string() + "|" + std::to_string(stamp) + "|" +
           precision.name() + "|" + precision.device.str();
}

fs::path spiece_of(const fs::path& root) {
    fs::path spiece = root / "tokenizer" / "spiece.model";
    if (!fs::exists(spiece)) spiece = root / "text_encoder" / "spiece.model";
    return spiece;
}

// The folder's prompt encoder, kept in the engine's cache (it holds the T5 weights only while
// encoding; cached prompt embeddings need none).
std::shared_ptr<text::PromptEncoder> if_prompt_encoder(const RunContext& ctx, const std::string& dir) {
    if (!ctx.cache) throw std::logic_error("IF models need the engine's model cache");
    const fs::path root(dir);
    const bool has_t5 = fs::exists(root / "text_encoder" / "config.json");
    const fs::path spiece = spiece_of(root);
    if (has_t5 && !fs::exists(spiece))
        throw ModelLoadError("'" + dir + "' has text_encoder/ but no tokenizer/spiece.model");
    auto encoder = ctx.cache->get<text::PromptEncoder>(
        cache_key("if-prompts", root / (has_t5 ? "text_encoder" : "unet"), ctx.if_precision()), "IF prompt encoder", 0,
        [&] {
            return std::make_shared<text::PromptEncoder>(has_t5 ? (root / "text_encoder").string() : std::string(),
                                                         spiece.string(), text::PromptEncoder::default_cache_dir(),
                                                         ctx.if_precision(), /*free_after_use=*/true);
        });
    models::ModelCache* cache = ctx.cache;
    encoder->set_load_hooks([cache](std::int64_t bytes) { cache->make_room(bytes); },
                            load_progress(ctx.callbacks, ctx.cancel, "loading the T5 text encoder"));
    return encoder;
}

}  // namespace

std::unique_ptr<diffusion::IfNoisePredictor> open_if_predictor(const RunContext& ctx, const std::string& dir,
                                                                bool stage2) {
    if (!ctx.cache) throw std::logic_error("open_if_predictor needs the engine's model cache");
    const fs::path unet_dir = fs::path(dir) / "unet";
    const auto config = models::IfUNetConfig::from_json_file((unet_dir / "config.json").string());
    if (!stage2 && config.in_channels != 3)
        throw InvalidRequest("'" + dir + "' is an IF stage II (super-resolution) model: the Part A techniques "
                             "run on stage I; upscale with `dstudio upscale`");
    const std::string stage = stage2 ? "II" : "I";
    const auto precision = ctx.if_precision();
    const std::int64_t bytes = models::IfUNet::weight_bytes_of(config, precision);
    const std::string what = "IF stage " + stage + " UNet";
    auto progress = load_progress(ctx.callbacks, ctx.cancel, "loading the " + what);
    models::ModelCache* cache = ctx.cache;
    const std::string key = cache_key("if-unet", unet_dir, precision);
    // Room for the weights and for running them: measured on IF-I-XL and IF-II-L in bf16, the
    // activations of a CFG step took 2.1 and 2.8 GiB besides the weights (docs/deepfloyd-if.md);
    // asking for the weights' size again plus 2 GiB frees stage I for stage II in fp32 on 24 GB
    // (it was killed for memory without) and keeps both in bf16.
    const std::int64_t working = bytes + (std::int64_t(2) << 30);
    auto source = [cache, key, what, bytes, working, unet_dir, precision, progress] {
        return cache->get<models::IfUNet>(
            key, what + " (" + precision.name() + ")", bytes,
            [&] { return std::make_shared<models::IfUNet>(models::IfUNet::load(unet_dir.string(), precision, false, progress)); },
            working);
    };
    return std::make_unique<diffusion::IfNoisePredictor>(config, source, stage2 ? nullptr : if_prompt_encoder(ctx, dir),
                                                         stage2);
}

void check_if_memory(const RunContext& ctx, const std::string& stage1_dir, const std::string& stage2_dir,
                     const std::vector<std::string>& prompts) {
    const auto precision = ctx.if_precision();
    if (!precision.device.is_cpu()) return;  // the GPU's memory is checked per model as it loads
    struct Part {
        std::string what;
        std::int64_t bytes;
    };
    std::vector<Part> parts;
    std::set<std::string> cached_keys;
    if (ctx.cache)
        for (const auto& e : ctx.cache->entries()) cached_keys.insert(e.key);
    auto unet = [&](const std::string& dir, const std::string& stage) {
        const fs::path unet_dir = fs::path(dir) / "unet";
        const auto config = models::IfUNetConfig::from_json_file((unet_dir / "config.json").string());
        const std::int64_t bytes = models::IfUNet::weight_bytes_of(config, precision);
        const bool loaded = cached_keys.count(cache_key("if-unet", unet_dir, precision)) > 0;
        parts.push_back({"stage " + stage + " UNet " + gb_text(bytes) + (loaded ? " (loaded)" : ""), loaded ? 0 : bytes});
    };
    if (!stage1_dir.empty() && ctx.cache && fs::exists(fs::path(stage1_dir) / "text_encoder" / "config.json")) {
        // The encoder the run will use (from the cache): it knows which prompts are cached on disk.
        auto encoder = if_prompt_encoder(ctx, stage1_dir);
        std::vector<std::string> all = prompts;
        all.push_back("");
        if (encoder->needs_encoder(all))
            parts.push_back({"T5 text encoder " + gb_text(encoder->encoder_bytes()), encoder->encoder_bytes()});
    }
    if (!stage1_dir.empty()) unet(stage1_dir, "I");
    if (!stage2_dir.empty()) unet(stage2_dir, "II");
    std::int64_t peak = 0;
    for (const auto& p : parts) peak = std::max(peak, p.bytes);
    const std::int64_t available = io::available_memory_bytes();
    if (available < 0) return;
    const std::int64_t capacity = available + (ctx.cache ? ctx.cache->evictable_bytes() : 0);
    if (peak <= capacity) return;
    std::string list;
    for (const auto& p : parts) list += (list.empty() ? "" : ", ") + p.what;
    const std::string hint = precision.name() == "fp32"
                                 ? "--dtype bf16 or fp32-w16 halves it"
                                 : "free memory, or use a smaller IF model (IF-I-L, IF-I-M)";
    throw ModelLoadError("DeepFloyd IF in " + precision.name() + " needs " + gb_text(peak) +
                         " of memory at its peak, loading one model at a time (" + list + "); " +
                         gb_text(capacity) + " is available: " + hint + ". Nothing was loaded");
}

std::unique_ptr<diffusion::NoisePredictor> open_predictor(const RunContext& ctx, const std::string& model) {
    if (models::is_if_folder(model)) return open_if_predictor(ctx, model);
    auto loaded = ctx.load_for_inference(model);
    if (!loaded.spec.is_ddpm() && !loaded.spec.is_flow())
        throw InvalidRequest("'" + model + "' is a " + to_string(loaded.spec.kind) +
                             " model; the Part A techniques need a DDPM or flow-matching model "
                             "(e.g. mnist-class-ddpm, mnist-time-ddpm, mnist-class-fm, mnist-time-fm)");
    return std::make_unique<diffusion::MnistNoisePredictor>(std::move(loaded));
}

models::LoadedModel RunContext::load_for_inference(const std::string& model) const {
    return models::with_compute_dtype(registry->load(model), mnist_precision.cpu_compute());
}

}  // namespace ds::jobs
