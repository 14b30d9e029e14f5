// `dstudio bench` and `dstudio debug` (see diagnostic_commands.h).
#include "app/cli/diagnostic_commands.h"

#include <iostream>

#include "app/cli/args.h"
#include "app/cli/common.h"
#include "core/bench/diagnostics.h"
#include "core/engine/engine.h"
#include "core/engine/errors.h"

namespace cli {

namespace {

int cmd_bench(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a))
        return std::cout << "usage: dstudio bench [--quick] [--only train,sample,forward,sampler] [--out FILE]\n\n"
                            "Speed benchmarks (JSON). Targets: docs/performance.md.\n"
                            "train runs every model; train-class-ddpm, train-time-ddpm, train-class-fm,\n"
                            "train-time-fm or train-denoiser one of them (--quick: class-ddpm only).\n\n"
                            "DeepFloyd IF at real scale (random weights from assets/configs; gigabytes, run only\n"
                            "when named): if-i-xl-D, if-ii-l-D and t5-xxl-D for D = fp32, bf16, fp16 (GPU) or\n"
                            "fp32-w16 (e.g. --only if-ii-l-fp32,t5-xxl-fp32-w16), on the global --device.\n"
                            "Environment: DS_BENCH_TRACE=FILE writes an op profile (chrome trace) of\n"
                            "one more IF step, DS_BENCH_SHAPES=FILE the shapes of its convolutions and attention\n"
                            "products (input of scripts/pytorch_op_reference.py).\n",
               0;
    Args args(a, {"only", "out"}, {"quick"});
    ds::BenchRequest r;
    r.quick = args.has("quick");
    std::string only = args.str("only");
    for (size_t p = 0; !only.empty();) {
        auto q = only.find(',', p);
        r.only.push_back(only.substr(p, q - p));
        if (q == std::string::npos) break;
        p = q + 1;
    }
    if (args.has("out")) check_output_folder(args.str("out"));
    ds::Engine engine(opt);  // threads and allocator, as every command
    const std::string json = ds::diagnostics::bench(r, opt);
    std::cout << json << "\n";
    if (args.has("out")) ds::write_text_file(args.str("out"), json + "\n");
    return 0;
}

const char* kDebugHelp = R"(usage: dstudio debug t5 --model-dir DIR --prompts IN.json --out OUT.safetensors
       dstudio debug unet --model-dir DIR --cases IN.safetensors --out OUT.safetensors

Diagnostics for verification against reference implementations.
  t5    DIR holds spiece.model, config.json and model.safetensors (a T5 v1.1 encoder); IN.json is
        a JSON list of prompts. Writes input_ids and attention_mask (I64 [N,77]) and
        last_hidden_state (F32 [N,77,d_model]) computed as IF's encode_prompt does
        (lower().strip(), clean_caption=False).
  unet  DIR holds config.json and diffusion_pytorch_model.safetensors (an IF UNet); for every
        case{i}. prefix of IN read sample, timestep, encoder_hidden_states and, if present,
        class_labels; writes case{i}.out (F32).
)";

int cmd_debug(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a) || a.empty()) return std::cout << kDebugHelp, a.empty() ? 2 : 0;
    const std::string what = a[0];
    std::vector<std::string> rest(a.begin() + 1, a.end());
    if (what == "t5") {
        Args args(rest, {"model-dir", "prompts", "out"}, {});
        ds::DebugT5Request r;
        r.model_dir = args.str("model-dir");
        r.prompts_json = args.str("prompts");
        r.out = args.str("out");
        if (r.model_dir.empty() || r.prompts_json.empty() || r.out.empty())
            throw UsageError("debug t5 needs --model-dir, --prompts and --out");
        ds::Engine engine(opt);
        ds::diagnostics::debug_t5(r);
        std::cerr << "wrote " << r.out << "\n";
        return 0;
    }
    if (what == "unet") {
        Args args(rest, {"model-dir", "cases", "out"}, {});
        ds::DebugUnetRequest r;
        r.model_dir = args.str("model-dir");
        r.cases = args.str("cases");
        r.out = args.str("out");
        if (r.model_dir.empty() || r.cases.empty() || r.out.empty())
            throw UsageError("debug unet needs --model-dir, --cases and --out");
        ds::Engine engine(opt);
        ds::diagnostics::debug_unet(r);
        std::cerr << "wrote " << r.out << "\n";
        return 0;
    }
    throw UsageError("unknown debug target '" + what + "' (t5, unet)");
}

}  // namespace

std::map<std::string, CommandFn> diagnostic_commands() { return {{"bench", cmd_bench}, {"debug", cmd_debug}}; }

}  // namespace cli
