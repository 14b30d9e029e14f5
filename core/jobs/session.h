#pragma once
// What the Part A jobs share: the Session a request's SamplerSettings resolve to (noise
// predictor, timesteps, guidance, variance, generator, figure scale, the recipe being written),
// input images with their hashes, and the finishing of a result.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/diffusion/iterative.h"
#include "core/diffusion/noise_predictor.h"
#include "core/engine/part_a_requests.h"
#include "core/jobs/context.h"
#include "core/jobs/reporter.h"

namespace ds::jobs {

inline constexpr int kMaxCount = 64;      // samples per run: enough for any figure
inline constexpr int kFigurePixels = 96;  // small models are upscaled so a tile is >= 96 px tall
inline constexpr int kMaxColumns = 10;

using Clock = std::chrono::steady_clock;

struct Session {
    std::unique_ptr<diffusion::NoisePredictor> model;
    std::vector<std::int64_t> timesteps;
    double guidance = 1;
    diffusion::VarianceMode variance = diffusion::VarianceMode::Beta;
    diffusion::X0Options x0;
    at::Generator gen;
    std::pair<double, double> range;
    std::vector<std::int64_t> shape;  // [C, H, W]
    int scale = 1;                    // figure upscaling
    nlohmann::json recipe;
    std::vector<std::string> notes;
    std::string data_dir;
    Clock::time_point start = Clock::now();

    torch::Tensor noise(std::int64_t n) {
        return torch::randn({n, shape[0], shape[1], shape[2]}, gen, torch::kFloat32);
    }
    Image grid(const torch::Tensor& x, int columns = 0) const;
    Image tile(const torch::Tensor& chw) const;
    // Each sample of a batch [N, C, H, W] in the model's value range as an image.
    std::vector<Image> images(const torch::Tensor& batch) const;
    double abar(std::int64_t t) const { return model->alpha_bars()[t].item<double>(); }
    // A reporter for `total` steps whose frames are grids of `columns` columns.
    Reporter reporter(const Callbacks& callbacks, const std::string& phase, int total, int columns) const;
};

// Opens the model and resolves the settings; starts the recipe ("technique", model, seed, ...).
// guidance_default_override >= 0 replaces the model's default guidance.
Session open_session(const RunContext& ctx, const SamplerSettings& s, const std::string& technique,
                     double guidance_default_override = -1);

diffusion::Conditioning encode(Session& ss, const std::string& prompt, int n, const SamplerSettings& s);

// Reads and prepares an input image (a file, pixels, or "mnist:test:7"); records its hash and
// settings in the recipe under `key`.
torch::Tensor load_image(Session& ss, const ImageInput& in, const char* key);

// Iterative-denoising options of the session, starting at timestep index i_start, reporting
// each step to `rep`.
diffusion::IterativeOptions make_options(Session& ss, Reporter& rep, const CancelToken& cancel, int i_start);

void check_i_start(const Session& ss, int i_start);

// Adds the session's notes and recipe to the result.
PartAResult finish(Session& ss, PartAResult r);
PartAResult cancelled(const Session& ss);

// "t = 250, 500, 750"; the prompt in quotes, or "(unconditional)".
std::string t_caption(const std::string& what, const std::vector<std::int64_t>& ts);
std::string prompt_label(const std::string& p);

}  // namespace ds::jobs
