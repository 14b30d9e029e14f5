// The Part A subcommands (course §2 on any noise predictor) and `replay`. Every output PNG carries
// its recipe in a text chunk and in a JSON sidecar; `dstudio replay` re-runs a recipe and reports
// whether the bytes match.
#include "app/cli/part_a_commands.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>

#include <nlohmann/json.hpp>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/common.h"
#include "app/cli/progress.h"
#include "core/engine/engine.h"
#include "core/engine/hashing.h"
#include "core/engine/recipe.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace cli {

namespace {

const char* kCommon = R"(
Model and sampler (every technique):
  --model MODEL        DDPM model id, file or run folder (default mnist-class-ddpm)
  --weights DIR        a DeepFloyd IF stage I folder (diffusers format) instead of --model
  --prompt P           MNIST class models: a digit 0-9 or class name; IF: text; "" = unconditional
  --negative P         IF: CFG's negative prompt (default "")
  --guidance G         CFG scale (default: model's, 5 for MNIST; 1 = no CFG)
  --timesteps LIST     decreasing timesteps "297,288,...,0" or a range "START:STOP:STEP"
                       (default: the course's 34-entry strided list, T=300: 297:0:9)
  --variance V         auto | beta | posterior | learned | none (default auto)
  --x0 MODE            none | clip | dynamic: limit x0 before each update (default none)
  --seed N             seed of every random draw (0); same seed -> same bytes
  --count N            samples per run (1)
  --out FILE.png       the figure; FILE.json gets the recipe (also in the PNG's text chunk)
  --gif FILE           the trajectory as an animated GIF (x_t; --gif-x0 for the x0 estimates);
                       a .mp4 or .avi name writes a video instead
  --gif-every N        keep every Nth step in the GIF (1)
)";

const char* kInput = R"(
Input image:
  --input FILE         any image (photo, web image, drawing); resized to the model's size
  --fit MODE           auto | digit | crop | pad | stretch (auto: digit for MNIST, crop otherwise)
  --invert MODE        auto | yes | no: dark-on-light drawings become light-on-dark (MNIST)
)";

const std::set<std::string> kSamplerOptions = {
    "model", "weights", "prompt", "negative", "guidance", "timesteps", "variance", "x0", "seed", "count",
    "out",   "gif",    "gif-every"};
const std::set<std::string> kInputOptions = {"input", "fit", "invert"};

std::set<std::string> merge(std::set<std::string> a, const std::set<std::string>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

std::vector<std::int64_t> parse_timesteps(const std::string& text) {
    std::vector<std::int64_t> ts;
    try {
        if (text.find(':') != std::string::npos) {
            auto parts = split_list(text, ':');
            if (parts.size() != 3) throw std::invalid_argument(text);
            const long long start = std::stoll(parts[0]), stop = std::stoll(parts[1]),
                            step = std::stoll(parts[2]);
            if (step <= 0 || start < stop || (start - stop) / step > 100000)
                throw UsageError("--timesteps START:STOP:STEP needs START >= STOP and STEP > 0");
            for (long long t = start; t >= stop; t -= step) ts.push_back(t);
        } else {
            for (const auto& p : split_list(text)) {
                size_t used = 0;
                ts.push_back(std::stoll(p, &used));
                if (used != p.size()) throw std::invalid_argument(p);
            }
        }
    } catch (const UsageError&) {
        throw;
    } catch (const std::exception&) {
        throw UsageError("--timesteps takes a comma list of integers or START:STOP:STEP (got '" + text + "')");
    }
    return ts;
}

ds::SamplerSettings sampler_from(const Args& args) {
    ds::SamplerSettings s;
    if (args.has("model") && args.has("weights")) throw UsageError("give --model or --weights, not both");
    s.model = args.has("weights") ? args.str("weights") : args.str("model", "mnist-class-ddpm");
    s.prompt = args.str("prompt");
    s.negative_prompt = args.str("negative");
    s.guidance = args.number("guidance", -1);
    if (args.has("guidance") && s.guidance < 0) throw UsageError("--guidance must be >= 0");
    if (args.has("timesteps")) s.timesteps = parse_timesteps(args.str("timesteps"));
    s.variance = ds::parse_variance_choice(args.str("variance", "auto"));
    s.x0_limit = ds::parse_x0_limit(args.str("x0", "none"));
    s.seed = args.u64("seed", 0);
    s.count = args.integer("count", 1);
    return s;
}

ds::ImageInput image_from(const Args& args, const std::string& key, bool required) {
    ds::ImageInput in;
    in.path = args.str(key);
    if (required && in.path.empty()) throw UsageError("--" + key + " FILE is required");
    in.fit = ds::parse_input_fit(args.str("fit", "auto"));
    in.invert = ds::parse_invert(args.str("invert", "auto"));
    return in;
}

// Runs a Part A request with progress, GIF frames and Ctrl+C; writes figure, recipe and GIF.
template <typename Request>
int execute(const std::string& command, const std::vector<std::string>& raw, const Args& args,
            Request& r, ds::PartAResult (ds::Engine::*method)(const Request&),
            const ds::EngineOptions& opt) {
    const std::string out = args.str("out");
    if (out.empty()) throw UsageError(command + " needs --out FILE.png (see --help)");
    const std::string gif = args.str("gif");
    const int gif_every = args.integer("gif-every", 1);
    if (gif_every < 1) throw UsageError("--gif-every must be >= 1");
    const bool gif_x0 = args.has("gif-x0");
    check_output_folder(out);  // before minutes of sampling, not after
    if (!gif.empty()) check_output_folder(gif);

    ds::Engine engine(opt);
    ProgressPrinter progress;
    std::vector<ds::Image> frames;
    int frame_no = 0;
    r.callbacks.on_progress = [&](const ds::ProgressEvent& e) { progress.update(e); };
    if (!gif.empty()) {
        r.callbacks.on_frame = [&](const ds::FrameEvent& e) {
            if (frame_no++ % gif_every == 0 || e.step == e.total)
                frames.push_back(gif_x0 ? e.x0_hat : e.x_t);
        };
    }
    InterruptScope sig(r.cancel);
    ds::PartAResult res;
    try {
        res = (engine.*method)(r);
    } catch (...) {
        progress.clear();
        throw;
    }
    progress.clear();
    if (res.outcome == ds::Outcome::Cancelled) {
        std::cerr << "interrupted; nothing written\n";
        return InterruptScope::exit_code();
    }
    for (const auto& n : res.notes) log_line(ds::LogLevel::Info, "note: " + n);
    write_figure(command, raw, res.recipe_json, res.figure, out);
    if (!gif.empty() && !frames.empty()) ds::write_animation(frames, gif, 8, 150);
    std::fprintf(stderr, "wrote %s (+ %s%s%s), %.1f s\n", out.c_str(),
                 fs::path(sidecar_path(out)).filename().c_str(), gif.empty() ? "" : ", ", gif.c_str(),
                 res.seconds);
    return 0;
}

// ---------------------------------------------------------------------------------------------
int cmd_explore(const std::string& command, const std::vector<std::string>& a,
                const ds::EngineOptions& opt) {
    const bool blur = command == "blur" || command == "explore";
    const bool one = command == "one-step" || command == "explore";
    if (wants_help(a)) {
        std::cout << "usage: dstudio " << command << " --input IMAGE --out FIG.png [options]\n\n"
                  << (command == "forward"    ? "Forward process x_t = sqrt(abar) x0 + sqrt(1-abar) eps (course 1.1)."
                      : command == "blur"     ? "Noisy images and their Gaussian-blur denoising (course 1.2)."
                      : command == "one-step" ? "Noisy images and the one-step estimate x0 = (x_t - sqrt(1-abar) eps)/sqrt(abar) (1.3)."
                                              : "Forward process, blur and one-step estimate side by side (1.1-1.3).")
                  << "\n\n  --t LIST            timesteps (default T/4, T/2, 3T/4: 75,150,225 for MNIST)\n"
                  << (blur ? "  --kernel K          blur kernel size, odd (5)\n  --sigma S           blur sigma (2)\n" : "")
                  << kInput << kCommon;
        return 0;
    }
    Args args(a, merge(merge(kSamplerOptions, kInputOptions), {"t", "kernel", "sigma"}), {"gif-x0"});
    ds::NoiseExplorerRequest r;
    r.sampler = sampler_from(args);
    r.input = image_from(args, "input", true);
    for (int t : args.integers("t", {})) r.t_list.push_back(t);
    r.blur_kernel = args.integer("kernel", r.blur_kernel);
    r.blur_sigma = args.number("sigma", r.blur_sigma);
    r.show_blur = blur;
    r.show_one_step = one;
    return execute(command, a, args, r, &ds::Engine::explore_noise, opt);
}

const char* kIterateHelp = R"(usage: dstudio iterate [--input IMAGE] --out FIG.png [options]

Iterative denoising on the strided timestep list (course 1.4, update A.3). With --input the image
is noised to timesteps[i_start] and denoised; the figure shows every Nth iterate and compares the
result with the one-step estimate and a Gaussian blur. Without --input it samples --count images
from pure noise (1.5; with --guidance > 1, CFG as in 1.6).

  --i-start I          index into the timestep list (default 10 with --input, 0 without)
  --show-every N       figure: every Nth iterate (5)
  --kernel K --sigma S the blur of the comparison (5, 2)
)";

int cmd_iterate(const std::string& command, const std::vector<std::string>& a,
                const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kIterateHelp << kInput << kCommon, 0;
    Args args(a, merge(merge(kSamplerOptions, kInputOptions), {"i-start", "show-every", "kernel", "sigma"}),
              {"gif-x0"});
    ds::IterateRequest r;
    r.sampler = sampler_from(args);
    r.input = image_from(args, "input", false);
    r.i_start = args.integer("i-start", -1);
    r.show_every = args.integer("show-every", r.show_every);
    r.blur_kernel = args.integer("kernel", r.blur_kernel);
    r.blur_sigma = args.number("sigma", r.blur_sigma);
    return execute(command, a, args, r, &ds::Engine::iterate, opt);
}

const char* kSdeditHelp = R"(usage: dstudio sdedit --input IMAGE --out STRIP.png [options]

SDEdit image-to-image (course 1.7): noise the input to timesteps[i_start] and denoise, for each
i_start; with a --prompt other than the image's own content it is the class/text-conditional
image-to-image of 1.7.3 (e.g. a 1 turned into a 7). Works on photos, web images and drawings
(MNIST: dark-on-light drawings are inverted and framed like a digit).

  --i-start LIST       i_start values, one column each (default 1,3,5,7,10,20)
  --fresh-noise        a new forward noise for every i_start (default: the same noise for all)
)";

int cmd_sdedit(const std::string& command, const std::vector<std::string>& a,
               const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kSdeditHelp << kInput << kCommon, 0;
    Args args(a, merge(merge(kSamplerOptions, kInputOptions), {"i-start"}), {"gif-x0", "fresh-noise"});
    ds::SdeditRequest r;
    r.sampler = sampler_from(args);
    r.input = image_from(args, "input", true);
    r.i_starts = args.integers("i-start", r.i_starts);
    r.shared_noise = !args.has("fresh-noise");
    return execute(command, a, args, r, &ds::Engine::sdedit, opt);
}

const char* kInpaintHelp = R"(usage: dstudio inpaint --input IMAGE --mask MASK --out FIG.png [options]

Inpainting (RePaint, course 1.7.2): white pixels of the mask (>= 128) are generated, black ones
kept; after every step the kept region is replaced by the original noised to the new timestep, so
the final image keeps it exactly. A mask of another size is resized (with a note).

  --mask FILE          the mask image
  --mask-cover any|half  a mask larger than the model is shrunk: a model pixel is generated when
                       any white pixel falls in it (any, the default: nothing of the original
                       survives under a stroke) or when at least half of it is white (half; how
                       recipes written before 2026-12-05 replay)
  --grow N             dilate the mask by N pixels (model resolution; 0)
  --feather S          soften the mask edge outward, Gaussian sigma in pixels (0)
  --i-start I          start from the original noised to timesteps[I] instead of pure noise (0)
)";

int cmd_inpaint(const std::string& command, const std::vector<std::string>& a,
                const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kInpaintHelp << kInput << kCommon, 0;
    Args args(a, merge(merge(kSamplerOptions, kInputOptions), {"mask", "mask-cover", "grow", "feather", "i-start"}),
              {"gif-x0"});
    ds::InpaintRequest r;
    r.sampler = sampler_from(args);
    r.input = image_from(args, "input", true);
    if (!args.has("mask")) throw UsageError("inpaint needs --mask FILE (white = generate)");
    r.mask.path = args.str("mask");
    r.mask.fit = ds::InputFit::Stretch;
    r.mask.invert = ds::Invert::No;
    const std::string cover = args.str("mask-cover", "any");
    if (cover != "any" && cover != "half")
        throw UsageError("--mask-cover must be any or half, not '" + cover + "'");
    r.cover = cover == "any" ? ds::MaskCover::Any : ds::MaskCover::Half;
    r.grow = args.integer("grow", 0);
    r.feather = args.number("feather", 0);
    r.i_start = args.integer("i-start", 0);
    return execute(command, a, args, r, &ds::Engine::inpaint, opt);
}

const char* kAnagramHelp = R"(usage: dstudio anagram --prompts P1,P2 --out FIG.png [options]

Visual anagrams (course 1.8): one image that shows prompt k under view k. Each step averages
view_k^-1(CFG-eps(view_k(x_t), prompt_k)). The figure shows every sample through every view.

  --prompts LIST       one prompt per view (e.g. 6,9)
  --views LIST         identity, flipv (upside down), fliph, rot90, rot180, rot270, transpose,
                       jigsawN[:SEED] (N x N tiles, e.g. jigsaw4), negate
                       (default identity,flipv)
  --mean-variance      learned variance: average over views (default: the first view's)
)";

int cmd_anagram(const std::string& command, const std::vector<std::string>& a,
                const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kAnagramHelp << kCommon, 0;
    Args args(a, merge(kSamplerOptions, {"prompts", "views"}), {"gif-x0", "mean-variance"});
    ds::AnagramRequest r;
    r.sampler = sampler_from(args);
    if (!args.has("prompts")) throw UsageError("anagram needs --prompts (one per view)");
    r.prompts = split_list(args.str("prompts"));
    if (args.has("views")) r.views = split_list(args.str("views"));
    r.mean_variance = args.has("mean-variance");
    return execute(command, a, args, r, &ds::Engine::anagram, opt);
}

const char* kHybridHelp = R"(usage: dstudio hybrid --far P1 --near P2 --out FIG.png [options]

Hybrid images (factorized diffusion, course 1.9): eps = lowpass(eps(far)) + highpass(eps(near)).
The figure shows the result, its low-pass part (what you see from afar) and its high-pass part.

  --far P              the prompt seen from afar (low frequencies)
  --near P             the prompt seen up close (high frequencies)
  --kernel K           Gaussian kernel size, odd (33)
  --sigma S            Gaussian sigma (2)
)";

int cmd_hybrid(const std::string& command, const std::vector<std::string>& a,
               const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kHybridHelp << kCommon, 0;
    Args args(a, merge(kSamplerOptions, {"far", "near", "kernel", "sigma"}), {"gif-x0"});
    ds::HybridRequest r;
    r.sampler = sampler_from(args);
    if (!args.has("far") || !args.has("near")) throw UsageError("hybrid needs --far and --near prompts");
    r.prompt_far = args.str("far");
    r.prompt_near = args.str("near");
    r.kernel = args.integer("kernel", r.kernel);
    r.sigma = args.number("sigma", r.sigma);
    return execute(command, a, args, r, &ds::Engine::hybrid, opt);
}

// ---------------------------------------------------------------------------------------------
const char* kGenerateHelp = R"(usage: dstudio generate --weights DIR [--upscaler DIR2] --out FIG.png PROMPT [PROMPT...]

DeepFloyd IF text-to-image as diffusers' IFPipeline: stage I (64 px) from pure noise on the
"leading" timesteps with CFG, learned variance and dynamic thresholding; with --upscaler, stage II
(256 px) conditioned on the stage I image noised to --noise-level. Prompts go through T5 once
and are cached (or come from imported embeddings: `dstudio prompts import`).

  --negative P         negative prompt ("")
  --count N            images per prompt (1)
  --steps N            stage I steps (100; the course uses 20)     --guidance G  (7)
  --upscale-steps N    stage II steps (50)                          --upscale-guidance G  (4)
  --noise-level N      stage II noise level of the upscaled image (250)
  --seed N             (0)
)";

int cmd_generate(const std::string& command, const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kGenerateHelp, 0;
    Args args(a, {"weights", "upscaler", "negative", "count", "steps", "guidance", "upscale-steps",
                  "upscale-guidance", "noise-level", "seed", "out", "gif", "gif-every"}, {"gif-x0"});
    ds::IfGenerateRequest r;
    r.weights = args.str("weights");
    if (r.weights.empty()) throw UsageError("generate needs --weights DIR (a DeepFloyd IF stage I folder)");
    r.upscaler = args.str("upscaler");
    r.prompts = args.positionals();
    if (r.prompts.empty()) throw UsageError("give at least one prompt");
    r.negative_prompt = args.str("negative");
    r.count = args.integer("count", r.count);
    r.steps = args.integer("steps", r.steps);
    r.guidance = args.number("guidance", r.guidance);
    r.upscale_steps = args.integer("upscale-steps", r.upscale_steps);
    r.upscale_guidance = args.number("upscale-guidance", r.upscale_guidance);
    r.noise_level = args.integer("noise-level", r.noise_level);
    r.seed = args.u64("seed", 0);
    return execute(command, a, args, r, &ds::Engine::if_generate, opt);
}

int cmd_prompts(const std::string&, const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a) || a.empty()) {
        std::cout << "usage: dstudio prompts import FILE.pth [--cache DIR]\n\n"
                     "Imports the course's precomputed prompt_embeds_dict.pth (a dict of prompt -> [1,77,4096]\n"
                     "T5-XXL embeddings) into the prompt-embedding cache, so IF folders without text_encoder/\n"
                     "work with those prompts. Default cache: $DS_CACHE_DIR/prompts or ~/.cache/diffusion-studio/prompts.\n";
        return a.empty() ? 2 : 0;
    }
    if (a[0] != "import") throw UsageError("unknown prompts action '" + a[0] + "' (import)");
    Args args(std::vector<std::string>(a.begin() + 1, a.end()), {"cache"}, {});
    if (args.positionals().size() != 1) throw UsageError("prompts import needs one .pth file");
    ds::PromptImportRequest r;
    r.file = args.positionals()[0];
    r.cache_dir = args.str("cache");
    ds::Engine engine(opt);
    const int n = engine.import_prompts(r);
    std::cerr << "imported " << n << " prompt embeddings\n";
    return 0;
}

const char* kReplayHelp = R"(usage: dstudio replay RECIPE.json|FIGURE.png [--out FILE.png] [--check]

Re-runs the command a recipe describes (the JSON sidecar of an output, or the PNG itself, whose
text chunk holds the recipe) and reports whether the new figure has the same bytes. Input images
and masks are read from their recorded paths; a changed file (SHA-256) is reported. A DeepFloyd
IF result is re-run in the --dtype it was made with (the recipe's "dtype"; fp32 when absent).

  --out FILE     where to write the re-run (default: <recipe>.replay.png)
  --check        exit with 1 when the bytes differ
)";

int cmd_replay(const std::string&, const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    if (wants_help(a)) return std::cout << kReplayHelp, 0;
    Args args(a, {"out"}, {"check"});
    if (args.positionals().size() != 1) throw UsageError("replay needs one recipe (.json or .png)");
    const std::string src = args.positionals()[0];
    // The recipe is data: it is validated against the allow-list of sampling commands and their
    // options before anything runs, and where the re-run is written comes from --out alone.
    std::string text;
    bool from_png = false;
    if (fs::path(src).extension() == ".png") {
        from_png = true;
        bool found = false;
        for (const auto& [k, v] : ds::read_png_text(src))
            if (k == "ds.recipe") text = v, found = true;
        if (!found) throw ds::DataError("'" + src + "' has no ds.recipe text chunk");
    } else {
        std::error_code ec;
        const auto size = fs::file_size(src, ec);
        if (ec) throw ds::IoError("cannot read recipe '" + src + "': " + ec.message());
        if (size > ds::kMaxRecipeBytes)
            throw ds::DataError("'" + src + "' is " + std::to_string(size) + " bytes, larger than any recipe (" +
                                std::to_string(ds::kMaxRecipeBytes) + ")");
        std::ifstream in(src, std::ios::binary);
        if (!in) throw ds::IoError("cannot read recipe '" + src + "'");
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const ds::Recipe recipe = ds::parse_recipe(text, src);
    if (recipe.command.empty())
        throw ds::DataError("'" + src + "' was saved by the desktop app and records no command to replay; "
                            "open it there (File > Open recipe) to restore its settings");
    const std::string expected_sha = from_png ? ds::sha256_file(src) : recipe.output_sha256;
    for (const auto& in : recipe.inputs) {
        if (in.is_dataset_image()) continue;  // read from the data folder (its own checks) when re-run
        if (!fs::exists(in.path)) throw ds::IoError("the recipe's " + in.key + " '" + in.path + "' is missing");
        if (ds::sha256_file(in.path) != in.sha256)
            log_line(ds::LogLevel::Warning, in.key + " '" + in.path +
                                                "' changed since the recipe was written; the result will differ");
    }
    std::string out = args.str("out");
    if (out.empty()) out = (fs::path(src).parent_path() / (fs::path(src).stem().string() + ".replay.png")).string();
    check_output_folder(out);
    for (const auto& written : {out, sidecar_path(out)})
        if (fs::exists(written) && fs::equivalent(written, src))
            throw UsageError("--out " + out + " would overwrite the recipe '" + src + "' itself; choose another file");
    std::vector<std::string> argv = recipe.argv;
    argv.push_back("--out");
    argv.push_back(out);
    auto options = opt;  // an IF result is re-run in the precision and on the device it was made
    options.dtype = recipe.dtype;  // with (fp32, cpu when unrecorded)
    options.device = recipe.device;
    const int rc = run_command(recipe.command, argv, options);
    if (rc != 0) return rc;
    const std::string got = ds::sha256_file(out);
    bool same = !expected_sha.empty() && got == expected_sha;
    std::string verdict = expected_sha.empty() ? "no recorded output hash to compare with"
                          : same               ? "identical bytes: " + got
                                               : "bytes differ: recorded " + expected_sha + ", now " + got;
    // The original result (the PNG itself, or the PNG beside its .json): when only the embedded
    // recipe text differs (a recipe written by an older version, e.g. with --gif-every in its
    // argv), the pixels are what a replay promises.
    const std::string original = from_png ? src : (fs::path(src).parent_path() / (fs::path(src).stem().string() + ".png")).string();
    if (!same && !expected_sha.empty() && fs::exists(original) && ds::sha256_file(original) == expected_sha) {
        const ds::Image a = ds::read_image(original), b = ds::read_image(out);
        if (a.width == b.width && a.height == b.height && a.channels == b.channels && a.pixels == b.pixels) {
            same = true;
            verdict = "identical pixels; the file bytes differ (written by an older version: its embedded recipe or PNG encoding): " + got;
        }
    }
    std::cout << verdict << "\n";
    return same || !args.has("check") ? 0 : 1;
}

}  // namespace

int cmd_denoise_image(const std::vector<std::string>& a, const ds::EngineOptions& opt) {
    Args args(a, {"model", "input", "fit", "invert", "sigma", "sweep", "count", "seed", "out"}, {"pure-noise"});
    ds::DenoiseRequest r;
    r.model = args.str("model", "mnist-denoiser");
    r.pure_noise = args.has("pure-noise");
    if (r.pure_noise && args.has("input")) throw UsageError("--pure-noise takes no --input (z = eps)");
    if (!r.pure_noise) r.input = image_from(args, "input", true);
    r.sigma = args.number("sigma", r.sigma);
    r.sweep = args.numbers("sweep", {});
    r.count = args.integer("count", r.count);
    r.seed = args.u64("seed", 0);
    return execute("denoise", a, args, r, &ds::Engine::denoise, opt);
}

std::map<std::string, CommandFn> part_a_commands() {
    auto bind = [](int (*fn)(const std::string&, const std::vector<std::string>&, const ds::EngineOptions&),
                   std::string name) -> CommandFn {
        return [fn, name](const std::vector<std::string>& a, const ds::EngineOptions& o) { return fn(name, a, o); };
    };
    std::map<std::string, CommandFn> m;
    for (const char* n : {"forward", "blur", "one-step", "explore"}) m[n] = bind(cmd_explore, n);
    m["iterate"] = bind(cmd_iterate, "iterate");
    m["sdedit"] = bind(cmd_sdedit, "sdedit");
    m["inpaint"] = bind(cmd_inpaint, "inpaint");
    m["anagram"] = bind(cmd_anagram, "anagram");
    m["hybrid"] = bind(cmd_hybrid, "hybrid");
    m["replay"] = bind(cmd_replay, "replay");
    m["generate"] = bind(cmd_generate, "generate");
    m["prompts"] = bind(cmd_prompts, "prompts");
    return m;
}

}  // namespace cli
