#include "core/bench/if_folder_writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/models/if_unet.h"
#include "core/models/t5_encoder.h"
#include "core/text/sentencepiece_shim.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ds::bench {
using namespace ds::models;

WeightForm parse_weight_form(const std::string& name) {
    for (auto f : {WeightForm::Fp32, WeightForm::Fp16, WeightForm::Fp32Sharded, WeightForm::Fp16Sharded})
        if (name == weight_form_name(f)) return f;
    throw InvalidRequest("unknown weight form '" + name + "' (fp32, fp16, fp32-sharded, fp16-sharded)");
}

const char* weight_form_name(WeightForm form) {
    switch (form) {
        case WeightForm::Fp32: return "fp32";
        case WeightForm::Fp16: return "fp16";
        case WeightForm::Fp32Sharded: return "fp32-sharded";
        case WeightForm::Fp16Sharded: return "fp16-sharded";
    }
    return "?";
}

namespace {

using Shapes = std::map<std::string, std::vector<std::int64_t>>;
using Init = torch::Tensor (*)(const std::string&, const std::vector<std::int64_t>&, at::Generator&, torch::Device);

bool half(WeightForm f) { return f == WeightForm::Fp16 || f == WeightForm::Fp16Sharded; }
bool sharded(WeightForm f) { return f == WeightForm::Fp32Sharded || f == WeightForm::Fp16Sharded; }

// One model (the UNet or the text encoder) and how its files are named.
struct ModelFiles {
    std::string folder;    // "unet", "text_encoder"
    std::string base;      // "diffusion_pytorch_model", "model"
    Shapes shapes;
    Init init;
    bool t5 = false;       // fp16 forms keep the feed-forward output weights `wo` in F32
};

io::DType stored_dtype(const ModelFiles& m, WeightForm form, const std::string& name) {
    if (!half(form)) return io::DType::F32;
    const bool wo = m.t5 && name.size() > 10 && name.compare(name.size() - 10, 10, ".wo.weight") == 0;
    return wo ? io::DType::F32 : io::DType::F16;
}

std::uint64_t tensor_bytes(const ModelFiles& m, WeightForm form, const std::string& name) {
    std::uint64_t n = io::dtype_size(stored_dtype(m, form, name));
    for (auto d : m.shapes.at(name)) n *= std::uint64_t(d);
    return n;
}

std::uint64_t form_bytes(const ModelFiles& m, WeightForm form) {
    std::uint64_t total = 0;
    for (const auto& entry : m.shapes) total += tensor_bytes(m, form, entry.first);
    return total;
}

// The shards of a form: consecutive runs of names (sorted) of at most `limit` bytes each (a
// tensor larger than the limit gets a shard of its own), as transformers' save_pretrained.
std::vector<std::vector<std::string>> shard_names(const ModelFiles& m, WeightForm form, std::uint64_t limit) {
    std::vector<std::vector<std::string>> shards(1);
    std::uint64_t size = 0;
    for (const auto& entry : m.shapes) {
        const auto bytes = tensor_bytes(m, form, entry.first);
        if (sharded(form) && !shards.back().empty() && size + bytes > limit) {
            shards.emplace_back();
            size = 0;
        }
        shards.back().push_back(entry.first);
        size += bytes;
    }
    return shards;
}

std::string gb(std::uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f GB", double(bytes) / 1e9);
    return buf;
}

class FolderWriter {
public:
    FolderWriter(const IfFolderOptions& o, IfFolderReport& report) : o_(o), report_(report) {}

    void write_json(const std::string& rel, const json& j) {
        fs::create_directories((fs::path(o_.out) / rel).parent_path());
        io::write_file_atomic((fs::path(o_.out) / rel).string(), j.dump(2) + "\n");
        report_.files.push_back(rel);
    }

    // Every tensor of `m` in one form, drawn from a fresh generator (the same values in every form).
    void write_form(const ModelFiles& m, WeightForm form) {
        fs::create_directories(fs::path(o_.out) / m.folder);
        const auto shards = shard_names(m, form, o_.shard_bytes);
        const std::string variant = half(form) ? ".fp16" : "";
        auto gen = at::make_generator<at::CPUGeneratorImpl>(o_.seed);
        json weight_map = json::object();
        std::uint64_t total = 0;
        for (std::size_t k = 0; k < shards.size(); ++k) {
            std::string file = m.base + variant + ".safetensors";
            if (sharded(form)) {
                char suffix[64];
                std::snprintf(suffix, sizeof suffix, "-%05zu-of-%05zu.safetensors", k + 1, shards.size());
                file = m.base + variant + suffix;
            }
            std::vector<io::TensorSpec> specs;
            std::uint64_t bytes = 0;
            for (const auto& name : shards[k]) {
                specs.push_back({name, stored_dtype(m, form, name), m.shapes.at(name)});
                bytes += tensor_bytes(m, form, name);
                weight_map[name] = file;
            }
            total += bytes;
            const std::string rel = m.folder + "/" + file;
            if (o_.on_file) o_.on_file(rel + " (" + gb(bytes) + ")");
            io::SafetensorsWriter writer((fs::path(o_.out) / rel).string(), specs, {{"format", "pt"}});
            for (const auto& spec : writer.order()) {  // sorted: the generator's order in every form
                auto t = m.init(spec.name, spec.shape, gen, torch::kCPU);
                writer.write(spec.name, t.to(io::to_scalar_type(spec.dtype)));
            }
            writer.commit();
            report_.files.push_back(rel);
            report_.bytes += bytes;
        }
        if (sharded(form)) {
            // transformers names the fp16 index model.safetensors.index.fp16.json (the variant tag last).
            const std::string index = m.base + ".safetensors.index" + variant + ".json";
            write_json(m.folder + "/" + index, {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
        }
    }

private:
    const IfFolderOptions& o_;
    IfFolderReport& report_;
};

json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw InvalidRequest("cannot read '" + path + "'");
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw InvalidRequest("'" + path + "' is not JSON: " + e.what());
    }
}

// A caption corpus for the stand-in tokenizer: the course's prompts and their kind of words.
void write_caption_corpus(const std::string& path, std::uint64_t seed) {
    static const char* const subjects[] = {
        "a man", "a woman", "an old man", "a dog", "a cat", "a rocket ship", "a snowy mountain village",
        "a lithograph of a skull", "waterfalls", "people around a campfire", "a hipster barista",
        "a red panda", "the campanile", "a lighthouse", "a skyline at night", "a bowl of fruit", "a horse",
        "a steam train", "a teddy bear", "a castle", "an astronaut", "a sailboat", "a forest", "a robot"};
    static const char* const styles[] = {
        "an oil painting of", "a photo of", "a high quality photo of", "a pencil drawing of",
        "a watercolor of", "a lithograph of", "a digital render of", "a sketch of", "a portrait of"};
    static const char* const extras[] = {
        "wearing a hat", "in the rain", "at sunset", "on the moon", "with flowers", "in winter",
        "under a starry sky", "in the style of van gogh", "made of glass", "reading a book",
        "near the ocean", "in a busy street", "with dramatic lighting", "at dawn", "in the desert"};
    std::mt19937_64 rng(seed);
    auto pick = [&](const auto& arr) { return arr[rng() % (sizeof arr / sizeof arr[0])]; };
    std::ostringstream text;
    for (int i = 0; i < 20000; ++i) text << pick(styles) << ' ' << pick(subjects) << ' ' << pick(extras) << '\n';
    io::write_file_atomic(path, text.str());
}

}  // namespace

IfFolderReport write_random_if_folder(const IfFolderOptions& o) {
    if (o.out.empty()) throw InvalidRequest("no output folder given");
    std::error_code ec;
    if (fs::exists(o.out, ec) && !(fs::is_directory(o.out, ec) && fs::is_empty(o.out, ec)))
        throw InvalidRequest("'" + o.out + "' exists and is not an empty folder: nothing is overwritten");
    if (o.unet_forms.empty()) throw InvalidRequest("no UNet weight form asked for");
    if (o.shard_bytes == 0) throw InvalidRequest("the shard size must be positive");

    ModelFiles unet{"unet", "diffusion_pytorch_model", {}, &if_unet_random_weight, false};
    const auto unet_config = IfUNetConfig::from_json_file(o.unet_config);  // validates
    unet.shapes = if_unet_weight_shapes(unet_config);
    const bool stage2 = unet_config.in_channels == 6;
    if (stage2 && !o.t5_config.empty())
        throw InvalidRequest("a stage II folder has no text encoder (IF stage II uses stage I's prompt embeddings)");
    if (!stage2 && o.t5_config.empty())
        throw InvalidRequest("a stage I folder needs the text encoder's config (e.g. assets/configs/t5-v1_1-xxl.json)");
    ModelFiles t5{"text_encoder", "model", {}, &t5_random_weight, true};
    if (!o.t5_config.empty()) {
        t5.shapes = t5_weight_shapes(T5Config::from_json_file(o.t5_config));
        if (o.t5_forms.empty()) throw InvalidRequest("no text encoder weight form asked for");
    }
    if (!o.tokenizer.empty() && !fs::is_regular_file(o.tokenizer, ec))
        throw InvalidRequest("tokenizer model '" + o.tokenizer + "' is not a file");

    std::uint64_t need = 0;
    for (auto f : o.unet_forms) need += form_bytes(unet, f);
    if (!o.t5_config.empty())
        for (auto f : o.t5_forms) need += form_bytes(t5, f);
    const fs::path parent = fs::absolute(o.out).parent_path();
    const auto space = fs::space(fs::exists(o.out, ec) ? fs::path(o.out) : parent, ec);
    if (!ec && space.available < need + (64u << 20))
        throw IoError("writing '" + o.out + "' needs " + gb(need) + " of disk space; " + gb(space.available) +
                      " is free there");

    IfFolderReport report;
    fs::create_directories(o.out);
    FolderWriter w(o, report);
    json unet_json = read_json(o.unet_config);
    unet_json.erase("_comment");
    unet_json["_class_name"] = "UNet2DConditionModel";
    if (!unet_json.contains("_diffusers_version")) unet_json["_diffusers_version"] = "0.16.0";
    w.write_json("unet/config.json", unet_json);

    json scheduler = {{"_class_name", "DDPMScheduler"}, {"_diffusers_version", "0.16.0"},
                      {"num_train_timesteps", 1000}, {"beta_schedule", "squaredcos_cap_v2"},
                      {"beta_start", 0.0001}, {"beta_end", 0.02}, {"variance_type", "learned_range"},
                      {"prediction_type", "epsilon"}, {"thresholding", true}, {"dynamic_thresholding_ratio", 0.95},
                      {"sample_max_value", stage2 ? 1.0 : 1.5}, {"clip_sample", true}, {"clip_sample_range", 1.0},
                      {"trained_betas", nullptr}};
    w.write_json("scheduler/scheduler_config.json", scheduler);
    json index = {{"_class_name", stage2 ? "IFSuperResolutionPipeline" : "IFPipeline"},
                  {"_diffusers_version", "0.16.0"},
                  {"unet", {"diffusers", "UNet2DConditionModel"}},
                  {"scheduler", {"diffusers", "DDPMScheduler"}},
                  {"safety_checker", {nullptr, nullptr}},
                  {"feature_extractor", {nullptr, nullptr}},
                  {"watermarker", {nullptr, nullptr}},
                  {"requires_safety_checker", false},
                  {"_ds_note", "random weights written by Diffusion Studio (ds-make-if-folder), seed " +
                                   std::to_string(o.seed) + "; not a trained model"}};
    if (stage2) {
        index["tokenizer"] = {nullptr, nullptr};
        index["text_encoder"] = {nullptr, nullptr};
        index["image_noising_scheduler"] = {"diffusers", "DDPMScheduler"};
        json noising = {{"_class_name", "DDPMScheduler"}, {"_diffusers_version", "0.16.0"},
                        {"num_train_timesteps", 1000}, {"beta_schedule", "squaredcos_cap_v2"}};
        w.write_json("image_noising_scheduler/scheduler_config.json", noising);
    } else {
        index["tokenizer"] = {"transformers", "T5Tokenizer"};
        index["text_encoder"] = {"transformers", "T5EncoderModel"};
        json t5_json = read_json(o.t5_config);
        t5_json.erase("_comment");
        w.write_json("text_encoder/config.json", t5_json);
        fs::create_directories(fs::path(o.out) / "tokenizer");
        const std::string spiece = (fs::path(o.out) / "tokenizer" / "spiece.model").string();
        if (!o.tokenizer.empty()) {
            fs::copy_file(o.tokenizer, spiece);
        } else {
            if (o.on_file) o.on_file("tokenizer/spiece.model (a unigram stand-in trained on generated captions)");
            const std::string corpus = (fs::path(o.out) / "tokenizer" / ".captions.txt").string();
            write_caption_corpus(corpus, o.seed);
            // T5's conventions: pad 0, </s> 1, <unk> 2, no <s>; NFKC; a dummy prefix.
            text::SentencePiece::train("--input=" + corpus + " --model_prefix=" +
                                       (fs::path(o.out) / "tokenizer" / "spiece").string() +
                                       " --model_type=unigram --vocab_size=400 --hard_vocab_limit=false"
                                       " --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1"
                                       " --normalization_rule_name=nmt_nfkc --character_coverage=1.0"
                                       " --minloglevel=2");
            fs::remove(corpus, ec);
            fs::remove(fs::path(o.out) / "tokenizer" / "spiece.vocab", ec);
        }
        report.files.push_back("tokenizer/spiece.model");
        w.write_json("tokenizer/special_tokens_map.json",
                     {{"eos_token", "</s>"}, {"pad_token", "<pad>"}, {"unk_token", "<unk>"}});
        w.write_json("tokenizer/tokenizer_config.json",
                     {{"tokenizer_class", "T5Tokenizer"}, {"extra_ids", 100}, {"model_max_length", 77},
                      {"eos_token", "</s>"}, {"pad_token", "<pad>"}, {"unk_token", "<unk>"}});
    }
    for (auto f : o.unet_forms) w.write_form(unet, f);
    if (!stage2)
        for (auto f : o.t5_forms) w.write_form(t5, f);
    w.write_json("model_index.json", index);  // last: a folder without it was not finished
    return report;
}

}  // namespace ds::bench
