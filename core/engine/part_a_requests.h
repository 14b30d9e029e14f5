#pragma once
// Requests of the Part A techniques (course_spec §2): they run on any noise predictor — the
// bundled MNIST DDPM models now, DeepFloyd IF when its weights are given. Fields left at their
// defaults take the model's defaults (docs/part-a-mnist.md lists them).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/cancel.h"
#include "core/engine/events.h"
#include "core/engine/image.h"

namespace ds {

// Noise of each step t -> t' (sigma^2): beta_t (course B.2), the DDPM posterior variance, the
// model's learned range (IF's add_variance), or none (deterministic). Auto = learned when the
// model has variance channels, else the posterior variance (less grain on strided lists).
enum class VarianceChoice { Auto, Beta, Posterior, Learned, None };
// What happens to the x0 estimate before each update: nothing (the course loop), clipping to the
// value range, or dynamic thresholding (IF's scheduler: ratio 0.95, max 1.5).
enum class X0Limit { None, Clip, Dynamic };
// How an input image becomes a model input. Auto: Digit for 1-channel (MNIST-like) models,
// CenterCrop otherwise. Digit = MNIST's own preprocessing: bounding box scaled to 20/28 of the
// side, centred by its centre of mass.
enum class InputFit { Auto, Stretch, CenterCrop, Pad, Digit };
// Dark-on-light drawings vs MNIST's light-on-dark digits (1-channel models). Auto inverts when
// the image border is mostly light.
enum class Invert { Auto, Yes, No };

std::string to_string(VarianceChoice v);
std::string to_string(X0Limit v);
std::string to_string(InputFit v);
std::string to_string(Invert v);
// Parsers for the strings above (throw InvalidRequest listing the valid names).
VarianceChoice parse_variance_choice(const std::string& text);
X0Limit parse_x0_limit(const std::string& text);
InputFit parse_input_fit(const std::string& text);
Invert parse_invert(const std::string& text);

// An image handed to the engine: a file (read by the engine) or pixels (the GUI's canvas).
struct ImageInput {
    std::string path;               // PNG/JPEG/BMP/... file, or a dataset image "mnist:test:7"
                                    // ("fashion-mnist:train:0"); when empty, `image` is used
    Image image;                    // any size; gray, RGB or RGBA
    InputFit fit = InputFit::Auto;
    Invert invert = Invert::Auto;
    bool empty() const { return path.empty() && image.empty(); }
};

// Settings shared by every Part A technique.
struct SamplerSettings {
    std::string model;              // bundled id ("mnist-class-ddpm"), model file or run folder
    std::string prompt;             // MNIST class models: a digit "0".."9" or a class name;
                                    // "" = unconditional (the zero class vector)
    std::string negative_prompt;    // text models only: CFG's unconditional prompt ("" = empty)
    double guidance = -1;           // CFG scale; < 0 = model default (MNIST 5, IF 7); 1 = no CFG
    std::vector<std::int64_t> timesteps;  // strictly decreasing in [0, T); empty = the strided
                                    // default: T/33 stride from 33*(T/33) (IF: 990..0 by 30,
                                    // MNIST T=300: 297..0 by 9), 34 entries
    VarianceChoice variance = VarianceChoice::Auto;
    X0Limit x0_limit = X0Limit::None;
    std::uint64_t seed = 0;         // every random draw (initial noise, step noise, forward noise)
    int count = 1;                  // samples per run (1..64)
};

// Result of every technique.
struct PartAResult {
    Outcome outcome = Outcome::Completed;
    Image figure;                   // the labelled figure (grid/strip) the CLI writes
    std::vector<Image> images;      // the final images (per sample; per i_start for SDEdit)
    std::vector<std::pair<std::string, Image>> panels;  // named intermediates: "input",
                                    // "mask used", "low-pass", "view rot180", ...
    std::string recipe_json;        // every resolved setting (model, seed, timesteps, guidance,
                                    // prompts, i_start, input/mask SHA-256)
    std::vector<std::string> notes; // what the engine adjusted (image resized, inverted, ...)
    double seconds = 0;
};

// Forward process (A.2) at a list of timesteps, with the classical Gaussian-blur baseline and
// the one-step estimate x0 = (x_t - sqrt(1-abar) eps) / sqrt(abar) for each (course 1.1-1.3).
struct NoiseExplorerRequest {
    SamplerSettings sampler;        // guidance < 0 means 1 here (the course's one-step: no CFG)
    ImageInput input;
    std::vector<std::int64_t> t_list;  // empty = T/4, T/2, 3T/4 (IF: 250, 500, 750)
    int blur_kernel = 5;            // odd
    double blur_sigma = 2.0;
    bool show_blur = true;          // figure rows: x_t always, blur and one-step when set
    bool show_one_step = true;
    Callbacks callbacks;
    CancelToken cancel;
};

// Iterative denoising (A.3) of a noised input from timesteps[i_start], compared with one-step and
// blur (course 1.4); without an input it samples from pure noise (1.5, and 1.6 with CFG).
struct IterateRequest {
    SamplerSettings sampler;
    ImageInput input;               // empty = start from pure noise at i_start (default 0)
    int i_start = -1;               // index into the timestep list; -1 = 10 with input, 0 without
    // Flow-matching models sampling from pure noise (no input, i_start 0): > 0 = that many Euler
    // steps of the model's own velocity from t = 0 to 1 (course §3.6) instead of the DDPM list
    // through the flow-to-DDPM adapter; 0 = the list.
    int flow_steps = 0;
    int show_every = 5;             // figure: every Nth iterate
    int blur_kernel = 5;
    double blur_sigma = 2.0;
    Callbacks callbacks;
    CancelToken cancel;
};

// SDEdit (course 1.7, 1.7.1; with a prompt, 1.7.3 text/class-conditional image-to-image).
struct SdeditRequest {
    SamplerSettings sampler;
    ImageInput input;
    std::vector<int> i_starts = {1, 3, 5, 7, 10, 20};  // one column each
    bool shared_noise = true;       // the same forward noise for every i_start (fair strip)
    Callbacks callbacks;
    CancelToken cancel;
};

enum class MaskCover { Any, Half };

// Inpainting (RePaint, course 1.7.2): after each step x <- m x + (1-m) forward(x_orig, t').
struct InpaintRequest {
    SamplerSettings sampler;
    ImageInput input;
    ImageInput mask;                // white (>= 128) = generate, black = keep; resized with a note
    int grow = 0;                   // dilate the mask by this many pixels (model resolution)
    double feather = 0;             // soften the mask edge: Gaussian sigma in pixels (0 = hard)
    // A mask larger than the model is shrunk: Any regenerates a model pixel when any painted
    // pixel falls in it (nothing of the original survives under a stroke); Half when at least
    // half of it is painted (recipes written before 2026-12-05 replay with Half).
    MaskCover cover = MaskCover::Any;
    int i_start = 0;                // 0 = from pure noise (course); > 0 = SDEdit-style start
    Callbacks callbacks;
    CancelToken cancel;
};

// Visual anagrams (course 1.8): eps = mean_k view_k^-1(CFG-eps(view_k(x_t), prompt_k)).
struct AnagramRequest {
    SamplerSettings sampler;        // sampler.prompt is ignored; use `prompts`
    std::vector<std::string> views = {"identity", "flipv"};  // see dstudio anagram --help
    std::vector<std::string> prompts;  // one per view
    bool mean_variance = false;     // learned variance: mean over views (else the first view's)
    Callbacks callbacks;
    CancelToken cancel;
};

// Hybrid images (factorized diffusion, course 1.9): eps = lowpass(eps_far) + highpass(eps_near).
struct HybridRequest {
    SamplerSettings sampler;        // sampler.prompt is ignored; use the two prompts
    std::string prompt_far;         // seen from afar (low frequencies)
    std::string prompt_near;        // seen up close (high frequencies)
    int kernel = 33;                // Gaussian kernel size (odd)
    double sigma = 2.0;             // Gaussian sigma
    Callbacks callbacks;
    CancelToken cancel;
};

// The single-step denoiser (course 1.2): D(z) of z = x + sigma eps in one forward pass, optionally
// at every sigma of a sweep strip (1.2.2, one shared noise draw), or of pure noise z = eps (1.2.3:
// a denoiser trained with --pure-noise outputs the mean training image).
inline constexpr double kMaxDenoiseSigma = 10.0;
struct DenoiseRequest {
    std::string model;              // a denoiser: bundled id (mnist-denoiser), model file or run folder
    ImageInput input;               // the clean image (ignored with pure_noise)
    double sigma = 0.5;             // noise level of the main result, 0..kMaxDenoiseSigma
    std::vector<double> sweep;      // optional strip, one column per sigma (at most 20)
    bool pure_noise = false;        // input z = eps instead of the noised image
    int count = 1;                  // pure noise: samples (1..64)
    std::uint64_t seed = 0;         // the noise
    Callbacks callbacks;
    CancelToken cancel;
};

// DeepFloyd IF text-to-image (IFPipeline) and, with an upscaler folder, stage II
// (IFSuperResolutionPipeline): leading timestep spacing, CFG, learned variance, dynamic
// thresholding, as diffusers. Noise is drawn on the CPU generator (same seed, same image on any
// device).
struct IfGenerateRequest {
    std::string weights;            // stage I folder (unet/, text_encoder/, tokenizer/)
    std::string upscaler;           // optional stage II folder (unet/); "" = 64 px only
    std::vector<std::string> prompts;  // one row of the figure each
    std::string negative_prompt;    // "" (IF's default)
    int count = 1;                  // images per prompt
    int steps = 100;                // stage I inference steps (IF default 100; the course uses 20)
    double guidance = 7.0;
    int upscale_steps = 50;         // stage II
    double upscale_guidance = 4.0;
    int noise_level = 250;          // stage II: noise added to the upscaled stage I image
    std::uint64_t seed = 0;
    Callbacks callbacks;
    CancelToken cancel;
};

// Imports the course's prompt_embeds_dict.pth into the prompt-embedding cache.
struct PromptImportRequest {
    std::string file;               // a torch.save'd dict {prompt: tensor [1, 77, 4096]}
    std::string cache_dir;          // "" = the default cache ($DS_CACHE_DIR/prompts, ~/.cache/...)
};

}  // namespace ds
