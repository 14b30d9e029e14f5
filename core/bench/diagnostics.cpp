#include "core/bench/diagnostics.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/bench/benchmarks.h"
#include "core/engine/errors.h"
#include "core/io/safetensors.h"
#include "core/models/if_unet.h"
#include "core/models/t5_encoder.h"
#include "core/text/t5_tokenizer.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ds::diagnostics {

void debug_t5(const DebugT5Request& r) {
    if (r.model_dir.empty() || r.prompts_json.empty() || r.out.empty())
        throw InvalidRequest("debug t5 needs a model folder, a prompts JSON file and an output file");
    std::ifstream in(r.prompts_json);
    if (!in) throw IoError("cannot read prompts '" + r.prompts_json + "'");
    std::vector<std::string> prompts;
    try {
        prompts = json::parse(in).get<std::vector<std::string>>();
    } catch (const json::exception& e) {
        throw DataError("'" + r.prompts_json + "' must be a JSON list of strings (" + e.what() + ")");
    }
    if (prompts.empty()) throw InvalidRequest("'" + r.prompts_json + "' lists no prompts");
    auto tokenizer = text::T5Tokenizer::open((fs::path(r.model_dir) / "spiece.model").string());
    auto encoder = models::T5Encoder::load(r.model_dir);
    std::vector<std::int64_t> ids, mask;
    for (const auto& p : prompts) {
        auto t = tokenizer.encode(p, r.max_length);
        ids.insert(ids.end(), t.ids.begin(), t.ids.end());
        mask.insert(mask.end(), t.mask.begin(), t.mask.end());
    }
    const auto n = static_cast<std::int64_t>(prompts.size());
    auto ids_t = torch::tensor(ids, torch::kLong).view({n, r.max_length});
    auto mask_t = torch::tensor(mask, torch::kLong).view({n, r.max_length});
    auto hidden = encoder.forward(ids_t, mask_t);
    io::write_safetensors(r.out, {{"input_ids", ids_t}, {"attention_mask", mask_t},
                                  {"last_hidden_state", hidden.contiguous()}});
}

void debug_unet(const DebugUnetRequest& r) {
    if (r.model_dir.empty() || r.cases.empty() || r.out.empty())
        throw InvalidRequest("debug unet needs a model folder, a cases file and an output file");
    auto unet = models::IfUNet::load(r.model_dir);
    auto cases = io::SafetensorsFile::open(r.cases);
    std::vector<std::pair<std::string, torch::Tensor>> outs;
    for (int i = 0;; ++i) {
        const std::string p = "case" + std::to_string(i) + ".";
        if (!cases.contains(p + "sample")) break;
        auto labels = cases.contains(p + "class_labels") ? cases.tensor(p + "class_labels") : torch::Tensor();
        auto out = unet.forward(cases.tensor(p + "sample", torch::kFloat32), cases.tensor(p + "timestep", torch::kLong),
                                cases.tensor(p + "encoder_hidden_states", torch::kFloat32),
                                labels.defined() ? labels.to(torch::kLong) : labels);
        outs.push_back({p + "out", out.contiguous()});
    }
    if (outs.empty()) throw DataError("'" + r.cases + "' has no case0.sample (expected case{i}.sample, .timestep, "
                                      ".encoder_hidden_states[, .class_labels])");
    io::write_safetensors(r.out, outs);
}

std::string bench(const BenchRequest& request, const EngineOptions& options) {
    BenchRequest r = request;
    r.device = options.device;
    return bench::run_benchmarks(r, options.threads);
}

}  // namespace ds::diagnostics
