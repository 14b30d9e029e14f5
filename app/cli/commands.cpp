#include "app/cli/commands.h"
#include "core/engine/precision_info.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "app/cli/args.h"
#include "app/cli/common.h"
#include "app/cli/diagnostic_commands.h"
#include "app/cli/part_a_commands.h"
#include "app/cli/progress.h"
#include <set>

namespace cli {

namespace {

// ---------------------------------------------------------------------------------------------
const char* kTrainHelp = R"(usage: dstudio train --kind KIND --out DIR [options]

Trains a Part B model with the course hyperparameters as defaults (course_spec §3.3-3.6).
KIND: denoiser | time-ddpm | class-ddpm | time-fm | class-fm | classifier
The run folder gets checkpoint.safetensors (atomic: every epoch and every 5 minutes inside one),
epochs/epoch_NNN.safetensors, samples/epoch_NNN.png (fixed noise), metrics.jsonl (loss and lr per
step) and recipe.json. Ctrl+C, SIGTERM or SIGHUP save a checkpoint and exit with 128 + the signal
(130, 143, 129); --resume continues exactly where the last checkpoint stopped, with the same
result as a run never interrupted.

  --dataset NAME|DIR  mnist (default), fashion-mnist, or a folder of IDX files
  --epochs N          default: denoiser 5, DDPM 20, FM 10, classifier 4
  --batch N           default: denoiser 256, DDPM 128, FM 64, classifier 128
  --hidden D          UNet width; default: denoiser 128, others 64
  --lr X              Adam lr; default: denoiser 1e-4, DDPM 1e-3, FM 1e-2
  --lr-decay on|off   ExponentialLR gamma = 0.1^(1/epochs) per epoch (default: on, denoiser off)
  --sigma S           denoiser noise level (0.5)
  --pure-noise        denoiser input is pure noise z = eps (learns the mean digit)
  --p-uncond P        class dropout for CFG (0.1)
  --grad-clip X       clip the global gradient norm (off)
  --ema D             keep an exponential moving average of the weights (decay D, e.g. 0.999);
                      grids, epoch snapshots, export and sampling use it (default off; --resume
                      keeps the run's setting)
  --precision P       fp32 (default) or bf16: autocast of convolutions and matrix products to
                      bf16 (weights, gradients and Adam stay fp32); 1.4x faster on CPUs with
                      AVX512-BF16, slower elsewhere (--resume keeps the run's setting)
  --timesteps T       DDPM steps (300)
  --guidance G        CFG scale of the per-epoch sample grids (5)
  --sample-steps N    FM Euler steps of the grids (50 time / 300 class)
  --seed N            seed for init, shuffling and noise (0)
  --limit N           train on the first N images only
  --no-grids          skip the per-epoch sample grids (--resume keeps the run's choice;
                      --grids turns them back on)
  --checkpoint-minutes M  save inside an epoch after M minutes of work (5; 0 = epoch ends only)
  --checkpoint-steps N    also save every N steps (off)
  --resume            continue the run in --out with its own recipe (kind, lr, seed, batch, ...);
                      options given again override it, e.g. a larger --epochs
  --init MODEL        warm start from the weights of a model of the same kind and width (bundled
                      id, .safetensors file or run folder); new optimizer, lr schedule from --lr

Data-parallel (docs/training.md#data-parallel): the global batch above is split over the ranks,
gradients and BatchNorm statistics are synchronised through PyTorch's c10d (Gloo); rank 0 alone
writes the run folder; any number of ranks resumes any checkpoint.
  --nproc N           start N - 1 worker processes here and train on N ranks (each with the
                      --threads of this process); Ctrl+C stops all at the same step
  --dist-timeout S    a rank that stops answering for S seconds stops the others (300)
  Started by torchrun or by hand, each process reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR
  and MASTER_PORT (GLOO_SOCKET_IFNAME picks the network interface) and is given the same options.
)";

int run_train(ds::TrainRequest& r, const ds::EngineOptions& opt, bool worker);

int cmd_train(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kTrainHelp, 0;
    Args args(a, {"kind", "out", "dataset", "epochs", "batch", "hidden", "lr", "lr-decay", "sigma",
                  "p-uncond", "grad-clip", "timesteps", "guidance", "sample-steps", "seed", "limit", "init",
                  "ema", "precision", "checkpoint-minutes", "checkpoint-steps", "nproc", "dist-timeout",
                  "debug-exit-at-step", "debug-hang-at-step"},
              {"pure-noise", "resume", "no-grids", "grids", "worker"});
    ds::TrainRequest r;
    r.dist = ds::Engine::distributed_from_env();
    if (args.has("dist-timeout")) {
        r.dist.timeout_s = args.number("dist-timeout", r.dist.timeout_s);
        if (!(r.dist.timeout_s >= 1 && r.dist.timeout_s <= 86400))
            throw UsageError("--dist-timeout takes 1 to 86400 seconds");
    }
    if (args.has("worker")) {  // started by --nproc: the recipe and the state come from rank 0
        if (r.dist.world < 2 || r.dist.rank == 0)
            throw UsageError("--worker is started by `dstudio train --nproc N`, with RANK and WORLD_SIZE set");
        return run_train(r, opt, true);
    }
    if (!args.has("out") || (!args.has("kind") && !args.has("resume")))
        throw UsageError("train needs --kind and --out (see --help)");
    if (args.has("kind"))
        r.kind = ds::parse_model_kind(args.str("kind"));
    else
        r.kind_from_run = true;  // --resume alone continues the run's own model kind
    r.out_dir = args.str("out");
    r.dataset = args.str("dataset", r.dataset);
    r.epochs = args.integer("epochs", 0);
    r.batch_size = args.integer("batch", 0);
    r.hidden = args.integer("hidden", 0);
    r.lr = args.number("lr", 0);
    if (args.has("lr-decay")) {
        const auto v = args.str("lr-decay");
        if (v != "on" && v != "off") throw UsageError("--lr-decay takes on or off");
        r.lr_decay = v == "on";
    }
    r.sigma = args.number("sigma", r.sigma);
    r.pure_noise = args.has("pure-noise");
    r.p_uncond = args.number("p-uncond", r.p_uncond);
    r.grad_clip = args.number("grad-clip", 0);
    r.ema = args.number("ema", -1);
    r.precision = args.str("precision", "");
    r.timesteps = args.integer("timesteps", r.timesteps);
    r.guidance = args.number("guidance", r.guidance);
    r.sample_steps = args.integer("sample-steps", 0);
    r.seed = args.u64("seed", 0);
    r.limit = args.integer("limit", 0);
    if (args.has("grids") && args.has("no-grids")) throw UsageError("give --grids or --no-grids, not both");
    r.epoch_grids = args.has("no-grids") ? 0 : args.has("grids") ? 1 : -1;
    r.checkpoint_minutes = args.number("checkpoint-minutes", -1);
    if (args.has("checkpoint-minutes") && r.checkpoint_minutes < 0)
        throw UsageError("--checkpoint-minutes must be >= 0 (0 = only at epoch ends)");
    r.checkpoint_steps = args.integer("checkpoint-steps", -1);
    if (args.has("checkpoint-steps") && r.checkpoint_steps < 0)
        throw UsageError("--checkpoint-steps must be >= 0 (0 = off)");
    r.resume = args.has("resume");
    r.init_from = args.str("init", "");
    if (r.epochs < 0 || r.batch_size < 0 || r.hidden < 0 || r.lr < 0)
        throw UsageError("epochs, batch, hidden and lr must be positive");
    r.nproc = args.integer("nproc", 1);
    if (r.nproc < 1 || r.nproc > 64) throw UsageError("--nproc takes 1 to 64 processes");
    if (r.nproc > 1 && r.dist.world > 1)
        throw UsageError("--nproc starts its own workers: do not combine it with WORLD_SIZE (torchrun)");
    r.debug_exit_at_step = args.integer("debug-exit-at-step", 0);
    r.debug_hang_at_step = args.integer("debug-hang-at-step", 0);
    return run_train(r, opt, false);
}

int run_train(ds::TrainRequest& r, const ds::EngineOptions& opt, bool worker) {
    ds::Engine engine(opt);
    ProgressPrinter progress;
    const std::string prefix = r.dist.world > 1 && r.dist.rank > 0 ? "rank " + std::to_string(r.dist.rank) + ": " : "";
    // Ranks > 0 print no progress bar (rank 0's is the run's); their log lines say which rank.
    if (r.dist.rank == 0) r.callbacks.on_progress = [&](const ds::ProgressEvent& e) { progress.update(e); };
    r.callbacks.on_log = [&](ds::LogLevel l, const std::string& m) { progress.clear(); log_line(l, prefix + m); };
    InterruptScope sig(r.cancel);
    ds::TrainResult res;
    try {
        res = engine.train(r);
    } catch (...) {
        progress.clear();
        throw;
    }
    progress.clear();
    if (worker || r.dist.rank > 0) {
        std::cerr << prefix << (res.outcome == ds::Outcome::Cancelled ? "stopped" : "done") << " at step "
                  << res.steps_done << "\n";
        return res.outcome == ds::Outcome::Cancelled ? InterruptScope::exit_code() : 0;
    }
    if (res.outcome == ds::Outcome::Cancelled) {
        std::cerr << "interrupted: checkpoint saved to " << res.checkpoint << " after " << res.steps_done
                  << " steps; continue with --resume\n";
        return InterruptScope::exit_code();
    }
    std::cerr << "done: " << res.epochs_done << " epochs, " << res.steps_done << " steps, last loss "
              << res.last_loss << "; checkpoint " << res.checkpoint << "\n";
    return 0;
}

// ---------------------------------------------------------------------------------------------
const char* kSampleHelp = R"(usage: dstudio sample --model MODEL --out GRID.png [options]

Samples from a bundled model id (see `dstudio models`), a model file or a training run folder.
DDPM models run Algorithm B.2 (CFG B.4 for class models); flow models run Euler steps; a denoiser
is applied to pure noise. The grid's recipe goes into its PNG text chunk and GRID.json (see
`dstudio replay`). Part A's sampling on the strided list with prompts: `dstudio iterate`.

  --count N            number of samples (time-only models; default 40)
  --per-class K        class models: K samples of every digit (default 4), one column per class
  --labels L,L,...     class models: explicit labels (-1 = unconditional)
  --guidance G         CFG scale (5; 1 = purely conditional, 0 = unconditional)
  --steps N            DDPM: strided steps (default all T); FM: Euler steps (50 time / 300 class)
  --posterior-variance DDPM: sigma_t = sqrt(beta_tilde_t) instead of sqrt(beta_t)
  --seed N             seed (0); same seed -> same bytes
  --columns N          grid columns
  --scale N            upscale the grid N times (nearest; default 2)
  --raw FILE           also write samples [N,1,28,28] F32 in [0,1] and labels I64 (safetensors)
  --gif FILE           write the denoising trajectory (x_t) as an animated GIF (a .mp4 or
                       .avi name writes a video instead)
  --gif-x0             animate the x0 estimates instead of x_t
  --gif-every N        keep every Nth step in the GIF (default: about 60 frames)
)";

int cmd_sample(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kSampleHelp, 0;
    Args args(a, {"model", "out", "count", "per-class", "labels", "guidance", "steps", "seed", "columns",
                  "scale", "raw", "gif", "gif-every"},
              {"posterior-variance", "gif-x0"});
    if (!args.has("model") || !args.has("out")) throw UsageError("sample needs --model and --out (see --help)");
    ds::SampleRequest r;
    r.model = args.str("model");
    r.count = args.integer("count", 0);
    r.per_class = args.integer("per-class", 0);
    r.labels = args.integers("labels", {});
    r.guidance = args.number("guidance", r.guidance);
    r.steps = args.integer("steps", 0);
    r.seed = args.u64("seed", 0);
    r.grid_columns = args.integer("columns", 0);
    r.posterior_variance = args.has("posterior-variance");
    r.raw_out = args.str("raw");
    const int scale = args.integer("scale", 2);
    if (scale < 1 || scale > 16) throw UsageError("--scale must be in 1..16");
    const std::string gif = args.str("gif");
    const int gif_every = args.integer("gif-every", 0);
    const bool gif_x0 = args.has("gif-x0");
    for (const auto& path : {args.str("out"), gif, r.raw_out})  // before sampling, not after
        if (!path.empty()) check_output_folder(path);

    ds::Engine engine(opt);
    std::vector<ds::Image> frames;
    ProgressPrinter progress;
    r.callbacks.preview_interval = 1;
    r.callbacks.on_log = [&](ds::LogLevel l, const std::string& m) { progress.clear(); log_line(l, m); };
    r.callbacks.on_progress = [&](const ds::ProgressEvent& p) { progress.update(p); };
    if (!gif.empty())
        r.callbacks.on_frame = [&](const ds::FrameEvent& e) {
            const int every = gif_every > 0 ? gif_every : std::max(1, e.total / 60);
            if (e.step % every == 0 || e.step == e.total || e.step == 1)
                frames.push_back(ds::scale_nearest(gif_x0 ? e.x0_hat : e.x_t, scale));
        };
    InterruptScope sig(r.cancel);
    auto res = engine.sample(r);
    progress.clear();
    if (res.outcome == ds::Outcome::Cancelled) {
        std::cerr << "interrupted; nothing written\n";
        return InterruptScope::exit_code();
    }
    write_figure("sample", a, res.recipe_json, ds::scale_nearest(res.grid, scale), args.str("out"));
    if (!gif.empty()) ds::write_animation(frames, gif, 6, 200);
    std::cerr << "wrote " << args.str("out") << " (" << res.images.size() << " samples, "
              << res.seconds << " s)" << (gif.empty() ? "" : ", " + gif) << (r.raw_out.empty() ? "" : ", " + r.raw_out)
              << "\n";
    return 0;
}

// ---------------------------------------------------------------------------------------------
const char* kSweepHelp = R"(usage: dstudio %s --out FILE.png [options]

%s
  --sigmas S,S,...   noise levels (default 0,0.2,0.4,0.5,0.6,0.8,1.0)
  --index I,I,...    test-set image indices, one row each (default 0)
  --dataset NAME     mnist (default), fashion-mnist or a folder
  --seed N           noise seed (0)
)";

const char* kDenoiseImageHelp = R"(
On any image (what the Studio's Denoise mode runs), with a recipe (dstudio replay re-runs it):
  --input IMAGE      the clean image (--fit, --invert as for dstudio iterate)
  --sigma S          noise level of z = x + S*eps (0.5); --model defaults to mnist-denoiser
  --sweep S,S,...    also the strip at these sigmas, one shared noise draw
  --pure-noise       z = eps instead of a noised image (course 1.2.3), --count N of them
)";

int cmd_sweep(bool with_model, const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    const bool on_image = std::any_of(a.begin(), a.end(), [](const std::string& s) {
        return s == "--input" || s.rfind("--input=", 0) == 0 || s == "--pure-noise";
    });
    if (with_model && on_image && !wants_help(a)) return cmd_denoise_image(a, opt);
    if (wants_help(a)) {
        std::printf(kSweepHelp, with_model ? "denoise" : "noise",
                    with_model ? "Runs a denoiser (--model, e.g. mnist-denoiser) on test digits noised at each sigma:\n"
                                 "per digit a row of noisy inputs and a row of outputs (course 1.2.2).\n"
                                 "  --model MODEL      the denoiser"
                               : "Shows z = x + sigma*eps for test digits (course 1.1).");
        if (with_model) std::printf("%s", kDenoiseImageHelp);
        return 0;
    }
    std::set<std::string> names = {"out", "sigmas", "index", "dataset", "seed"};
    if (with_model) names.insert("model");
    Args args(a, names, {});
    if (args.has("out")) check_output_folder(args.str("out"));
    if (!args.has("out") || (with_model && !args.has("model")))
        throw UsageError(with_model ? "denoise needs --model and --out" : "noise needs --out");
    ds::DenoiseSweepRequest r;
    r.model = args.str("model");
    r.sigmas = args.numbers("sigmas", r.sigmas);
    r.indices = args.integers("index", r.indices);
    r.dataset = args.str("dataset", r.dataset);
    r.seed = args.u64("seed", 0);
    ds::Engine engine(opt);
    auto res = engine.denoise_sweep(r);
    std::string caption = "sigma:";
    for (double s : r.sigmas) {
        char buf[16];
        std::snprintf(buf, sizeof buf, " %.2g", s);
        caption += buf;
    }
    ds::write_png(ds::add_caption(res.grid, caption), args.str("out"));
    std::cerr << "wrote " << args.str("out") << "\n";
    return 0;
}

// ---------------------------------------------------------------------------------------------
const char* kPlotHelp = R"(usage: dstudio plot RUN [RUN...] --out LOSS.png [options]

Plots metrics.jsonl of one or more training runs (run folders or files): faint raw loss per step,
bold moving average.
  --names A,B,...  legend names (default: folder names)
  --linear         linear y axis (default: log)
  --smooth N       moving-average window in steps (50)
  --title TEXT
)";

int cmd_plot(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kPlotHelp, 0;
    Args args(a, {"out", "names", "smooth", "title"}, {"linear"});
    if (!args.has("out") || args.positionals().empty()) throw UsageError("plot needs runs and --out");
    ds::LossPlotRequest r;
    r.runs = args.positionals();
    std::string names = args.str("names");
    for (size_t p = 0; !names.empty();) {
        auto q = names.find(',', p);
        r.names.push_back(names.substr(p, q - p));
        if (q == std::string::npos) break;
        p = q + 1;
    }
    r.out_png = args.str("out");
    check_output_folder(r.out_png);
    r.log_scale = !args.has("linear");
    r.smooth = args.integer("smooth", r.smooth);
    r.title = args.str("title", r.title);
    ds::Engine engine(opt);
    engine.plot_losses(r);
    std::cerr << "wrote " << r.out_png << "\n";
    return 0;
}

// ---------------------------------------------------------------------------------------------
const char* kEvalHelp = R"(usage: dstudio eval --model MODEL --classifier FILE [options]

Scores generated digits with a classifier (JSON on stdout).
Class-conditioned models: K samples of every class with CFG; "accuracy" = the fraction recognised
as the requested digit. Time-conditioned models: 10*K unconditional samples; "confident_fraction"
= the fraction the classifier is sure about (top probability >= threshold: "looks like a digit";
real MNIST test digits score >= 95 %), "predicted" = how many fell in each class.
"frechet": the Fréchet distance of the classifier's penultimate features (128 per image) of the
samples to those of the whole test split; "frechet_real_digits": the same for as many real test
digits drawn at random, for scale (lower is closer to real data).
A single-step denoiser (no classifier needed): "denoise" lists, for each sigma of the course's
sweep (0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0), the mean squared error of its output against the clean
digit over the first 10*K test digits, and "mse_noisy" of the noisy input itself for scale.
  --per-class K   (20)   --guidance G (5)   --steps N   --seed N (0)   --threshold P (0.9)
  --no-frechet    skip the Fréchet distance
  --posterior-variance   DDPM: sample with sigma_t = sqrt(beta_tilde_t) instead of sqrt(beta_t)
)";

int cmd_eval(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kEvalHelp, 0;
    Args args(a, {"model", "classifier", "per-class", "guidance", "steps", "seed", "threshold"},
              {"no-frechet", "posterior-variance"});
    if (!args.has("model")) throw UsageError("eval needs --model (and --classifier for generative models)");
    ds::EvalRequest r;
    r.model = args.str("model");
    r.classifier = args.str("classifier");
    r.per_class = args.integer("per-class", r.per_class);
    r.guidance = args.number("guidance", r.guidance);
    r.steps = args.integer("steps", 0);
    r.seed = args.u64("seed", 0);
    r.threshold = args.number("threshold", r.threshold);
    r.frechet = !args.has("no-frechet");
    r.posterior_variance = args.has("posterior-variance");
    ds::Engine engine(opt);
    ProgressPrinter progress;
    r.callbacks.on_log = [&](ds::LogLevel l, const std::string& m) { progress.clear(); log_line(l, m); };
    r.callbacks.on_progress = [&](const ds::ProgressEvent& p) { progress.update(p); };
    InterruptScope sig(r.cancel);
    auto res = engine.evaluate(r);
    progress.clear();
    if (res.outcome == ds::Outcome::Cancelled) return InterruptScope::exit_code();
    if (!res.denoise.empty()) {
        nlohmann::json d = nlohmann::json::array();
        for (const auto& s : res.denoise) d.push_back({{"sigma", s.sigma}, {"mse", s.mse}, {"mse_noisy", s.mse_noisy}});
        std::cout << nlohmann::json{{"model", r.model}, {"total", res.total}, {"denoise", d}}.dump() << "\n";
        return 0;
    }
    nlohmann::json j = {{"model", r.model}, {"total", res.total}, {"threshold", r.threshold},
                        {"confident", res.confident}, {"confident_fraction", res.confident_fraction()},
                        {"mean_confidence", res.mean_confidence}, {"predicted", res.predicted}};
    if (r.posterior_variance) j["posterior_variance"] = true;
    if (res.frechet >= 0) {
        j["frechet"] = res.frechet;
        j["frechet_real_digits"] = res.frechet_real;  // as many real test digits, for scale
        j["frechet_reference"] = res.frechet_reference;
    }
    if (res.conditional) {
        j["correct"] = res.correct;
        j["accuracy"] = res.accuracy();
        j["per_class_correct"] = res.per_class_correct;
    }
    std::cout << j.dump() << "\n";
    return 0;
}

// ---------------------------------------------------------------------------------------------
int cmd_models(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a))
        return std::cout << "usage: dstudio models [--verbose]\n\nLists the bundled models.\n"
                            "  --verbose  also the precision each model family runs in (--dtype; with auto, what was\n"
                            "             measured on this CPU)\n",
               0;
    Args args(a, {}, {"verbose"});
    ds::Engine engine(opt);
    auto models = engine.bundled_models();
    if (models.empty()) std::cout << "no bundled models in " << engine.assets_dir() << "/models\n";
    for (const auto& m : models)
        std::cout << m.id << "\t" << ds::to_string(m.kind) << " D=" << m.hidden << "\t" << m.description << "\n";
    if (args.has("verbose"))
        for (const auto& p : ds::describe_precision(opt))
            std::cout << "precision\t" << p.family << "\t" << p.dtype << "\t" << p.reason << "\n";
    return 0;
}

int cmd_export(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a))
        return std::cout << "usage: dstudio export --run RUN|FILE --out MODEL.safetensors [--fp16] "
                            "[--description TEXT] [--recalibrate-bn N [--seed S]]\n\nWrites a standalone model file (no optimizer state). A run trained with --ema\n"
                            "exports its weight average.\n"
                            "  --recalibrate-bn N  re-estimate the BatchNorm running statistics for the exported\n"
                            "                      weights over N batches of 128 noisy training images\n"
                            "                      (default: 50 when a run's weight average (--ema) is\n"
                            "                      exported and the trainer has not re-estimated them at an\n"
                            "                      epoch end yet; 0: keep the file's statistics)\n",
               0;
    Args args(a, {"run", "out", "description", "recalibrate-bn", "seed"}, {"fp16"});
    if (!args.has("run") || !args.has("out")) throw UsageError("export needs --run and --out");
    ds::ExportRequest r;
    r.source = args.str("run");
    r.out = args.str("out");
    check_output_folder(r.out);
    r.fp16 = args.has("fp16");
    r.description = args.str("description");
    r.recalibrate_bn = args.integer("recalibrate-bn", -1);
    if (args.has("recalibrate-bn") && r.recalibrate_bn < 0) throw UsageError("--recalibrate-bn must be >= 0");
    r.recalibrate_seed = std::uint64_t(args.integer("seed", 0));
    ds::Engine engine(opt);
    engine.export_model(r);
    std::cerr << "wrote " << r.out << "\n";
    return 0;
}

}  // namespace

int run_command(const std::string& command, const std::vector<std::string>& args,
                const ds::EngineOptions& options) {
    static std::map<std::string, CommandFn> commands = {
            {"train", cmd_train},
            {"sample", cmd_sample},
            {"noise", [](auto& a, auto& o) { return cmd_sweep(false, a, o); }},
            {"denoise", [](auto& a, auto& o) { return cmd_sweep(true, a, o); }},
            {"plot", cmd_plot},
            {"eval", cmd_eval},
            {"models", cmd_models},
            {"export", cmd_export},
        };
    static const bool merged = [] {
        for (auto& [name, fn] : part_a_commands()) commands[name] = fn;
        for (auto& [name, fn] : diagnostic_commands()) commands[name] = fn;
        return true;
    }();
    (void)merged;
    auto it = commands.find(command);
    if (it == commands.end()) throw UsageError("unknown command '" + command + "' (see dstudio --help)");
    return it->second(args, options);
}

}  // namespace cli
