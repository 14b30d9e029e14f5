#include "core/io/text_checks.h"
#include "core/diffusion/part_a_runner.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/data/mnist.h"
#include "core/diffusion/combined_predictors.h"
#include "core/diffusion/filters.h"
#include "core/diffusion/flow.h"
#include "core/diffusion/if_predictor.h"
#include "core/diffusion/mnist_predictor.h"
#include "core/diffusion/schedule.h"
#include "core/diffusion/techniques.h"
#include "core/diffusion/views.h"
#include "core/engine/errors.h"
#include "core/engine/hashing.h"
#include "core/diffusion/image_prep.h"
#include "core/io/memory.h"
#include "core/models/if_unet.h"
#include "core/text/prompt_encoder.h"
#include "core/io/tensor_image.h"

namespace ds::diffusion {

using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxCount = 64;          // samples per run: enough for any figure
constexpr int kFigurePixels = 96;      // small models are upscaled so a tile is >= 96 px tall
constexpr int kMaxColumns = 10;
constexpr int kMaxFlowSteps = 10000;

using models::is_if_folder;

// Everything a technique needs, resolved from SamplerSettings.
struct Session {
    std::unique_ptr<NoisePredictor> model;
    std::vector<std::int64_t> timesteps;
    double guidance = 1;
    VarianceMode variance = VarianceMode::Beta;
    X0Options x0;
    at::Generator gen;
    std::pair<double, double> range;
    std::vector<std::int64_t> shape;  // [C, H, W]
    int scale = 1;                    // figure upscaling
    json recipe;
    std::vector<std::string> notes;
    std::string data_dir;
    Clock::time_point start = Clock::now();

    torch::Tensor noise(std::int64_t n) {
        return torch::randn({n, shape[0], shape[1], shape[2]}, gen, torch::kFloat32);
    }
    Image grid(const torch::Tensor& x, int columns = 0) const {
        return io::tensor_grid(x, columns > 0 ? columns : std::min<int>(x.size(0), kMaxColumns),
                               range.first, range.second, 2, scale);
    }
    Image tile(const torch::Tensor& chw) const {
        return scale_nearest(io::tensor_to_image(chw, range.first, range.second), scale);
    }
    double abar(std::int64_t t) const { return model->alpha_bars()[t].item<double>(); }
};

VarianceMode to_mode(VarianceChoice v, const NoisePredictor& m) {
    switch (v) {
        case VarianceChoice::Auto:
            // Without learned channels: the posterior variance, which on strided lists is smaller
            // than the skipped step's beta and leaves less grain.
            return m.has_learned_variance() ? VarianceMode::Learned : VarianceMode::Posterior;
        case VarianceChoice::Beta: return VarianceMode::Beta;
        case VarianceChoice::Posterior: return VarianceMode::Posterior;
        case VarianceChoice::None: return VarianceMode::None;
        case VarianceChoice::Learned:
            if (!m.has_learned_variance())
                throw InvalidRequest("this model has no learned variance channels: use variance "
                                     "beta, posterior or none");
            return VarianceMode::Learned;
    }
    return VarianceMode::Beta;
}

Session open_session(const RunContext& ctx, const SamplerSettings& s,
                     const std::string& technique, double guidance_default_override = -1) {
    if (s.count < 1 || s.count > kMaxCount)
        throw InvalidRequest("count must be in 1.." + std::to_string(kMaxCount));
    if (s.guidance > 100 || std::isnan(s.guidance)) throw InvalidRequest("guidance must be at most 100");
    Session ss;
    if (is_if_folder(s.model)) check_if_memory(ctx, s.model, "", {s.prompt, s.negative_prompt});
    ss.model = open_predictor(ctx, s.model);
    if (auto* mnist = dynamic_cast<MnistNoisePredictor*>(ss.model.get()); mnist && !mnist->model().warning.empty())
        ss.notes.push_back(mnist->model().warning);
    ss.data_dir = ctx.data_dir;
    auto& m = *ss.model;
    ss.timesteps = s.timesteps.empty() ? default_strided_timesteps(m.num_timesteps()) : s.timesteps;
    check_timesteps(ss.timesteps, m.num_timesteps());
    const double fallback = guidance_default_override >= 0 ? guidance_default_override : m.default_guidance();
    ss.guidance = !m.is_conditional() ? 1.0 : (s.guidance < 0 ? fallback : s.guidance);
    ss.variance = to_mode(s.variance, m);
    ss.x0.mode = s.x0_limit;
    ss.gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
    ss.range = m.value_range();
    ss.shape = m.sample_shape();
    ss.scale = std::max<int>(1, kFigurePixels / std::max<std::int64_t>(1, ss.shape[1]));
    ss.recipe = {{"format", "ds.recipe/1"},
                 {"technique", technique},
                 {"model", s.model},
                 {"seed", s.seed},
                 {"guidance", ss.guidance},
                 {"timesteps", ss.timesteps},
                 {"variance", to_string(s.variance)},
                 {"x0_limit", to_string(s.x0_limit)},
                 {"count", s.count}};
    if (!s.negative_prompt.empty()) ss.recipe["negative_prompt"] = s.negative_prompt;
    // IF results depend on the precision; fp32 (the default) is left out, as in older recipes.
    if (is_if_folder(s.model) && ctx.if_precision().name() != "fp32") ss.recipe["dtype"] = ctx.if_precision().name();
    // So does an MNIST result made in bf16 (--dtype bf16 or auto): its replay uses it.
    const std::string mnist_dtype = models::Precision(ctx.mnist_precision.cpu_compute()).name();
    if (!is_if_folder(s.model) && mnist_dtype != "fp32") ss.recipe["dtype"] = mnist_dtype;
    if (is_if_folder(s.model) && !ctx.if_precision().device.is_cpu()) ss.recipe["device"] = ctx.if_precision().device.str();
    return ss;
}

Conditioning encode(Session& ss, const std::string& prompt, int n, const SamplerSettings& s) {
    return ss.model->encode_prompts(std::vector<std::string>(n, prompt), s.negative_prompt);
}

// "mnist:test:7" / "fashion-mnist:train:0": an image of a dataset split; empty if `path` is not
// of that form.
Image dataset_image(const Session& ss, const std::string& path) {
    static const std::regex form(R"(^(mnist|fashion-mnist):(train|test):(\d{1,6})$)");
    std::smatch m;
    if (!std::regex_match(path, m, form)) {
        if ((path.rfind("mnist:", 0) == 0 || path.rfind("fashion-mnist:", 0) == 0) && !fs::exists(path))
            throw InvalidRequest(io::quoted(path) + " is not a data-set image: write DATASET:SPLIT:INDEX, e.g. "
                                 "mnist:test:7 (DATASET mnist or fashion-mnist, SPLIT train or test, INDEX a number)");
        return {};
    }
    auto split = data::load_mnist(m[1], ss.data_dir, m[2] == "train");
    const long index = std::stol(m[3]);
    if (index >= split.images.size(0))
        throw InvalidRequest("'" + path + "': the split has " + std::to_string(split.images.size(0)) +
                             " images");
    return io::tensor_to_image(split.images[index]);
}

// Reads and prepares an input image; records its hash and settings in the recipe.
torch::Tensor load_image(Session& ss, const ImageInput& in, const char* key) {
    Image img = dataset_image(ss, in.path);
    if (img.empty()) img = load_input(in, key);
    json j = {{"fit", to_string(in.fit)}, {"invert", to_string(in.invert)}};
    if (!in.path.empty()) {
        j["path"] = in.path;
        j["sha256"] = fs::exists(in.path) ? sha256_file(in.path)
                                          : sha256_hex(std::string(img.pixels.begin(), img.pixels.end()));
    } else {
        j["sha256"] = sha256_hex(std::string(img.pixels.begin(), img.pixels.end()));
        j["size"] = {img.width, img.height, img.channels};
    }
    ss.recipe[key] = j;
    return prepare_image(img, int(ss.shape[0]), int(ss.shape[1]), int(ss.shape[2]), in.fit,
                             in.invert, ss.range, ss.notes);
}

// Streams progress and frames of possibly several runs (SDEdit strips) as one job.
struct Reporter {
    const Callbacks& cb;
    const Session& ss;
    std::string phase;
    int total = 0;  // steps of the whole job
    int done = 0;
    int columns = 0;
    // Optional: named transformed versions of the x0 estimate to stream with each frame.
    std::function<std::vector<std::pair<std::string, torch::Tensor>>(const torch::Tensor&)> views;

    void on_step(const StepInfo& s) { report(s.step, s.total, double(s.t_next), *s.x, *s.x0); }

    // One step of `total` done: progress, and a frame every preview_interval steps and at the end.
    // t: the DDPM timestep reached (-1 = clean) or the flow-matching time.
    void report(int step, int steps, double t, const torch::Tensor& x, const torch::Tensor& x0) {
        ++done;
        const double secs = std::chrono::duration<double>(Clock::now() - ss.start).count();
        if (cb.on_progress) {
            ProgressEvent e;
            e.phase = phase;
            e.step = done;
            e.total = total;
            e.items_per_sec = secs > 0 ? done / secs : 0;
            e.eta_seconds = done > 0 ? secs / done * (total - done) : -1;
            cb.on_progress(e);
        }
        const int every = std::max(1, cb.preview_interval);
        if (cb.on_frame && (step == steps || step % every == 0)) {
            FrameEvent f;
            f.step = step;
            f.total = steps;
            f.t = t;
            f.x_t = ss.grid(x, columns);
            f.x0_hat = ss.grid(x0, columns);
            if (views)
                for (auto& [name, v] : views(x0)) f.views.emplace_back(name, ss.grid(v, columns));
            cb.on_frame(f);
        }
    }
};

IterativeOptions make_options(Session& ss, Reporter& rep, const CancelToken& cancel, int i_start) {
    IterativeOptions o;
    o.timesteps = ss.timesteps;
    o.i_start = i_start;
    o.variance = ss.variance;
    o.x0 = ss.x0;
    o.guidance = ss.guidance;
    o.generator = ss.gen;
    o.cancel = &cancel;
    o.on_step = [&rep](const StepInfo& s) { rep.on_step(s); };
    return o;
}

void check_i_start(const Session& ss, int i_start) {
    const int n = static_cast<int>(ss.timesteps.size());
    if (i_start < 0 || i_start >= n)
        throw InvalidRequest("i_start " + std::to_string(i_start) + " is outside 0.." +
                             std::to_string(n - 1) + " (the timestep list has " + std::to_string(n) +
                             " entries)");
}

PartAResult finish(Session& ss, PartAResult r) {
    r.notes.insert(r.notes.end(), ss.notes.begin(), ss.notes.end());
    ss.recipe["notes"] = r.notes;
    r.recipe_json = ss.recipe.dump(2);
    r.seconds = std::chrono::duration<double>(Clock::now() - ss.start).count();
    return r;
}

PartAResult cancelled(Session& ss) {
    PartAResult r;
    r.outcome = Outcome::Cancelled;
    r.seconds = std::chrono::duration<double>(Clock::now() - ss.start).count();
    return r;
}

std::string t_caption(const std::string& what, const std::vector<std::int64_t>& ts) {
    std::string s = what;
    for (size_t i = 0; i < ts.size(); ++i) s += (i ? ", " : " ") + std::to_string(ts[i]);
    return s;
}

std::string prompt_label(const std::string& p) { return p.empty() ? "(unconditional)" : io::quoted(p, 200); }

}  // namespace

namespace {

std::string gb_text(std::int64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f GB", double(bytes) / 1073741824.0);
    return buf;
}

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

// "loading the IF stage I UNet (8.0 GB)": percent done (step of 100, items_per_sec in MB/s),
// through the request's progress; throws Cancelled when the request is cancelled.
models::LoadProgress load_reporter(const RunContext& ctx, const std::string& phase) {
    const Callbacks* cb = ctx.callbacks;
    const CancelToken* cancel = ctx.cancel;
    auto start = std::make_shared<Clock::time_point>(Clock::now());
    auto last_percent = std::make_shared<std::int64_t>(-1);
    return [cb, cancel, phase, start, last_percent](std::int64_t done, std::int64_t total) {
        if (cancel && cancel->now()) throw Cancelled{};
        if (!cb || !cb->on_progress) return;
        const std::int64_t percent = total > 0 ? done * 100 / total : 100;  // at most 101 events a load
        if (percent == *last_percent) return;
        *last_percent = percent;
        ProgressEvent e;
        e.phase = phase + " (" + gb_text(total) + ")";
        e.step = percent;  // of 100
        e.total = 100;
        const double secs = std::chrono::duration<double>(Clock::now() - *start).count();
        e.items_per_sec = secs > 0 ? double(done) / 1048576.0 / secs : 0;  // MB/s
        e.eta_seconds = done > 0 ? secs * double(total - done) / double(done) : -1;
        cb->on_progress(e);
    };
}

std::shared_ptr<text::PromptEncoder> if_prompt_encoder(const RunContext& ctx, const std::string& dir) {
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
                            load_reporter(ctx, "loading the T5 text encoder"));
    return encoder;
}

}  // namespace

std::unique_ptr<IfNoisePredictor> open_if_predictor(const RunContext& ctx, const std::string& dir, bool stage2) {
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
    auto progress = load_reporter(ctx, "loading the " + what);
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
    return std::make_unique<IfNoisePredictor>(config, source, stage2 ? nullptr : if_prompt_encoder(ctx, dir), stage2);
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
        const bool loaded = cached_keys.count(cache_key("if-unet", unet_dir, precision)) > 0;
        parts.push_back({"stage " + stage + " UNet " + gb_text(models::IfUNet::weight_bytes_of(config, precision)) +
                             (loaded ? " (loaded)" : ""),
                         loaded ? 0 : models::IfUNet::weight_bytes_of(config, precision)});
    };
    if (!stage1_dir.empty() && fs::exists(fs::path(stage1_dir) / "text_encoder" / "config.json")) {
        text::PromptEncoder probe((fs::path(stage1_dir) / "text_encoder").string(), spiece_of(stage1_dir).string(),
                                  text::PromptEncoder::default_cache_dir(), precision, true);
        std::vector<std::string> all = prompts;
        all.push_back("");
        if (probe.needs_encoder(all)) parts.push_back({"T5 text encoder " + gb_text(probe.encoder_bytes()), probe.encoder_bytes()});
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

std::unique_ptr<NoisePredictor> open_predictor(const RunContext& ctx, const std::string& model) {
    if (is_if_folder(model)) return open_if_predictor(ctx, model);
    auto loaded = models::with_compute_dtype(ctx.registry->load(model), ctx.mnist_precision.cpu_compute());
    if (!loaded.spec.is_ddpm() && !loaded.spec.is_flow())
        throw InvalidRequest("'" + model + "' is a " + to_string(loaded.spec.kind) +
                             " model; the Part A techniques need a DDPM or flow-matching model "
                             "(e.g. mnist-class-ddpm, mnist-time-ddpm, mnist-class-fm, mnist-time-fm)");
    return std::make_unique<MnistNoisePredictor>(std::move(loaded));
}

PartAResult run_explore(const RunContext& ctx, const NoiseExplorerRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "explore", 1.0);
    const int T = ss.model->num_timesteps();
    std::vector<std::int64_t> ts = r.t_list;
    if (ts.empty()) ts = {T / 4, T / 2, 3 * T / 4};
    for (auto t : ts)
        if (t < 0 || t >= T)
            throw InvalidRequest("timestep " + std::to_string(t) + " is outside 0.." + std::to_string(T - 1));
    gaussian_kernel1d(r.blur_kernel, r.blur_sigma);  // validate before any work
    auto x0 = load_image(ss, r.input, "input");
    auto cond = encode(ss, r.sampler.prompt, 1, r.sampler);
    ss.recipe["prompt"] = r.sampler.prompt;
    ss.recipe["t_list"] = ts;
    ss.recipe["blur"] = {{"kernel", r.blur_kernel}, {"sigma", r.blur_sigma}};
    std::vector<torch::Tensor> noisy, blurred, est;
    for (auto t : ts) {
        if (r.cancel.now()) return cancelled(ss);
        auto xt = forward_at(*ss.model, x0, t, ss.noise(1));
        noisy.push_back(xt);
        blurred.push_back(gaussian_blur(xt, r.blur_kernel, r.blur_sigma));
        est.push_back(one_step_x0(*ss.model, xt, t, cond, ss.guidance));
    }
    PartAResult res;
    auto row = [&](const std::vector<torch::Tensor>& v) { return torch::cat(v, 0); };
    auto blank = torch::full_like(x0, ss.range.first);
    std::vector<torch::Tensor> rows = {x0, row(noisy)};
    std::vector<std::string> labels = {"x_t"};
    char blur[64];
    std::snprintf(blur, sizeof blur, "blur k=%d s=%.3g", r.blur_kernel, r.blur_sigma);
    if (r.show_blur) {
        rows.insert(rows.end(), {blank, row(blurred)});
        labels.push_back(blur);
    }
    if (r.show_one_step) {
        rows.insert(rows.end(), {blank, row(est)});
        labels.push_back("one-step");
    }
    auto grid = ss.grid(torch::cat(rows, 0), int(ts.size()) + 1);
    res.figure = add_caption(labels.size() > 1 ? add_row_labels(grid, labels) : grid,
                             t_caption("original | t =", ts));
    res.panels.push_back({"input", ss.tile(x0[0])});
    for (size_t i = 0; i < ts.size(); ++i) {
        const std::string t = " t=" + std::to_string(ts[i]);
        res.panels.push_back({"noisy" + t, ss.tile(noisy[i][0])});
        res.panels.push_back({"blur" + t, ss.tile(blurred[i][0])});
        res.panels.push_back({"one-step" + t, ss.tile(est[i][0])});
        res.images.push_back(io::tensor_to_image(est[i][0], ss.range.first, ss.range.second));
    }
    return finish(ss, std::move(res));
}

namespace {
// Generation with a flow-matching model's own sampler: Euler steps from noise (t = 0) to data
// (t = 1), frames of x_t and the clean estimate x + (1 - t) v as the DDPM path streams them.
PartAResult flow_sample_run(Session& ss, const Conditioning& cond, const IterateRequest& r, bool has_start) {
    auto* mnist = dynamic_cast<MnistNoisePredictor*>(ss.model.get());
    if (!mnist || !mnist->model().spec.is_flow())
        throw InvalidRequest("Euler steps (flow_steps) need a flow-matching model (mnist-time-fm, mnist-class-fm); "
                             "'" + r.sampler.model + "' samples on its timestep list");
    if (has_start) throw InvalidRequest("Euler steps sample from pure noise: give no input image and i_start 0");
    if (r.flow_steps < 1 || r.flow_steps > kMaxFlowSteps)
        throw InvalidRequest("flow_steps must be in 1.." + std::to_string(kMaxFlowSteps));
    const int n = r.sampler.count;
    for (const char* unused : {"timesteps", "variance", "x0_limit"}) ss.recipe.erase(unused);
    ss.recipe["flow_steps"] = r.flow_steps;
    Reporter rep{r.callbacks, ss, "sample", r.flow_steps, 0, std::min(n, kMaxColumns), {}};
    FlowOptions o;
    o.steps = r.flow_steps;
    o.guidance = ss.guidance;
    o.labels = cond.labels;
    o.cancel = &r.cancel;
    o.on_step = [&rep](const FlowStepInfo& s) { rep.report(s.step, s.total, s.t, *s.x, *s.x1_hat); };
    torch::Tensor out;
    try {
        out = flow_sample(mnist->model(), ss.noise(n), o).to(torch::kFloat32);
    } catch (const Cancelled&) {
        return cancelled(ss);
    }
    PartAResult res;
    for (std::int64_t i = 0; i < out.size(0); ++i)
        res.images.push_back(io::tensor_to_image(out[i], ss.range.first, ss.range.second));
    char g[32];
    std::snprintf(g, sizeof g, ", guidance %.3g", ss.guidance);
    res.figure = add_caption(ss.grid(out), "samples, " + prompt_label(r.sampler.prompt) +
                                               (r.sampler.prompt.empty() ? "" : g) + ", " +
                                               std::to_string(r.flow_steps) + " Euler steps");
    return finish(ss, std::move(res));
}
}  // namespace

PartAResult run_iterate(const RunContext& ctx, const IterateRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, r.input.empty() ? "sample" : "iterate");
    const bool from_image = !r.input.empty();
    const int i_start = r.i_start >= 0 ? r.i_start : (from_image ? 10 : 0);
    check_i_start(ss, i_start);
    if (r.show_every < 1) throw InvalidRequest("show_every must be >= 1");
    gaussian_kernel1d(r.blur_kernel, r.blur_sigma);
    const int n = from_image ? 1 : r.sampler.count;
    auto cond = encode(ss, r.sampler.prompt, n, r.sampler);
    ss.recipe["prompt"] = r.sampler.prompt;
    if (r.flow_steps != 0) return flow_sample_run(ss, cond, r, from_image || i_start != 0);
    ss.recipe["i_start"] = i_start;
    torch::Tensor x0, x;
    const std::int64_t t0 = ss.timesteps[i_start];
    if (from_image) {
        x0 = load_image(ss, r.input, "input");
        x = forward_at(*ss.model, x0, t0, ss.noise(1));
    } else {
        // Pure noise at t0 (i_start = 0: the course's sampling; > 0: the noise of that level).
        x = ss.noise(n);
    }
    Reporter rep{r.callbacks, ss, from_image ? "iterate" : "sample",
                 int(ss.timesteps.size()) - i_start, 0, std::min(n, kMaxColumns), {}};
    auto o = make_options(ss, rep, r.cancel, i_start);
    // The course figure: the noisy start, then every show_every-th iterate (t = 690, 540, ...).
    std::vector<torch::Tensor> trajectory = {x.narrow(0, 0, 1).clone()};
    std::vector<std::int64_t> traj_t = {t0};
    int steps_taken = 0;
    o.after_step = [&](torch::Tensor& xi, std::int64_t t_next) {
        if (++steps_taken % r.show_every == 0 && t_next >= 0) {
            trajectory.push_back(xi.narrow(0, 0, 1).clone());
            traj_t.push_back(t_next);
        }
    };
    torch::Tensor out;
    try {
        out = iterative_denoise(*ss.model, x, cond, o);
    } catch (const Cancelled&) {
        return cancelled(ss);
    }
    PartAResult res;
    for (std::int64_t i = 0; i < out.size(0); ++i)
        res.images.push_back(io::tensor_to_image(out[i], ss.range.first, ss.range.second));
    if (!from_image) {
        char g[32];
        std::snprintf(g, sizeof g, ", guidance %.3g", ss.guidance);
        // CFG of the empty prompt against itself is the unconditional prediction: no scale to show.
        res.figure = add_caption(ss.grid(out), "samples, " + prompt_label(r.sampler.prompt) +
                                                   (r.sampler.prompt.empty() ? "" : g));
        return finish(ss, std::move(res));
    }
    auto one = one_step_x0(*ss.model, x, t0, cond, ss.guidance);
    auto blur = gaussian_blur(x, r.blur_kernel, r.blur_sigma);
    std::vector<Image> parts;
    parts.push_back(add_caption(ss.grid(torch::cat(trajectory, 0), 0),
                                    t_caption("every " + std::to_string(r.show_every) + "th iterate, t =", traj_t)));
    parts.push_back(add_caption(ss.grid(torch::cat({x0, x, out, one, blur}, 0), 5),
                                "original | noisy t=" + std::to_string(t0) +
                                    " | iterative | one-step | blur"));
    res.figure = stack_vertical(parts);
    res.panels = {{"input", ss.tile(x0[0])}, {"noisy", ss.tile(x[0])}, {"one-step", ss.tile(one[0])},
                  {"blur", ss.tile(blur[0])}};
    return finish(ss, std::move(res));
}

PartAResult run_sdedit(const RunContext& ctx, const SdeditRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "sdedit");
    if (r.i_starts.empty()) throw InvalidRequest("give at least one i_start");
    for (int i : r.i_starts) check_i_start(ss, i);
    const int n = r.sampler.count;
    auto x0 = load_image(ss, r.input, "input").expand({n, -1, -1, -1}).contiguous();
    auto cond = encode(ss, r.sampler.prompt, n, r.sampler);
    ss.recipe["prompt"] = r.sampler.prompt;
    ss.recipe["i_starts"] = r.i_starts;
    ss.recipe["shared_noise"] = r.shared_noise;
    int total = 0;
    for (int i : r.i_starts) total += int(ss.timesteps.size()) - i;
    Reporter rep{r.callbacks, ss, "sdedit", total, 0, std::min(n, kMaxColumns), {}};
    auto shared = ss.noise(n);
    std::vector<torch::Tensor> results;  // per i_start: [n, C, H, W]
    std::vector<int> done_starts;  // "finish current" (AfterCurrent) ends a strip early
    try {
        for (int i : r.i_starts) {
            if (r.cancel.any() && !results.empty()) break;
            auto o = make_options(ss, rep, r.cancel, i);
            results.push_back(sdedit(*ss.model, x0, r.shared_noise ? shared : ss.noise(n), cond, o));
            done_starts.push_back(i);
        }
    } catch (const Cancelled&) {
        return cancelled(ss);
    }
    if (done_starts.size() < r.i_starts.size()) {
        ss.notes.push_back("stopped after " + std::to_string(done_starts.size()) + " of " +
                           std::to_string(r.i_starts.size()) + " i_start values (finish current)");
        ss.recipe["i_starts"] = done_starts;
    }
    PartAResult res;
    // Rows = samples, columns = input then one per i_start.
    std::vector<torch::Tensor> tiles;
    for (int k = 0; k < n; ++k) {
        tiles.push_back(x0.narrow(0, k, 1));
        for (auto& y : results) tiles.push_back(y.narrow(0, k, 1));
    }
    for (auto& y : results)
        for (int k = 0; k < n; ++k)
            res.images.push_back(io::tensor_to_image(y[k], ss.range.first, ss.range.second));
    std::string caption = "input | i_start (t):";
    for (int i : done_starts)
        caption += " " + std::to_string(i) + " (" + std::to_string(ss.timesteps[i]) + ")";
    caption += ", prompt " + prompt_label(r.sampler.prompt);
    res.figure = add_caption(ss.grid(torch::cat(tiles, 0), int(done_starts.size()) + 1), caption);
    res.panels.push_back({"input", ss.tile(x0[0])});
    return finish(ss, std::move(res));
}

PartAResult run_inpaint(const RunContext& ctx, const InpaintRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "inpaint");
    check_i_start(ss, r.i_start);
    const int n = r.sampler.count;
    auto x0 = load_image(ss, r.input, "input").expand({n, -1, -1, -1}).contiguous();
    if (r.mask.empty()) throw InvalidRequest("inpainting needs a mask (white = generate)");
    Image mask_img = load_input(r.mask, "mask");
    json mj = {{"grow", r.grow}, {"feather", r.feather}, {"cover", r.cover == MaskCover::Any ? "any" : "half"}};
    if (!r.mask.path.empty()) {
        mj["path"] = r.mask.path;
        mj["sha256"] = sha256_file(r.mask.path);
    } else {
        mj["sha256"] = sha256_hex(std::string(mask_img.pixels.begin(), mask_img.pixels.end()));
        mj["size"] = {mask_img.width, mask_img.height, mask_img.channels};
    }
    ss.recipe["mask"] = mj;
    auto mask = prepare_mask(mask_img, int(ss.shape[1]), int(ss.shape[2]), r.grow, r.feather,
                                 r.cover == MaskCover::Any, ss.notes);
    auto cond = encode(ss, r.sampler.prompt, n, r.sampler);
    ss.recipe["prompt"] = r.sampler.prompt;
    ss.recipe["i_start"] = r.i_start;
    Reporter rep{r.callbacks, ss, "inpaint", int(ss.timesteps.size()) - r.i_start, 0, std::min(n, kMaxColumns), {}};
    auto o = make_options(ss, rep, r.cancel, r.i_start);
    auto eps = ss.noise(n);
    auto start = r.i_start == 0 ? eps : forward_at(*ss.model, x0, ss.timesteps[r.i_start], eps);
    torch::Tensor out;
    try {
        out = inpaint(*ss.model, start, x0, mask, cond, o);
    } catch (const Cancelled&) {
        return cancelled(ss);
    }
    PartAResult res;
    for (std::int64_t i = 0; i < out.size(0); ++i)
        res.images.push_back(io::tensor_to_image(out[i], ss.range.first, ss.range.second));
    auto mask_shown = mask.expand({1, ss.shape[0], -1, -1}) * (ss.range.second - ss.range.first) + ss.range.first;
    auto masked = x0.narrow(0, 0, 1) * (1 - mask) + ss.range.first * mask;
    auto all = torch::cat({x0.narrow(0, 0, 1), mask_shown, masked, out}, 0);
    res.figure = add_caption(ss.grid(all, std::min<int>(3 + n, kMaxColumns)),
                             "original | mask used | kept | inpainted, prompt " + prompt_label(r.sampler.prompt));
    res.panels = {{"input", ss.tile(x0[0])}, {"mask used", ss.tile(mask_shown[0])}};
    return finish(ss, std::move(res));
}

PartAResult run_anagram(const RunContext& ctx, const AnagramRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "anagram");
    if (r.views.size() < 2) throw InvalidRequest("an anagram needs at least two views");
    if (r.views.size() != r.prompts.size())
        throw InvalidRequest("an anagram needs one prompt per view: " + std::to_string(r.views.size()) +
                             " views but " + std::to_string(r.prompts.size()) + " prompts");
    const int n = r.sampler.count;
    std::vector<View> views;
    std::vector<Conditioning> conds;
    for (size_t k = 0; k < r.views.size(); ++k) {
        views.push_back(parse_view(r.views[k]));
        conds.push_back(encode(ss, r.prompts[k], n, r.sampler));
    }
    ss.recipe["views"] = r.views;
    ss.recipe["prompts"] = r.prompts;
    ss.recipe["mean_variance"] = r.mean_variance;
    AnagramPredictor anagram(*ss.model, views, conds, r.mean_variance);
    Reporter rep{r.callbacks, ss, "anagram", int(ss.timesteps.size()), 0, std::min(n, kMaxColumns), {}};
    const double mid = 0.5 * (ss.range.first + ss.range.second);
    rep.views = [&](const torch::Tensor& x0) {
        std::vector<std::pair<std::string, torch::Tensor>> out;
        for (size_t k = 0; k < views.size(); ++k)
            out.emplace_back("view " + r.views[k], apply_view(views[k], x0, 1.0, mid));
        return out;
    };
    auto o = make_options(ss, rep, r.cancel, 0);
    torch::Tensor out;
    try {
        out = iterative_denoise(anagram, ss.noise(n), {}, o);
    } catch (const Cancelled&) {
        return cancelled(ss);
    }
    PartAResult res;
    for (std::int64_t i = 0; i < out.size(0); ++i)
        res.images.push_back(io::tensor_to_image(out[i], ss.range.first, ss.range.second));
    // Row k: every sample seen through view k (in data space: abar = 1).
    const double centre = 0.5 * (ss.range.first + ss.range.second);
    std::vector<torch::Tensor> rows;
    std::vector<std::string> labels;
    for (size_t k = 0; k < views.size(); ++k) {
        auto v = apply_view(views[k], out, 1.0, centre);
        rows.push_back(v);
        labels.push_back(r.views[k] + ": " + (r.prompts[k].empty() ? "(uncond)" : r.prompts[k]));
        res.panels.push_back({"view " + r.views[k], ss.tile(v[0])});
    }
    res.figure = add_row_labels(ss.grid(torch::cat(rows, 0), n), labels);
    return finish(ss, std::move(res));
}

PartAResult run_hybrid(const RunContext& ctx, const HybridRequest& r) {
    c10::InferenceMode guard;
    Session ss = open_session(ctx, r.sampler, "hybrid");
    const int n = r.sampler.count;
    auto far = encode(ss, r.prompt_far, n, r.sampler);
    auto near = encode(ss, r.prompt_near, n, r.sampler);
    ss.recipe["prompt_far"] = r.prompt_far;
    ss.recipe["prompt_near"] = r.prompt_near;
    ss.recipe["kernel"] = r.kernel;
    ss.recipe["sigma"] = r.sigma;
    HybridPredictor hybrid(*ss.model, far, near, r.kernel, r.sigma);
    Reporter rep{r.callbacks, ss, "hybrid", int(ss.timesteps.size()), 0, std::min(n, kMaxColumns), {}};
    auto o = make_options(ss, rep, r.cancel, 0);
    torch::Tensor out;
    try {
        out = iterative_denoise(hybrid, ss.noise(n), {}, o);
    } catch (const Cancelled&) {
        return cancelled(ss);
    }
    PartAResult res;
    for (std::int64_t i = 0; i < out.size(0); ++i)
        res.images.push_back(io::tensor_to_image(out[i], ss.range.first, ss.range.second));
    // What each reading looks like: low-pass ("from afar") and high-pass (+ mid-grey) of the result.
    const double mid = 0.5 * (ss.range.first + ss.range.second);
    auto low = lowpass(out, r.kernel, r.sigma);
    auto high = highpass(out, r.kernel, r.sigma) + mid;
    res.figure = add_row_labels(ss.grid(torch::cat({out, low, high}, 0), n),
                                {"hybrid", "far: " + r.prompt_far, "near: " + r.prompt_near});
    res.panels = {{"low-pass", ss.tile(low[0])}, {"high-pass", ss.tile(high[0])}};
    return finish(ss, std::move(res));
}

// ---------------------------------------------------------------------------------------------
// The single-step denoiser (course 1.2). Not a noise predictor, so the Session has no model; the
// image preparation, figure scaling, frames and recipe are those of the techniques above.
namespace {
struct DenoiseRun {
    Session ss;
    models::LoadedModel model;
    const DenoiseRequest& r;

    torch::Tensor apply(const torch::Tensor& z) { return model.unet->forward(z).to(torch::kFloat32); }
    void emit(const torch::Tensor& z, const torch::Tensor& d, int columns) {
        Reporter rep{r.callbacks, ss, "denoise", 1, 0, columns, {}};
        rep.report(1, 1, r.pure_noise ? -1.0 : r.sigma, z.clamp(0, 1), d.clamp(0, 1));
    }
};

DenoiseRun open_denoise(const RunContext& ctx, const DenoiseRequest& r) {
    auto check_sigma = [](double s) {
        if (!(s >= 0 && s <= kMaxDenoiseSigma))
            throw InvalidRequest("sigma must be in [0, " + std::to_string(int(kMaxDenoiseSigma)) + "]");
    };
    check_sigma(r.sigma);
    if (r.sweep.size() > std::size_t(2 * kMaxColumns))
        throw InvalidRequest("the sweep takes at most " + std::to_string(2 * kMaxColumns) + " sigma values");
    for (double s : r.sweep) check_sigma(s);
    if (r.count < 1 || r.count > kMaxCount) throw InvalidRequest("count must be in 1.." + std::to_string(kMaxCount));
    if (!r.pure_noise && r.input.empty()) throw InvalidRequest("the denoiser needs an input image (or pure-noise input)");
    DenoiseRun run{Session{}, models::with_compute_dtype(ctx.registry->load(r.model), ctx.mnist_precision.cpu_compute()), r};
    const auto& spec = run.model.spec;
    if (spec.kind != ModelKind::Denoiser)
        throw InvalidRequest("'" + r.model + "' is a " + to_string(spec.kind) +
                             " model; the Denoise mode needs a single-step denoiser (mnist-denoiser, or a run of "
                             "dstudio train --kind denoiser)");
    run.model.unet->eval();
    auto& ss = run.ss;
    if (!run.model.warning.empty()) ss.notes.push_back(run.model.warning);
    ss.data_dir = ctx.data_dir;
    ss.gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
    ss.range = {0.0, 1.0};
    ss.shape = {spec.in_channels, spec.image_size, spec.image_size};
    ss.scale = std::max(1, kFigurePixels / std::max(1, spec.image_size));
    ss.recipe = {{"format", "ds.recipe/1"}, {"technique", "denoise"},   {"model", r.model},
                 {"seed", r.seed},          {"sigma", r.sigma},         {"pure_noise", r.pure_noise},
                 {"sweep", r.sweep},        {"count", r.pure_noise ? r.count : 1}};
    if (const auto d = models::Precision(ctx.mnist_precision.cpu_compute()).name(); d != "fp32") ss.recipe["dtype"] = d;
    return run;
}

// Course 1.2.3: z = eps. A denoiser trained this way outputs the mean training image.
PartAResult denoise_pure_noise(DenoiseRun& run) {
    auto& ss = run.ss;
    const int n = run.r.count, columns = std::min(n, kMaxColumns);
    auto z = ss.noise(n);
    auto d = run.apply(z);
    if (run.r.cancel.now()) return cancelled(ss);
    run.emit(z, d, columns);
    PartAResult res;
    for (std::int64_t i = 0; i < d.size(0); ++i) res.images.push_back(io::tensor_to_image(d[i].clamp(0, 1)));
    res.panels = {{"noisy", ss.tile(z[0].clamp(0, 1))}, {"denoised", ss.tile(d[0].clamp(0, 1))}};
    res.figure = add_caption(add_row_labels(ss.grid(torch::cat({z.clamp(0, 1), d.clamp(0, 1)}, 0), columns),
                                            {"z = noise", "D(z)"}),
                             "pure-noise input, " + prompt_label(run.r.model));
    return finish(ss, std::move(res));
}
}  // namespace

PartAResult run_denoise(const RunContext& ctx, const DenoiseRequest& r) {
    c10::InferenceMode guard;
    DenoiseRun run = open_denoise(ctx, r);
    if (r.pure_noise) return denoise_pure_noise(run);
    auto& ss = run.ss;
    auto x = load_image(ss, r.input, "input");
    // One noise draw for the main result and every sweep column: the columns differ in sigma only.
    auto eps = ss.noise(1);
    auto z = x + r.sigma * eps;
    auto d = run.apply(z);
    if (r.cancel.now()) return cancelled(ss);
    run.emit(z, d, 1);
    PartAResult res;
    res.images.push_back(io::tensor_to_image(d[0].clamp(0, 1)));
    res.panels = {{"input", ss.tile(x[0])}, {"noisy", ss.tile(z[0].clamp(0, 1))}, {"denoised", ss.tile(d[0].clamp(0, 1))}};
    char buf[64];
    std::snprintf(buf, sizeof buf, "input | noisy, sigma %.2f | denoised", r.sigma);
    std::vector<Image> parts = {add_caption(ss.grid(torch::cat({x, z.clamp(0, 1), d.clamp(0, 1)}, 0), 3), buf)};
    if (!r.sweep.empty()) {  // course 1.2.2: the same digit and noise at every sigma
        std::vector<torch::Tensor> noisy;
        for (double s : r.sweep) noisy.push_back(x + s * eps);
        auto zs = torch::cat(noisy, 0).clamp(0, 1);
        auto out = run.apply(torch::cat(noisy, 0)).clamp(0, 1);
        if (r.cancel.now()) return cancelled(ss);
        std::string caption = "sigma:";
        for (std::size_t i = 0; i < r.sweep.size(); ++i) {
            std::snprintf(buf, sizeof buf, "%.2g", r.sweep[i]);
            caption += std::string(" ") + buf;
            res.panels.push_back({std::string("noisy sigma ") + buf, ss.tile(zs[std::int64_t(i)])});
            res.panels.push_back({std::string("denoised sigma ") + buf, ss.tile(out[std::int64_t(i)])});
        }
        auto grid = ss.grid(torch::cat({zs, out}, 0), int(r.sweep.size()));
        parts.push_back(add_caption(add_row_labels(grid, {"noisy", "denoised"}), caption));
    }
    res.figure = stack_vertical(parts);
    return finish(ss, std::move(res));
}

}  // namespace ds::diffusion
