#include "core/engine/engine.h"
#include "core/engine/precision_info.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/data/mnist.h"
#include "core/diffusion/generate.h"
#include "core/diffusion/if_pipeline.h"
#include "core/diffusion/part_a_runner.h"
#include "core/text/prompt_encoder.h"
#include "core/diffusion/schedule.h"
#include "core/diffusion/techniques.h"
#include "core/diffusion/views.h"
#include "core/io/cpu_info.h"
#include "core/io/huge_pages.h"
#include "core/io/plot.h"
#include "core/io/safetensors.h"
#include "core/io/tensor_image.h"
#include "core/models/auto_precision.h"
#include "core/models/if_unet.h"
#include "core/models/model_registry.h"
#include "core/models/t5_encoder.h"
#include "core/models/mnist_classifier.h"
#include "core/models/model_store.h"
#include "core/train/collective.h"
#include "core/train/trainer.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ds {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

std::string default_assets_dir() {
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {  // installed layout: <prefix>/bin/dstudio -> <prefix>/share/diffusion-studio/assets
        auto installed = exe.parent_path().parent_path() / "share" / "diffusion-studio" / "assets";
        if (fs::exists(installed / "models")) return installed.string();
    }
    return std::string(DS_SOURCE_DIR) + "/assets";
}

}  // namespace

struct Engine::Impl {
    EngineOptions options;
    std::unique_ptr<models::ModelRegistry> registry;
    models::LoadedModel load(const std::string& model) { return registry->load(model); }
    // In the compute dtype of --dtype (bf16: an inference copy; fp32 and fp32-w16: as stored).
    models::LoadedModel load_for_inference(const std::string& model) {
        return models::with_compute_dtype(registry->load(model), mnist_precision().cpu_compute());
    }
    // --dtype per model family: "auto" is measured (once per machine, cached) on first use.
    std::mutex precision_mutex;
    std::optional<models::AutoPrecision> auto_mnist, auto_if;
    models::AutoPrecision precision_of(models::Family f) {
        std::lock_guard<std::mutex> lock(precision_mutex);
        auto& slot = f == models::Family::MnistUnet ? auto_mnist : auto_if;
        if (!slot) slot = models::resolve_precision(options.dtype, f, options.device);
        return *slot;
    }
    models::Precision mnist_precision() { return models::Precision::parse(precision_of(models::Family::MnistUnet).dtype); }
    models::Precision if_precision() {
        return models::Precision::parse(precision_of(models::Family::DeepFloydIf).dtype)
            .on(models::Precision::parse_device(options.device));
    }
    std::string resolve_model_path(const std::string& model) const { return registry->resolve(model); }
    // The request's callbacks and cancel token report and stop model loads.
    diffusion::RunContext context(const Callbacks& callbacks, const CancelToken& cancel);
    // Loaded DeepFloyd IF models and prompt encoders, kept between requests while memory allows.
    models::ModelCache cache;
    // A cancel that lands while a model loads (outside a technique's own handling) ends the
    // request the same way: Cancelled never escapes the facade.
    template <class Request, class Run>
    PartAResult run_part_a(const Request& r, Run run) {
        try {
            return run(context(r.callbacks, r.cancel), r);
        } catch (const Cancelled&) {
            PartAResult res;
            res.outcome = Outcome::Cancelled;
            return res;
        }
    }
};



Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
    if (options.threads < 0 || options.threads > 1024)
        throw InvalidRequest("threads must be in 0..1024 (0 = all cores)");
    // Throw InvalidRequest naming the choices, or when the dtype cannot run on the device.
    const auto choices = dtype_choices();
    if (std::find(choices.begin(), choices.end(), options.dtype) == choices.end())
        throw InvalidRequest("dtype must be auto (what measured fastest on this CPU), fp32, bf16, fp16 (GPU only) or "
                             "fp32-w16 (16-bit weights, fp32 arithmetic); got '" + options.dtype + "'");
    if (options.dtype == "auto")
        models::Precision().on(models::Precision::parse_device(options.device)).check_device();
    else
        models::Precision::parse(options.dtype).on(models::Precision::parse_device(options.device)).check_device();
    if (options.threads == 0) options.threads = std::max(1u, std::thread::hardware_concurrency());
    if (options.assets_dir.empty()) options.assets_dir = env_or("DS_ASSETS_DIR", default_assets_dir());
    if (options.data_dir.empty())
        options.data_dir = env_or("DS_DATA_DIR", std::string(DS_SOURCE_DIR) + "/data");
    // Debian's torch starts with one intra-op thread; use the cores we were given.
    at::set_num_threads(options.threads);
    // Large tensors on transparent huge pages (first touch of fresh memory; core/io/huge_pages.h).
    io::install_huge_page_allocator();
    impl_->options = options;
    impl_->registry = std::make_unique<models::ModelRegistry>(options.assets_dir);
}

Engine::~Engine() = default;

int Engine::threads() const { return impl_->options.threads; }
std::string Engine::assets_dir() const { return impl_->options.assets_dir; }
std::string Engine::data_dir() const { return impl_->options.data_dir; }
namespace {
// The schedule facts a GUI needs for its timestep sliders.
ModelInfo with_schedule(ModelInfo info) {
    if (info.timesteps > 1) info.default_timesteps = diffusion::default_strided_timesteps(info.timesteps);
    return info;
}
}  // namespace

std::vector<ModelInfo> Engine::bundled_models() const {
    auto list = impl_->registry->list_bundled();
    for (auto& m : list) m = with_schedule(std::move(m));
    return list;
}

ModelInfo Engine::describe(const std::string& model) const {
    if (models::is_if_folder(model)) {
        ModelInfo info;
        info.family = "deepfloyd-if";
        info.path = model;
        info.id = fs::path(model).filename().string();
        if (info.id.empty()) info.id = fs::path(model).parent_path().filename().string();
        info.timesteps = 1000;
        auto abar = diffusion::cosine_schedule(1000).alpha_bars.to(torch::kFloat64).contiguous();
        info.alpha_bars.assign(abar.data_ptr<double>(), abar.data_ptr<double>() + abar.numel());
        info.default_timesteps = diffusion::default_strided_timesteps(1000);
        const bool t5 = fs::exists(fs::path(model) / "text_encoder" / "config.json");
        info.description = std::string("DeepFloyd IF (diffusers folder)") +
                           (t5 ? "" : "; no text_encoder/: prompts must be cached or imported");
        models::IfUNetConfig::from_json_file((fs::path(model) / "unet" / "config.json").string());  // validates
        return info;
    }
    const std::string path = impl_->resolve_model_path(model);
    return with_schedule(models::ModelRegistry::info_of(path, fs::path(path).stem().string()));
}

DistributedConfig Engine::distributed_from_env() { return train::distributed_from_env(); }
bool Engine::distributed_available() { return train::distributed_available(); }

TrainResult Engine::train(const TrainRequest& request) {
    if (request.init_from.empty()) return train::run_training(request, impl_->options.data_dir);
    TrainRequest r = request;
    r.init_from = impl_->resolve_model_path(request.init_from);  // ids and run folders -> file
    return train::run_training(r, impl_->options.data_dir);
}

SampleResult Engine::sample(const SampleRequest& r) {
    const auto start = std::chrono::steady_clock::now();
    if (!(r.guidance >= 0 && r.guidance <= 100)) throw InvalidRequest("guidance must be in [0, 100]");
    if (r.steps < 0 || r.steps > 100000) throw InvalidRequest("steps must be in 0..100000");
    if (r.count < 0 || r.per_class < 0 || r.per_class > 1000)
        throw InvalidRequest("count and per_class must be >= 0 (per_class <= 1000)");
    auto model = impl_->load_for_inference(r.model);
    const auto& spec = model.spec;
    if (spec.kind == ModelKind::Classifier)
        throw InvalidRequest("'" + r.model + "' is a classifier; it cannot sample images");
    if (!model.warning.empty() && r.callbacks.on_log) r.callbacks.on_log(LogLevel::Warning, model.warning);

    diffusion::GenerateOptions g;
    g.guidance = r.guidance;
    g.steps = r.steps;
    g.seed = r.seed;
    g.posterior_variance = r.posterior_variance;
    g.cancel = &r.cancel;
    g.preview_interval = std::max(1, r.callbacks.preview_interval);
    int columns = r.grid_columns;
    if (spec.is_class_conditioned()) {
        g.labels = r.labels;
        if (g.labels.empty()) {
            const int k = r.per_class > 0 ? r.per_class : (r.count > 0 ? 0 : 4);
            if (k > 0) {
                for (int i = 0; i < k; ++i)
                    for (int c = 0; c < spec.num_classes; ++c) g.labels.push_back(c);
                if (columns <= 0) columns = spec.num_classes;
            } else {
                for (int i = 0; i < r.count; ++i) g.labels.push_back(i % spec.num_classes);
            }
        }
        for (int l : g.labels)
            if (l < -1 || l >= spec.num_classes)
                throw InvalidRequest("class " + std::to_string(l) + " is not in 0.." +
                                     std::to_string(spec.num_classes - 1) + " (-1 = unconditional)");
    } else {
        if (!r.labels.empty() || r.per_class > 0)
            throw InvalidRequest("'" + r.model + "' is a " + to_string(spec.kind) +
                                 " model: it takes no class labels (use --count)");
        g.count = r.count > 0 ? r.count : 40;
    }
    const int n = g.labels.empty() ? g.count : static_cast<int>(g.labels.size());
    if (columns <= 0) columns = std::min(n, 10);
    if (r.callbacks.on_frame) {
        g.on_frame = [&](int step, int total, double t, const torch::Tensor& x, const torch::Tensor& x0) {
            FrameEvent e;
            e.step = step;
            e.total = total;
            e.t = t;
            e.x_t = io::tensor_grid(x, columns);
            e.x0_hat = io::tensor_grid(x0, columns);
            r.callbacks.on_frame(e);
        };
    }
    int progress_total = 0;
    (void)progress_total;
    SampleResult result;
    torch::Tensor samples;
    try {
        samples = diffusion::generate(model, g);
    } catch (const Cancelled&) {
        result.outcome = Outcome::Cancelled;
        return result;
    }
    for (std::int64_t i = 0; i < samples.size(0); ++i) result.images.push_back(io::tensor_to_image(samples[i]));
    result.labels = g.labels.empty() ? std::vector<int>(n, -1) : g.labels;
    result.grid = io::tensor_grid(samples, columns);
    if (!r.raw_out.empty()) {
        std::vector<std::int64_t> lab(result.labels.begin(), result.labels.end());
        auto labels = torch::tensor(lab, torch::kLong);
        io::write_safetensors(r.raw_out, {{"samples", samples.contiguous()}, {"labels", labels}},
                              {{"model", r.model}, {"seed", std::to_string(r.seed)},
                               {"guidance", std::to_string(r.guidance)}});
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

DenoiseSweepResult Engine::denoise_sweep(const DenoiseSweepRequest& r) {
    if (r.indices.empty() || r.sigmas.empty()) throw InvalidRequest("need at least one image and one sigma");
    for (double s : r.sigmas)
        if (!(s >= 0 && s <= 100)) throw InvalidRequest("sigma values must be in [0, 100]");
    c10::InferenceMode guard;
    auto test = data::load_mnist(r.dataset, impl_->options.data_dir, false);
    for (int i : r.indices)
        if (i < 0 || i >= test.images.size(0))
            throw InvalidRequest("test image index " + std::to_string(i) + " is outside 0.." +
                                 std::to_string(test.images.size(0) - 1));
    std::optional<models::LoadedModel> model;
    if (!r.model.empty()) {
        model = impl_->load_for_inference(r.model);
        if (model->spec.kind != ModelKind::Denoiser)
            throw InvalidRequest("'" + r.model + "' is a " + to_string(model->spec.kind) +
                                 " model; the sweep needs a denoiser (e.g. mnist-denoiser)");
        model->unet->eval();
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
    DenoiseSweepResult out;
    std::vector<torch::Tensor> rows;
    for (int idx : r.indices) {
        if (r.cancel.now()) break;
        auto x = test.images[idx];
        std::vector<torch::Tensor> noisy;
        for (double s : r.sigmas) noisy.push_back(x + s * torch::randn(x.sizes(), gen, x.options()));
        auto z = torch::stack(noisy);
        rows.push_back(z.clamp(0, 1));
        for (std::int64_t k = 0; k < z.size(0); ++k) out.noisy.push_back(io::tensor_to_image(z[k].clamp(0, 1)));
        if (model) {
            auto d = model->unet->forward(z).clamp(0, 1);
            rows.push_back(d);
            for (std::int64_t k = 0; k < d.size(0); ++k) out.denoised.push_back(io::tensor_to_image(d[k]));
        }
    }
    if (rows.empty()) return out;
    out.grid = io::tensor_grid(torch::cat(rows, 0), static_cast<int>(r.sigmas.size()), 0, 1, 2, 3);
    return out;
}

EvalResult Engine::evaluate(const EvalRequest& r) {
    if (r.per_class < 1 || r.per_class > 10000) throw InvalidRequest("per_class must be in 1..10000");
    if (!(r.threshold > 0 && r.threshold < 1)) throw InvalidRequest("threshold must be in (0, 1)");
    auto clf = impl_->load(r.classifier);
    if (clf.spec.kind != ModelKind::Classifier)
        throw InvalidRequest("'" + r.classifier + "' is not a classifier checkpoint");
    auto model = impl_->load(r.model);
    if (model.spec.kind == ModelKind::Denoiser || model.spec.kind == ModelKind::Classifier)
        throw InvalidRequest("'" + r.model + "' is a " + to_string(model.spec.kind) +
                             ", not a generative model; nothing to score");
    const bool conditional = model.spec.is_class_conditioned();
    SampleRequest s;
    s.model = r.model;
    if (conditional) s.per_class = r.per_class;
    else s.count = 10 * r.per_class;
    s.guidance = r.guidance;
    s.steps = r.steps;
    s.seed = r.seed;
    s.callbacks = r.callbacks;
    s.cancel = r.cancel;
    auto samples = sample(s);
    EvalResult out;
    out.conditional = conditional;
    if (samples.outcome == Outcome::Cancelled) {
        out.outcome = Outcome::Cancelled;
        return out;
    }
    c10::InferenceMode guard;
    clf.classifier->eval();
    std::vector<torch::Tensor> xs;
    for (const auto& img : samples.images) xs.push_back(io::image_to_tensor(img));
    auto probs = torch::softmax(clf.classifier->forward(torch::stack(xs)), 1);
    auto [top, pred] = probs.max(1);
    const int classes = static_cast<int>(probs.size(1));
    out.per_class_correct.assign(conditional ? model.spec.num_classes : 0, 0);
    out.predicted.assign(classes, 0);
    out.total = static_cast<int>(xs.size());
    for (int i = 0; i < out.total; ++i) {
        const int p = pred[i].item<int>();
        ++out.predicted[p];
        if (top[i].item<double>() >= r.threshold) ++out.confident;
        if (conditional && p == samples.labels[i]) {
            ++out.correct;
            ++out.per_class_correct[samples.labels[i]];
        }
    }
    out.mean_confidence = top.mean().item<double>();
    if (r.frechet) {
        // Reference: the whole test split; scale: as many real test digits as there are samples,
        // drawn at random (a Fréchet distance of N samples carries a bias that shrinks with N).
        auto features = [&](const torch::Tensor& x) {
            std::vector<torch::Tensor> parts;
            for (std::int64_t i = 0; i < x.size(0); i += 1000) parts.push_back(clf.classifier->features(x.slice(0, i, i + 1000)));
            return torch::cat(parts);
        };
        const auto test = data::load_mnist(model.spec.dataset, impl_->options.data_dir, false);
        auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed + 0xfd);
        const auto pick = torch::randperm(test.images.size(0), gen, torch::kLong).narrow(0, 0, std::min<std::int64_t>(out.total, test.images.size(0)));
        const auto ref = features(test.images);
        out.frechet = models::frechet_distance(features(torch::stack(xs)), ref);
        out.frechet_real = models::frechet_distance(features(test.images.index_select(0, pick)), ref);
        out.frechet_reference = static_cast<int>(test.images.size(0));
    }
    return out;
}

void Engine::plot_losses(const LossPlotRequest& r) {
    if (r.runs.empty()) throw InvalidRequest("give at least one run folder or metrics.jsonl");
    if (r.out_png.empty()) throw InvalidRequest("an output PNG path is required");
    std::vector<io::Curve> curves;
    for (size_t i = 0; i < r.runs.size(); ++i) {
        fs::path p(r.runs[i]);
        if (fs::is_directory(p)) p /= train::kMetricsFile;
        std::ifstream in(p);
        if (!in) throw IoError("cannot read metrics '" + p.string() + "' (a run folder holds metrics.jsonl)");
        io::Curve raw, smooth;
        std::string name = i < r.names.size() ? r.names[i] : p.parent_path().filename().string();
        raw.name = name;  // same name: the faint raw curve shares the colour and legend entry
        raw.faint = true;
        smooth.name = name;
        int line_no = 0, bad_line = 0;
        for (std::string line; std::getline(in, line);) {
            ++line_no;
            if (line.empty()) continue;
            // A bad line is an error unless it is the last one: a run killed while writing
            // leaves a torn last line, which is skipped.
            if (bad_line) throw DataError(p.string() + ":" + std::to_string(bad_line) + ": not a metrics line");
            try {
                if (line.size() > 4096) throw std::length_error("line too long");
                auto j = json::parse(line);
                const double x = j.at("step").get<double>(), y = j.at("loss").get<double>();
                raw.x.push_back(x);
                raw.y.push_back(y);
            } catch (const std::exception&) {
                bad_line = line_no;
            }
        }
        if (raw.x.empty()) throw DataError(p.string() + " has no loss values yet");
        const int w = std::max(1, r.smooth);
        double acc = 0;
        for (size_t k = 0; k < raw.y.size(); ++k) {
            acc += raw.y[k];
            if (k >= size_t(w)) acc -= raw.y[k - w];
            smooth.x.push_back(raw.x[k]);
            smooth.y.push_back(acc / std::min<size_t>(k + 1, w));
        }
        curves.push_back(raw);
        curves.push_back(smooth);
    }
    io::PlotOptions opt;
    opt.title = r.title;
    opt.log_y = r.log_scale;
    opt.width = r.width;
    opt.height = r.height;
    write_png(io::plot_curves(curves, opt), r.out_png);
}

std::vector<std::string> Engine::dtype_choices() {
    std::vector<std::string> out = {"auto"};
    for (const auto& n : models::Precision::names()) out.push_back(n);
    return out;
}

std::vector<FamilyPrecision> describe_precision(const EngineOptions& options) {
    std::vector<FamilyPrecision> out;
    for (auto f : {models::Family::MnistUnet, models::Family::DeepFloydIf}) {
        const auto p = models::resolve_precision(options.dtype, f, options.device);
        out.push_back({models::family_name(f), p.dtype, p.reason});
    }
    return out;
}

std::vector<std::string> Engine::anagram_views() { return diffusion::common_view_names(); }

std::vector<std::string> Engine::device_choices() {
    std::vector<std::string> list = {"cpu"};
    if (torch::cuda::is_available())
        for (int i = 0; i < int(torch::cuda::device_count()); ++i) list.push_back("cuda:" + std::to_string(i));
    return list;
}

std::string Engine::dtype_warning(const std::string& dtype, const std::string& device) {
    if (dtype != "bf16" || device != "cpu" || io::cpu_has("avx512f")) return {};
    return "this CPU (" + io::cpu_model() + ") has no AVX-512: bf16 convolutions take oneDNN's slow "
           "path here (measured 10x slower than fp32 for DeepFloyd IF); fp32 is faster on this machine";
}

void Engine::export_model(const ExportRequest& r) {
    if (r.out.empty()) throw InvalidRequest("an output file is required");
    const std::string path = impl_->resolve_model_path(r.source);
    auto model = models::load_model_file(path);
    std::map<std::string, std::string> meta;
    for (const auto& key : {"ds.recipe", "ds.train", "epoch"}) {
        auto it = model.metadata.find(key);
        if (it != model.metadata.end()) meta[key] = it->second;
    }
    if (!r.description.empty()) meta["ds.description"] = r.description;
    if (r.recalibrate_bn < -1) throw InvalidRequest("--recalibrate-bn must be >= 0");
    int batches = r.recalibrate_bn;
    if (batches == -1) {  // auto: a checkpoint's weight average needs statistics of its own
        batches = 0;
        const auto ema = models::ema_info(model.metadata);
        if (model.unet && ema.has_average) {
            if (ema.bn_epoch > 0)  // re-estimated by the trainer at an epoch end; loading applied them
                meta["ds.bn_recalibrated"] = "by the trainer at the end of epoch " + std::to_string(ema.bn_epoch) +
                                             " (" + std::to_string(train::kEmaBnBatches) + " batches of 128)";
            else
                batches = train::kEmaBnBatches;
        }
    }
    if (batches > 0) {
        if (!model.unet) throw InvalidRequest("BatchNorm recalibration applies to the UNet models, not the classifier");
        auto data = data::load_mnist(model.spec.dataset, impl_->options.data_dir, true);
        train::recalibrate_batchnorm(model, data, batches, 128, r.recalibrate_seed);
        meta["ds.bn_recalibrated"] = std::to_string(batches) + " batches of 128, seed " +
                                     std::to_string(r.recalibrate_seed);
    }
    models::save_model_file(r.out, model, r.fp16, {}, meta);
}

diffusion::RunContext Engine::Impl::context(const Callbacks& callbacks, const CancelToken& cancel) {
    return {registry.get(), options.data_dir, [this] { return if_precision(); }, mnist_precision(), &cache, &callbacks,
            &cancel};
}

PartAResult Engine::explore_noise(const NoiseExplorerRequest& r) { return impl_->run_part_a(r, diffusion::run_explore); }
PartAResult Engine::iterate(const IterateRequest& r) { return impl_->run_part_a(r, diffusion::run_iterate); }
PartAResult Engine::sdedit(const SdeditRequest& r) { return impl_->run_part_a(r, diffusion::run_sdedit); }
PartAResult Engine::inpaint(const InpaintRequest& r) { return impl_->run_part_a(r, diffusion::run_inpaint); }
PartAResult Engine::anagram(const AnagramRequest& r) { return impl_->run_part_a(r, diffusion::run_anagram); }
PartAResult Engine::hybrid(const HybridRequest& r) { return impl_->run_part_a(r, diffusion::run_hybrid); }
PartAResult Engine::denoise(const DenoiseRequest& r) { return impl_->run_part_a(r, diffusion::run_denoise); }

PartAResult Engine::if_generate(const IfGenerateRequest& r) { return impl_->run_part_a(r, diffusion::run_if_generate); }

int Engine::import_prompts(const PromptImportRequest& r) {
    return text::import_prompt_dict(r.file, r.cache_dir.empty() ? text::PromptEncoder::default_cache_dir() : r.cache_dir,
                                    text::PromptEncoder::kIfT5Identity);
}

}  // namespace ds
