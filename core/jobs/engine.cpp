#include "core/engine/engine.h"
#include "core/engine/precision_info.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include <torch/torch.h>

#include "core/diffusion/schedule.h"
#include "core/diffusion/techniques.h"
#include "core/diffusion/views.h"
#include "core/io/cpu_info.h"
#include "core/io/huge_pages.h"
#include "core/jobs/jobs.h"
#include "core/models/auto_precision.h"
#include "core/models/if_config.h"
#include "core/models/if_unet.h"
#include "core/models/model_registry.h"
#include "core/text/prompt_encoder.h"
#include "core/train/collective.h"
#include "core/train/trainer.h"

namespace fs = std::filesystem;

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
    jobs::RunContext context(const Callbacks& callbacks, const CancelToken& cancel);
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



EngineOptions resolve_options(EngineOptions options) {
    if (options.threads < 0 || options.threads > 1024)
        throw InvalidRequest("threads must be in 0..1024 (0 = all cores)");
    // Throw InvalidRequest naming the choices, or when the dtype cannot run on the device.
    const auto choices = Engine::dtype_choices();
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
    return options;
}

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
    options = resolve_options(std::move(options));
    // Debian's torch starts with one intra-op thread; use the cores we were given.
    at::set_num_threads(options.threads);
    // Large tensors on transparent huge pages (first touch of fresh memory; core/io/huge_pages.h).
    io::install_huge_page_allocator();
    impl_->options = options;
    impl_->registry = std::make_unique<models::ModelRegistry>(options.assets_dir, &impl_->cache);
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

namespace {
std::vector<ModelInfo> bundled_in(const models::ModelRegistry& registry) {
    auto list = registry.list_bundled();
    for (auto& m : list) m = with_schedule(std::move(m));
    return list;
}

ModelInfo describe_in(const models::ModelRegistry& registry, const std::string& model) {
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
    const std::string path = registry.resolve(model);
    return with_schedule(models::ModelRegistry::info_of(path, fs::path(path).stem().string()));
}

}  // namespace

std::vector<ModelInfo> Engine::bundled_models() const { return bundled_in(*impl_->registry); }
ModelInfo Engine::describe(const std::string& model) const { return describe_in(*impl_->registry, model); }

std::vector<ModelInfo> bundled_models(const EngineOptions& options) {
    return bundled_in(models::ModelRegistry(resolve_options(options).assets_dir));
}

ModelInfo describe_model(const std::string& model, const EngineOptions& options) {
    return describe_in(models::ModelRegistry(resolve_options(options).assets_dir), model);
}

DistributedConfig Engine::distributed_from_env() { return train::distributed_from_env(); }
bool Engine::distributed_available() { return train::distributed_available(); }

TrainResult Engine::train(const TrainRequest& request) {
    if (request.init_from.empty()) return train::run_training(request, impl_->options.data_dir);
    TrainRequest r = request;
    r.init_from = impl_->resolve_model_path(request.init_from);  // ids and run folders -> file
    return train::run_training(r, impl_->options.data_dir);
}

SampleResult Engine::sample(const SampleRequest& r) { return jobs::sample(impl_->context(r.callbacks, r.cancel), r); }
EvalResult Engine::evaluate(const EvalRequest& r) { return jobs::evaluate(impl_->context(r.callbacks, r.cancel), r); }
DenoiseSweepResult Engine::denoise_sweep(const DenoiseSweepRequest& r) {
    return jobs::denoise_sweep(impl_->context({}, r.cancel), r);
}
void Engine::plot_losses(const LossPlotRequest& r) { jobs::plot_losses(r); }
void Engine::export_model(const ExportRequest& r) { jobs::export_model(impl_->context({}, {}), r); }

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

jobs::RunContext Engine::Impl::context(const Callbacks& callbacks, const CancelToken& cancel) {
    return {registry.get(), options.data_dir, [this] { return if_precision(); }, mnist_precision(), &cache, &callbacks,
            &cancel};
}

PartAResult Engine::explore_noise(const NoiseExplorerRequest& r) { return impl_->run_part_a(r, jobs::explore); }
PartAResult Engine::iterate(const IterateRequest& r) { return impl_->run_part_a(r, jobs::iterate); }
PartAResult Engine::sdedit(const SdeditRequest& r) { return impl_->run_part_a(r, jobs::sdedit); }
PartAResult Engine::inpaint(const InpaintRequest& r) { return impl_->run_part_a(r, jobs::inpaint); }
PartAResult Engine::anagram(const AnagramRequest& r) { return impl_->run_part_a(r, jobs::anagram); }
PartAResult Engine::hybrid(const HybridRequest& r) { return impl_->run_part_a(r, jobs::hybrid); }
PartAResult Engine::denoise(const DenoiseRequest& r) { return impl_->run_part_a(r, jobs::denoise); }

PartAResult Engine::if_generate(const IfGenerateRequest& r) { return impl_->run_part_a(r, jobs::if_generate); }

int Engine::import_prompts(const PromptImportRequest& r) {
    return text::import_prompt_dict(r.file, r.cache_dir.empty() ? text::PromptEncoder::default_cache_dir() : r.cache_dir,
                                    text::PromptEncoder::kIfT5Identity);
}

}  // namespace ds
