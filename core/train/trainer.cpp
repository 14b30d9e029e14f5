#include "core/train/trainer.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <algorithm>
#include <mutex>
#include <thread>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <type_traits>

#include <ATen/autocast_mode.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include "core/data/mnist.h"
#include "core/diffusion/generate.h"
#include "core/diffusion/schedule.h"
#include "core/engine/errors.h"
#include "core/io/atomic_file.h"
#include "core/io/cpu_info.h"
#include "core/io/safetensors.h"
#include "core/io/tensor_image.h"
#include "core/models/model_store.h"
#include "core/train/adam.h"
#include "core/train/collective.h"
#include "core/train/launcher.h"
#include "core/train/run.h"
#include "core/models/sync_batchnorm.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ds::train {

TrainRequest with_defaults(const TrainRequest& in) {
    TrainRequest r = in;
    const bool ddpm = r.kind == ModelKind::TimeDdpm || r.kind == ModelKind::ClassDdpm;
    const bool flow = r.kind == ModelKind::TimeFm || r.kind == ModelKind::ClassFm;
    if (r.epochs <= 0) r.epochs = ddpm ? 20 : flow ? 10 : r.kind == ModelKind::Classifier ? 4 : 5;
    if (r.batch_size <= 0) r.batch_size = ddpm || r.kind == ModelKind::Classifier ? 128 : flow ? 64 : 256;
    if (r.hidden <= 0) r.hidden = r.kind == ModelKind::Denoiser ? 128 : 64;
    if (r.lr <= 0) r.lr = ddpm || r.kind == ModelKind::Classifier ? 1e-3 : flow ? 1e-2 : 1e-4;
    if (r.lr_decay < 0) r.lr_decay = (ddpm || flow || r.kind == ModelKind::Classifier) ? 1 : 0;
    if (r.sample_steps <= 0) r.sample_steps = diffusion::default_flow_steps(r.kind);
    if (r.precision.empty()) r.precision = "fp32";
    if (r.epoch_grids < 0) r.epoch_grids = 1;
    if (r.checkpoint_minutes == -1) r.checkpoint_minutes = kDefaultCheckpointMinutes;
    if (r.checkpoint_steps == -1) r.checkpoint_steps = 0;
    return r;
}

void validate(const TrainRequest& r) {
    auto bad = [](const std::string& m) { throw InvalidRequest("invalid training request: " + m); };
    if (r.out_dir.empty()) bad("an output folder is required (--out DIR)");
    if (r.epochs < 1 || r.epochs > 10000) bad("epochs must be in 1..10000");
    if (r.batch_size < 1 || r.batch_size > 65536) bad("batch size must be in 1..65536");
    if (r.hidden < 1 || r.hidden > 1024) bad("hidden width D must be in 1..1024");
    if (!(r.lr > 0 && r.lr < 10)) bad("learning rate must be in (0, 10)");
    if (!(std::isfinite(r.sigma) && r.sigma >= 0 && r.sigma <= 100)) bad("sigma must be in [0, 100]");
    if (!(r.p_uncond >= 0 && r.p_uncond <= 1)) bad("p_uncond must be in [0, 1]");
    if (!(std::isfinite(r.grad_clip) && r.grad_clip >= 0)) bad("grad clip must be >= 0");
    if (r.timesteps < 2 || r.timesteps > 10000) bad("timesteps must be in 2..10000");
    if (r.limit < 0) bad("limit must be >= 0");
    if (!r.init_from.empty() && r.resume)
        bad("--init starts a new run from a model's weights; it cannot be combined with --resume");
    if (!std::isfinite(r.guidance)) bad("guidance must be finite");
    if (!(r.ema == -1 || (r.ema >= 0 && r.ema < 1)))
        bad("EMA decay must be in [0, 1) (e.g. 0.999; 0 = off)");
    if (!r.precision.empty() && r.precision != "fp32" && r.precision != "bf16")
        bad("precision must be fp32 or bf16 (got '" + r.precision + "')");
    if (!(std::isfinite(r.checkpoint_minutes) && r.checkpoint_minutes >= 0 && r.checkpoint_minutes <= 24 * 60))
        bad("checkpoint interval must be in 0..1440 minutes (0 = only at epoch ends)");
    if (r.checkpoint_steps < 0) bad("checkpoint steps must be >= 0 (0 = off)");
}

namespace detail {

json recipe_json(const TrainRequest& r) {
    return {{"kind", to_string(r.kind)}, {"dataset", r.dataset},   {"epochs", r.epochs},
            {"batch_size", r.batch_size}, {"hidden", r.hidden},    {"lr", r.lr},
            {"lr_decay", r.lr_decay},   {"sigma", r.sigma},        {"pure_noise", r.pure_noise},
            {"p_uncond", r.p_uncond},   {"grad_clip", r.grad_clip}, {"timesteps", r.timesteps},
            {"sample_steps", r.sample_steps}, {"guidance", r.guidance},
            {"seed", r.seed},           {"limit", r.limit}, {"init_from", r.init_from},
            {"ema", std::max(r.ema, 0.0)}, {"precision", r.precision.empty() ? "fp32" : r.precision},
            {"epoch_grids", r.epoch_grids != 0}, {"checkpoint_minutes", r.checkpoint_minutes},
            {"checkpoint_steps", r.checkpoint_steps}};
}

// --resume continues the run as it was started: every hyperparameter the request leaves at its
// default (sentinel or built-in default value) is taken from the checkpoint's recipe; values
// given explicitly win (e.g. more --epochs). Returns "name value" for each adopted field.
std::vector<std::string> adopt_recipe(TrainRequest& r, const json& recipe) {
    std::vector<std::string> taken;
    const TrainRequest defaults;
    if (r.kind_from_run && recipe.contains("kind")) {
        r.kind = parse_model_kind(recipe.at("kind").get<std::string>());
        taken.push_back("kind " + to_string(r.kind));
    }
    auto take = [&](const char* key, auto& field, bool is_default) {
        using T = std::decay_t<decltype(field)>;
        if (!is_default || !recipe.contains(key)) return;
        const T saved = recipe.at(key).get<T>();
        if (saved == field) return;
        field = saved;
        std::ostringstream v;
        v << key << " " << saved;
        taken.push_back(v.str());
    };
    take("epochs", r.epochs, r.epochs <= 0);
    take("batch_size", r.batch_size, r.batch_size <= 0);
    take("hidden", r.hidden, r.hidden <= 0);
    take("lr", r.lr, r.lr <= 0);
    take("lr_decay", r.lr_decay, r.lr_decay < 0);
    take("sample_steps", r.sample_steps, r.sample_steps <= 0);
    take("dataset", r.dataset, r.dataset == defaults.dataset);
    take("sigma", r.sigma, r.sigma == defaults.sigma);
    take("pure_noise", r.pure_noise, r.pure_noise == defaults.pure_noise);
    take("p_uncond", r.p_uncond, r.p_uncond == defaults.p_uncond);
    take("grad_clip", r.grad_clip, r.grad_clip == defaults.grad_clip);
    take("timesteps", r.timesteps, r.timesteps == defaults.timesteps);
    take("guidance", r.guidance, r.guidance == defaults.guidance);
    take("seed", r.seed, r.seed == defaults.seed);
    take("limit", r.limit, r.limit == defaults.limit);
    take("ema", r.ema, r.ema < 0);
    take("precision", r.precision, r.precision.empty());
    take("checkpoint_minutes", r.checkpoint_minutes, r.checkpoint_minutes == -1);
    take("checkpoint_steps", r.checkpoint_steps, r.checkpoint_steps == -1);
    if (r.epoch_grids < 0 && recipe.contains("epoch_grids")) {
        const bool saved = recipe.at("epoch_grids").get<bool>();
        r.epoch_grids = saved ? 1 : 0;
        if (!saved) taken.push_back("no epoch grids");
    }
    return taken;
}

// Swaps the EMA weights into the model for as long as it lives (grids and epoch snapshots).
class EmaSwap {
public:
    EmaSwap(std::vector<std::pair<std::string, torch::Tensor>>& params, std::vector<torch::Tensor>& ema)
        : params_(params), ema_(ema) {
        swap();
    }
    ~EmaSwap() { swap(); }
    EmaSwap(const EmaSwap&) = delete;
    EmaSwap& operator=(const EmaSwap&) = delete;

private:
    void swap() {
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < ema_.size(); ++i) {
            auto raw = params_[i].second.detach().clone();
            params_[i].second.detach().copy_(ema_[i]);
            ema_[i].copy_(raw);
        }
    }
    std::vector<std::pair<std::string, torch::Tensor>>& params_;
    std::vector<torch::Tensor>& ema_;
};

void Run::prepare_folder() {
    dir_ = r_.out_dir;
    std::error_code ec;
    fs::create_directories(dir_ / "epochs", ec);
    fs::create_directories(dir_ / "samples", ec);
    if (ec) throw IoError("cannot create output folder '" + r_.out_dir + "': " + ec.message());
    // Half-written files of a run that was killed while saving (the renamed file is intact).
    int stale = 0;
    for (const auto& sub : {dir_, dir_ / "epochs", dir_ / "samples"}) stale += io::remove_stale_temp_files(sub.string());
    if (stale > 0)
        log(LogLevel::Info, "removed " + std::to_string(stale) + " half-written file(s) of an interrupted save");
    // Probe writability now rather than after an epoch of work.
    io::write_file_atomic((dir_ / ".write-test").string(), std::string("ok"));
    fs::remove(dir_ / ".write-test", ec);
    const bool has_ckpt = fs::exists(dir_ / kCheckpointFile);
    if (has_ckpt && !r_.resume)
        throw InvalidRequest("'" + r_.out_dir + "' already holds a training run; pass --resume to "
                             "continue it or choose another output folder");
    if (!has_ckpt && r_.resume)
        throw InvalidRequest("nothing to resume: no " + std::string(kCheckpointFile) + " in '" +
                             r_.out_dir + "'");
}

void Run::build_or_resume() {
    models::ModelSpec spec = models::ModelSpec::defaults(r_.kind);
    spec.hidden = r_.hidden;
    spec.in_channels = static_cast<int>(data_.images.size(1));
    spec.image_size = static_cast<int>(data_.images.size(2));
    spec.num_classes = (spec.is_class_conditioned() || r_.kind == ModelKind::Classifier)
                           ? static_cast<int>(data_.class_names.size()) : 0;
    spec.timesteps = r_.timesteps;
    spec.sigma = r_.sigma;
    spec.pure_noise = r_.pure_noise;
    spec.dataset = r_.dataset;
    spec.class_names = data_.class_names;
    if (spec.image_size % 4)
        throw DataError("images of " + std::to_string(spec.image_size) +
                        " px: the UNet needs a size divisible by 4");

    {
        // Parameter initialisation draws from torch's global generator: one run at a time, so
        // runs in threads of one process (the GUI, the data-parallel tests) get their seed's weights.
        static std::mutex init_mutex;
        std::lock_guard<std::mutex> lock(init_mutex);
        torch::manual_seed(r_.seed);
        model_ = models::build_model(spec);
    }
    gen_ = at::make_generator<at::CPUGeneratorImpl>(r_.seed * 2654435761ULL + 1);
    std::vector<std::pair<std::string, torch::Tensor>> params;
    for (auto& p : model_.module().named_parameters(true)) params.emplace_back(p.key(), p.value());
    adam_ = std::make_unique<Adam>(params, r_.lr);
    prog_.lr = r_.lr;
    if (spec.is_ddpm()) schedule_ = diffusion::linear_schedule(spec.timesteps, spec.beta1, spec.beta2);
    if (!r_.init_from.empty()) warm_start(spec);
    auto start_ema = [&](bool warmup) {
        ema_params_ = params;
        ema_.clear();
        for (auto& [name, p] : params) ema_.push_back(p.detach().clone());
        ema_updates_ = 0;
        ema_warmup_ = warmup;
    };
    if (!r_.resume) {
        if (r_.ema < 0) r_.ema = 0;
        // From random weights the average warms up (decay min(d, (1+k)/(10+k)) at update k);
        // a warm start averages from the trained weights it loaded.
        if (r_.ema > 0) start_ema(r_.init_from.empty());
        return;
    }

    const std::string path = (dir_ / kCheckpointFile).string();
    auto file = io::SafetensorsFile::open(path);
    auto it = file.metadata().find(models::kSpecKey);
    auto tr = file.metadata().find("ds.train");
    if (it == file.metadata().end() || tr == file.metadata().end())
        throw ModelLoadError(path + ": not a Diffusion Studio training checkpoint");
    auto saved = models::ModelSpec::from_json(it->second, path);
    if (saved.kind != spec.kind || saved.hidden != spec.hidden ||
        saved.num_classes != spec.num_classes || saved.image_size != spec.image_size)
        throw ModelLoadError(path + ": checkpoint is a " + to_string(saved.kind) + " D=" +
                             std::to_string(saved.hidden) + " model, but this run asks for " +
                             to_string(spec.kind) + " D=" + std::to_string(spec.hidden) +
                             "; resume with the same --kind and --hidden");
    std::map<std::string, torch::Tensor> weights;
    for (const auto& info : file.tensors())
        if (info.name.rfind("train.", 0) != 0) weights[info.name] = file.tensor(info.name);
    models::load_state(model_.module(), weights, path);
    auto t = json::parse(tr->second);
    prog_.epoch = t.at("epoch");
    prog_.batch = t.at("batch");
    prog_.step = t.at("step");
    prog_.lr = t.at("lr");
    saved_step_ = prog_.step;
    // A resumed warm start keeps recording where its weights first came from.
    if (t.contains("recipe") && t["recipe"].contains("init_from"))
        r_.init_from = t["recipe"]["init_from"].get<std::string>();
    adam_->load_state([&](const std::string& k) {
        return file.contains(k) ? file.tensor(k) : torch::Tensor(); }, "train.adam.", prog_.step, path);
    adam_->set_lr(prog_.lr);
    gen_.set_state(file.tensor("train.rng"));
    const double saved_ema = t.contains("recipe") ? t["recipe"].value("ema", 0.0) : 0.0;
    if (r_.ema < 0) r_.ema = 0;  // a checkpoint without a recipe entry (adopt_recipe took the rest)
    if (r_.ema > 0) {
        start_ema(!(t.contains("ema_warmup") && !t["ema_warmup"].get<bool>()));
        if (saved_ema > 0) {
            ema_updates_ = t.value("ema_updates", std::int64_t{0});
            torch::NoGradGuard no_grad;
            for (size_t i = 0; i < ema_.size(); ++i) {
                const std::string key = "train.ema." + ema_params_[i].first;
                if (!file.contains(key) || file.tensor(key).sizes() != ema_[i].sizes())
                    throw ModelLoadError(path + ": EMA weight '" + key + "' is missing or has the wrong shape");
                ema_[i].copy_(file.tensor(key));
            }
            if (t.contains("ema_bn_epoch") && model_.unet) {
                ema_bn_.clear();
                for (auto& b : model_.unet->named_buffers(true)) {
                    const std::string key = "train.ema." + b.key();
                    if (!file.contains(key) || file.tensor(key).sizes() != b.value().sizes())
                        throw ModelLoadError(path + ": BatchNorm statistics '" + key + "' are missing or mis-shaped");
                    ema_bn_.emplace_back(b.key(), file.tensor(key).clone());
                }
                ema_bn_epoch_ = t["ema_bn_epoch"].get<int>();
            }
        } else {
            ema_warmup_ = false;
            log(LogLevel::Info, "this run had no EMA; the average starts from the resumed weights");
        }
    } else if (saved_ema > 0) {
        log(LogLevel::Warning, "--ema 0: the checkpoint's weight average is dropped from here on");
    }
    log(LogLevel::Info, "resuming at epoch " + std::to_string(prog_.epoch + 1) + ", step " +
                            std::to_string(prog_.step));
}

void Run::warm_start(const models::ModelSpec& spec) {
    const std::string& path = r_.init_from;
    auto file = io::SafetensorsFile::open(path);
    auto it = file.metadata().find(models::kSpecKey);
    if (it == file.metadata().end())
        throw ModelLoadError(path + ": not a Diffusion Studio model (no " + models::kSpecKey +
                             " metadata); --init needs a model written by dstudio train/export");
    auto saved = models::ModelSpec::from_json(it->second, path);
    if (saved.kind != spec.kind || saved.hidden != spec.hidden ||
        saved.num_classes != spec.num_classes || saved.image_size != spec.image_size ||
        saved.in_channels != spec.in_channels)
        throw ModelLoadError(path + ": --init model is a " + to_string(saved.kind) + " D=" +
                             std::to_string(saved.hidden) + " " + std::to_string(saved.image_size) +
                             " px model, but this run trains a " + to_string(spec.kind) + " D=" +
                             std::to_string(spec.hidden) + " " + std::to_string(spec.image_size) +
                             " px model");
    std::map<std::string, torch::Tensor> weights;
    for (const auto& info : file.tensors())
        if (info.name.rfind("train.", 0) != 0) weights[info.name] = file.tensor(info.name);
    models::load_state(model_.module(), weights, path);  // names every missing/extra tensor
    log(LogLevel::Info, "starting from the weights of " + path);
}

// The network input of one training batch, drawn from `gen` in a fixed order (so runs and their
// resumed continuations draw the same numbers), and the regression target.
struct NoisyBatch {
    torch::Tensor input, t, c, target;  // t, c undefined where the model takes none
};

NoisyBatch noisy_batch(const models::ModelSpec& spec, const diffusion::Schedule& schedule,
                       const torch::Tensor& x, const torch::Tensor& labels, double p_uncond,
                       double sigma, bool pure_noise, at::Generator& gen) {
    const auto n = x.size(0);
    auto class_input = [&]() {
        auto c = torch::one_hot(labels, spec.num_classes).to(torch::kFloat32);
        auto keep = (torch::rand({n, 1}, gen) >= p_uncond).to(torch::kFloat32);
        return c * keep;  // dropped rows become the zero vector (unconditional)
    };
    NoisyBatch b;
    switch (spec.kind) {
        case ModelKind::Denoiser: {
            auto eps = torch::randn(x.sizes(), gen, x.options());
            b.input = pure_noise ? eps : x + sigma * eps;
            b.target = x;
            break;
        }
        case ModelKind::TimeDdpm:
        case ModelKind::ClassDdpm: {
            auto t = torch::randint(0, schedule.size(), {n}, gen, torch::kLong);
            auto eps = torch::randn(x.sizes(), gen, x.options());
            auto ab = schedule.alpha_bars.index_select(0, t).view({n, 1, 1, 1});
            b.input = ab.sqrt() * x + (1 - ab).sqrt() * eps;
            b.t = t.to(torch::kFloat32) / double(schedule.size());
            if (spec.kind == ModelKind::ClassDdpm) b.c = class_input();
            b.target = eps;
            break;
        }
        case ModelKind::TimeFm:
        case ModelKind::ClassFm: {
            b.t = torch::rand({n}, gen);
            auto x0 = torch::randn(x.sizes(), gen, x.options());
            auto tv = b.t.view({n, 1, 1, 1});
            b.input = (1 - tv) * x0 + tv * x;
            if (spec.kind == ModelKind::ClassFm) b.c = class_input();
            b.target = x - x0;
            break;
        }
        case ModelKind::Classifier:
            b.input = x;
            b.target = labels;
            break;
    }
    return b;
}


torch::Tensor Run::batch_loss(const torch::Tensor& x, const torch::Tensor& labels) {
    // Every rank draws the noise of the whole global batch (the same numbers a single process
    // draws) and trains on its own rows: data order and random stream do not depend on the number
    // of ranks, so any world size continues any checkpoint.
    auto b = noisy_batch(model_.spec, schedule_, x, labels, r_.p_uncond, r_.sigma, r_.pure_noise, gen_);
    const auto n = x.size(0);
    auto reduction = torch::Reduction::Mean;
    if (coll_) {
        const auto w = r_.dist.world, k = r_.dist.rank;
        const auto begin = n * k / w, rows = n * (k + 1) / w - begin;
        for (auto* t : {&b.input, &b.t, &b.c, &b.target})
            if (t->defined()) *t = t->narrow(0, begin, rows);
        reduction = torch::Reduction::Sum;  // divided by the global rows below: this rank's share
    }
    batch_rows_ = n;
    AutocastBf16 autocast(r_.precision == "bf16");
    torch::Tensor loss;
    switch (model_.spec.kind) {
        case ModelKind::Classifier:
            loss = torch::nn::functional::cross_entropy(
                model_.classifier->forward(b.input).to(torch::kFloat32), b.target,
                torch::nn::functional::CrossEntropyFuncOptions().reduction(
                    coll_ ? torch::nn::CrossEntropyLossOptions::reduction_t(torch::kSum)
                          : torch::nn::CrossEntropyLossOptions::reduction_t(torch::kMean)));
            break;
        case ModelKind::Denoiser:
            loss = torch::mse_loss(model_.unet->forward(b.input), b.target, reduction);
            break;
        default:
            loss = torch::mse_loss(model_.unet->forward(b.input, b.t, b.c), b.target, reduction);
            break;
    }
    if (!coll_) return loss;
    // Mean over the global batch's values (MSE: per pixel; cross-entropy: per image).
    const double per_row = model_.spec.kind == ModelKind::Classifier ? 1.0 : double(x.numel() / n);
    return loss / (double(n) * per_row);
}

void Run::update_ema() {
    if (ema_.empty() || !writer()) return;
    torch::NoGradGuard no_grad;
    const double k = double(ema_updates_++);
    const double d = ema_warmup_ ? std::min(r_.ema, (1 + k) / (10 + k)) : r_.ema;
    for (size_t i = 0; i < ema_.size(); ++i) ema_[i].mul_(d).add_(ema_params_[i].second.detach(), 1 - d);
}

void Run::save_checkpoint() {
    json t = {{"epoch", prog_.epoch}, {"batch", prog_.batch}, {"step", prog_.step},
              {"lr", prog_.lr}, {"recipe", recipe_json(r_)}};
    auto extra = adam_->state("train.adam.");
    if (!ema_.empty()) {
        t["ema_updates"] = ema_updates_;
        t["ema_warmup"] = ema_warmup_;
        for (size_t i = 0; i < ema_.size(); ++i) extra.emplace_back("train.ema." + ema_params_[i].first, ema_[i]);
        if (!ema_bn_.empty()) {
            t["ema_bn_epoch"] = ema_bn_epoch_;
            for (const auto& [name, b] : ema_bn_) extra.emplace_back("train.ema." + name, b);
        }
    }
    extra.emplace_back("train.rng", gen_.get_state());
    const std::string path = (dir_ / kCheckpointFile).string();
    models::save_model_file(path, model_, false, extra, {{"ds.train", t.dump()}});
    last_checkpoint_ = path;
    saved_step_ = prog_.step;
    metrics_.flush();
}

void Run::write_grid(int epoch, models::LoadedModel& model) {
    if (r_.epoch_grids == 0 || r_.kind == ModelKind::Classifier) return;
    diffusion::GenerateOptions g;
    g.seed = r_.seed + 0x5eed;  // the same noise every epoch: grids are comparable
    g.guidance = r_.guidance;
    g.steps = model.spec.is_flow() ? r_.sample_steps : 0;
    g.cancel = &r_.cancel;
    int columns = 10;
    if (model.spec.is_class_conditioned()) {
        for (int k = 0; k < 4; ++k)
            for (int c = 0; c < model.spec.num_classes; ++c) g.labels.push_back(c);
        columns = model.spec.num_classes;
    } else {
        g.count = 40;
    }
    torch::Tensor samples;
    if (r_.kind == ModelKind::Denoiser) {  // test-set denoising at the training sigma
        c10::InferenceMode guard;
        model.unet->eval();
        auto test = data::load_mnist(r_.dataset, data_dir_, false, 10).images;
        auto tgen = at::make_generator<at::CPUGeneratorImpl>(g.seed);
        auto eps = torch::randn(test.sizes(), tgen, test.options());
        auto z = r_.pure_noise ? eps : test + r_.sigma * eps;
        samples = torch::cat({test, z.clamp(0, 1), model.unet->forward(z).clamp(0, 1)}, 0);
    } else {
        samples = diffusion::generate(model, g);
    }
    model_.module().train();
    char name[32];
    std::snprintf(name, sizeof name, "epoch_%03d.png", epoch);
    write_png(io::tensor_grid(samples, columns, 0, 1, 2, 2), (dir_ / "samples" / name).string(),
              {{"ds.recipe", recipe_json(r_).dump()}, {"epoch", std::to_string(epoch)}});
}

void Run::end_epoch(int epoch) {
    prog_.epoch = epoch;
    prog_.batch = 0;
    if (r_.lr_decay == 1) {  // ExponentialLR(gamma = 0.1^(1/epochs)), stepped per epoch
        prog_.lr = r_.lr * std::pow(0.1, double(epoch) / r_.epochs);
        adam_->set_lr(prog_.lr);
    }
    if (!writer()) return;  // files, snapshots and grids are rank 0's
    save_checkpoint();
    // Snapshots and grids show the model a user would take away: the average when EMA is on.
    // The running BatchNorm statistics belong to the raw weights; for the average they are
    // re-estimated (own generator, so the run's random stream is untouched) and the raw ones
    // restored afterwards. Without this, EMA samples of a DDPM come out as faint thin strokes.
    std::optional<EmaSwap> swap;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> raw_buffers;
    if (!ema_.empty()) {
        swap.emplace(ema_params_, ema_);
        if (model_.unet) {
            torch::NoGradGuard no_grad;
            for (auto& b : model_.unet->buffers()) raw_buffers.emplace_back(b, b.clone());
            recalibrate_batchnorm(model_, data_, kEmaBnBatches, 128, r_.seed * 7919ULL + epoch);
            ema_bn_.clear();
            for (auto& b : model_.unet->named_buffers(true)) ema_bn_.emplace_back(b.key(), b.value().clone());
            ema_bn_epoch_ = epoch;
        }
    }
    char name[40];
    std::snprintf(name, sizeof name, "epoch_%03d.safetensors", epoch);
    models::save_model_file((dir_ / "epochs" / name).string(), model_, false, {},
                            {{"ds.recipe", recipe_json(r_).dump()}, {"epoch", std::to_string(epoch)}});
    write_grid(epoch);
    {
        torch::NoGradGuard no_grad;
        for (auto& [live, saved] : raw_buffers) live.copy_(saved);
    }
    swap.reset();  // the raw weights back in the model before they are saved
    // Again, now with the average's statistics (the first write keeps the epoch safe should the
    // re-estimation or the grid be interrupted).
    if (!ema_bn_.empty()) save_checkpoint();
}

// A run stopped while its epoch-end grid was being drawn (Ctrl+C, SIGTERM) has the epoch's
// checkpoint and snapshot but no grid: draw it from the snapshot (the same weights and noise, so
// the same picture) before training goes on.
void Run::draw_interrupted_grid() {
    if (r_.epoch_grids == 0 || r_.kind == ModelKind::Classifier || prog_.epoch < 1 || prog_.batch != 0) return;
    char grid[32], snap[40];
    std::snprintf(grid, sizeof grid, "epoch_%03d.png", prog_.epoch);
    std::snprintf(snap, sizeof snap, "epoch_%03d.safetensors", prog_.epoch);
    const fs::path snapshot = dir_ / "epochs" / snap;
    if (fs::exists(dir_ / "samples" / grid) || !fs::exists(snapshot)) return;
    log(LogLevel::Info, "the sample grid of epoch " + std::to_string(prog_.epoch) +
                            " was interrupted; drawing it from " + (fs::path("epochs") / snap).string());
    auto model = models::load_model_file(snapshot.string());
    write_grid(prog_.epoch, model);
}

TrainResult Run::execute_steps() {
    if (r_.dist.world > 1 && !writer()) {
        // A worker: everything but the rendezvous comes from rank 0.
        coll_ = std::make_unique<Collective>(r_.dist);
        adopt_rank0_recipe();
        dir_ = r_.out_dir;
    } else {
        setup_rank0();
    }
    build_or_resume();
    if (coll_) sync_state();
    if (writer()) {
        draw_interrupted_grid();
        if (r_.precision == "bf16" && !io::cpu_has("avx512_bf16"))
            log(LogLevel::Warning, "this CPU (" + io::cpu_model() + ") has no AVX512-BF16: bf16 autocast is "
                                   "slower than fp32 here (--precision fp32 is the faster choice)");
        io::write_file_atomic((dir_ / kRecipeFile).string(), recipe_json(r_).dump(2) + "\n");

        // Metrics: keep lines up to the resumed step, then append.
        const fs::path mpath = dir_ / kMetricsFile;
        std::vector<std::string> keep;
        std::ifstream in(mpath);
        for (std::string line; std::getline(in, line);) {
            try {
                if (json::parse(line).at("step").get<std::int64_t>() <= prog_.step) keep.push_back(line);
            } catch (...) {
            }
        }
        std::string text;
        for (auto& l : keep) text += l + "\n";
        io::write_file_atomic(mpath.string(), text);
        metrics_.open(mpath, std::ios::app);
    }

    TrainResult result;
    const std::int64_t n = data_.images.size(0);
    const std::int64_t batches = (n + r_.batch_size - 1) / r_.batch_size;
    const std::int64_t total_steps = batches * r_.epochs;
    model_.module().train();
    std::vector<torch::Tensor> params = model_.module().parameters();
    auto t0 = std::chrono::steady_clock::now();
    double rate = 0;  // images/s, smoothed
    std::int64_t steps_this_run = 0;
    auto last_save = t0;  // periodic mid-epoch checkpoints count from here
    double grad_reduce_s = 0, step_collectives_s = 0;  // inside steps (not the set-up or epoch ends)
    const auto epoch_end_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(std::max(r_.dist.timeout_s, 3600.0) * 1000));
    // Sums flags over the ranks: every rank takes the same decision.
    auto agree = [&](std::vector<float> flags, std::chrono::milliseconds timeout, const std::string& what) {
        if (!coll_) return flags;
        auto t = torch::tensor(flags, torch::kFloat32);
        coll_->allreduce_sum({t}, what, timeout);
        for (size_t i = 0; i < flags.size(); ++i) flags[i] = t[static_cast<std::int64_t>(i)].item<float>();
        return flags;
    };

    for (int epoch = prog_.epoch + 1; epoch <= r_.epochs; ++epoch) {
        // Shuffle from a per-epoch seed so a resumed epoch visits the same batches.
        auto pgen = at::make_generator<at::CPUGeneratorImpl>(r_.seed * 1000003ULL + epoch);
        auto perm = torch::randperm(n, pgen, torch::kLong);
        for (std::int64_t b = prog_.batch; b < batches; ++b) {
            if (!coll_ && r_.cancel.now()) {
                save_checkpoint();
                log(LogLevel::Info, "stopped; checkpoint saved at epoch " + std::to_string(epoch) +
                                        " batch " + std::to_string(b));
                result.outcome = Outcome::Cancelled;
                goto done;
            }
            debug_fault();
            auto tb = std::chrono::steady_clock::now();
            auto idx = perm.narrow(0, b * r_.batch_size, std::min<std::int64_t>(r_.batch_size, n - b * r_.batch_size));
            auto x = data_.images.index_select(0, idx);
            auto labels = data_.labels.index_select(0, idx);
            adam_->zero_grad();
            double lv = 0;
            if (!coll_) {
                auto loss = batch_loss(x, labels);
                lv = prog_.step + 1 == r_.debug_nan_at_step ? NAN : loss.item<double>();
                if (std::isfinite(lv)) loss.backward();
            } else {
                // A stop request learnt in this step's all-reduce undoes the step (nothing applied,
                // the random stream rewound), so a stopped run saves what one process would.
                const double coll_before = coll_->seconds_in_collectives();
                const auto rng_before = gen_.get_state();
                std::vector<torch::Tensor> buffers_before;  // BatchNorm statistics this forward updates
                for (auto& buf : model_.module().buffers(true)) buffers_before.push_back(buf.clone());
                {
                    models::SyncBatchNormScope sync_bn([this, &epoch](std::vector<torch::Tensor>& t) {
                        coll_->allreduce_sum(t, "BatchNorm synchronisation in epoch " + std::to_string(epoch));
                    });
                    auto loss = batch_loss(x, labels);
                    loss.backward();
                    lv = loss.item<double>();
                }
                // Gradients summed over ranks (each is its rows' share of the global mean), with
                // the loss and the stop requests riding along in the same all-reduce.
                const auto tr = std::chrono::steady_clock::now();
                std::vector<torch::Tensor> bucket;
                for (auto& p : params) {
                    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
                    bucket.push_back(p.grad());
                }
                auto tail = torch::tensor({float(lv), r_.cancel.now() ? 1.0f : 0.0f}, torch::kFloat32);
                bucket.push_back(tail);
                coll_->allreduce_sum(bucket, "gradient all-reduce at step " + std::to_string(prog_.step + 1));
                grad_reduce_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - tr).count();
                step_collectives_s += coll_->seconds_in_collectives() - coll_before;
                lv = prog_.step + 1 == r_.debug_nan_at_step ? NAN : double(tail[0].item<float>());
                if (tail[1].item<float>() > 0) {  // some rank was asked to stop: all stop before this step
                    gen_.set_state(rng_before);
                    {
                        torch::NoGradGuard no_grad;
                        auto now = model_.module().buffers(true);
                        for (size_t i = 0; i < now.size(); ++i) now[i].copy_(buffers_before[i]);
                    }
                    if (writer()) save_checkpoint();
                    log(LogLevel::Info, std::string(writer() ? "stopped; checkpoint saved" : "stopped (rank 0 saves the checkpoint)") +
                                            " at epoch " + std::to_string(epoch) + " batch " +
                                            std::to_string(b));
                    result.outcome = Outcome::Cancelled;
                    goto done;
                }
            }
            if (!std::isfinite(lv)) {
                metrics_.flush();
                throw TrainingDiverged(
                    "loss became " + std::to_string(lv) + " at epoch " + std::to_string(epoch) +
                    ", step " + std::to_string(prog_.step + 1) + "; training stopped. " +
                    (last_checkpoint_.empty() && !r_.resume
                         ? std::string("No checkpoint was written yet.")
                         : "The last good checkpoint (" + (dir_ / kCheckpointFile).string() +
                               ", step " + std::to_string(saved_step_) + ") is kept.") +
                    " Try a lower --lr or --grad-clip.");
            }
            if (r_.grad_clip > 0) clip_grad_norm(params, r_.grad_clip);
            adam_->step();
            update_ema();
            ++prog_.step;
            prog_.batch = b + 1;
            ++steps_this_run;
            last_loss_ = lv;
            const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - tb).count();
            const double inst = x.size(0) / std::max(dt, 1e-9);
            rate = steps_this_run == 1 ? inst : 0.95 * rate + 0.05 * inst;
            if (writer())
                metrics_ << json{{"step", prog_.step}, {"epoch", epoch}, {"loss", lv}, {"lr", prog_.lr},
                                 {"time", elapsed}}.dump() << "\n";
            // Work since the last save is bounded by wall time (and optionally steps); the epoch's
            // last batch is saved by end_epoch. Saving changes no random stream, so a run resumed
            // from any of these checkpoints ends with the same weights as an uninterrupted one.
            if (writer() && b + 1 < batches) {
                const auto now = std::chrono::steady_clock::now();
                const bool by_steps = r_.checkpoint_steps > 0 && prog_.step % r_.checkpoint_steps == 0;
                const bool by_time = r_.checkpoint_minutes > 0 &&
                                     std::chrono::duration<double>(now - last_save).count() >= r_.checkpoint_minutes * 60;
                if (by_steps || by_time) {
                    save_checkpoint();
                    last_save = now;
                }
            }
            if (r_.callbacks.on_progress) {
                ProgressEvent e;
                e.phase = "train";
                e.step = prog_.step;
                e.total = total_steps;
                e.epoch = epoch;
                e.epochs = r_.epochs;
                e.loss = lv;
                e.lr = prog_.lr;
                e.items_per_sec = rate;
                e.eta_seconds = rate > 0 ? double(total_steps - prog_.step) * r_.batch_size / rate : -1;
                r_.callbacks.on_progress(e);
            }
        }
        {
            bool grid_cancelled = false;
            try {
                end_epoch(epoch);
                last_save = std::chrono::steady_clock::now();
            } catch (const Cancelled&) {  // grid sampling interrupted: the checkpoint is saved
                grid_cancelled = true;
            }
            // Ranks > 0 wait here while rank 0 writes the epoch's files (hence the long timeout).
            const auto flags = agree({grid_cancelled ? 1.0f : 0.0f, r_.cancel.any() ? 1.0f : 0.0f},
                                     epoch_end_timeout, "end of epoch " + std::to_string(epoch));
            if (flags[0] > 0) {
                result.outcome = Outcome::Cancelled;
                goto done;
            }
            log(LogLevel::Info, "epoch " + std::to_string(epoch) + "/" + std::to_string(r_.epochs) +
                                    " done, loss " + std::to_string(last_loss_));
            if (flags[1] > 0 && epoch < r_.epochs) {
                result.outcome = Outcome::Cancelled;
                break;
            }
        }
    }
done:
    metrics_.flush();
    if (coll_ && writer() && steps_this_run > 0) {
        char line[200];
        std::snprintf(line, sizeof line,
                      "data-parallel over %d ranks: gradient all-reduce %.1f ms per step, all collectives "
                      "(BatchNorm included) %.1f ms per step",
                      r_.dist.world, 1000 * grad_reduce_s / steps_this_run,
                      1000 * step_collectives_s / steps_this_run);
        log(LogLevel::Info, line);
    }
    if (workers_) {
        auto exits = workers_->finish(std::chrono::seconds(60));
        if (result.outcome == Outcome::Cancelled)  // a stopped worker exits as dstudio does when interrupted
            exits.erase(std::remove_if(exits.begin(), exits.end(),
                                       [](const WorkerExit& e) { return e.code == 130 || e.code == 143 || e.code == 129; }),
                        exits.end());
        const auto failures = LocalWorkers::describe_failures(exits);
        if (!failures.empty()) log(LogLevel::Warning, failures);
    }
    result.epochs_done = prog_.epoch;
    result.steps_done = prog_.step;
    result.last_loss = last_loss_;
    result.checkpoint = last_checkpoint_;
    return result;
}

// Rank 0 (or the only process): the checkpoint's recipe, checks, data, the run folder, workers
// when asked for, then the rendezvous and the recipe to the others.
void Run::setup_rank0() {
    if (r_.resume && !r_.out_dir.empty() && fs::exists(fs::path(r_.out_dir) / kCheckpointFile)) {
        const std::string path = (fs::path(r_.out_dir) / kCheckpointFile).string();
        auto file = io::SafetensorsFile::open(path);
        auto tr = file.metadata().find("ds.train");
        if (tr != file.metadata().end()) {
            json t;
            try {
                t = json::parse(tr->second);
            } catch (const json::exception& e) {
                throw ModelLoadError(path + ": unreadable training state: " + e.what());
            }
            if (t.contains("recipe")) {
                try {
                    const auto taken = adopt_recipe(r_, t["recipe"]);
                    std::string msg;
                    for (const auto& f : taken) msg += (msg.empty() ? "" : ", ") + f;
                    if (!msg.empty()) log(LogLevel::Info, "continuing with the run's recipe: " + msg);
                } catch (const json::exception& e) {
                    throw ModelLoadError(path + ": unreadable training recipe: " + e.what());
                }
            }
        }
    }
    r_ = with_defaults(r_);
    validate(r_);
    if (r_.nproc < 1 || r_.nproc > 64) throw InvalidRequest("--nproc must be from 1 to 64");
    // The data set first: a bad one is refused before the run folder is created.
    data_ = data::load_mnist(r_.dataset, data_dir_, true, r_.limit);
    const int world = r_.nproc > 1 ? r_.nproc : r_.dist.world;
    if (world > 1) {
        if (!distributed_available())
            throw InvalidRequest("this build has no distributed runtime (c10d with Gloo): install libgloo-dev "
                                 "and rebuild to train on more than one process");
        const std::int64_t n = data_.images.size(0), last = n % r_.batch_size;
        if (r_.batch_size < world || (last != 0 && last < world))
            throw InvalidRequest("with " + std::to_string(world) + " ranks every batch needs at least " +
                                 std::to_string(world) + " images, one per rank (batch " +
                                 std::to_string(r_.batch_size) + ", last batch of the epoch " +
                                 std::to_string(last == 0 ? r_.batch_size : last) +
                                 "): choose another --batch or --limit");
    }
    prepare_folder();
    start_local_workers();
    if (r_.dist.world > 1) {
        coll_ = std::make_unique<Collective>(r_.dist);
        json recipe = {{"recipe", recipe_json(r_)}, {"debug_exit_at_step", r_.debug_exit_at_step},
                       {"debug_hang_at_step", r_.debug_hang_at_step}, {"out_dir", r_.out_dir}, {"debug_nan_at_step", r_.debug_nan_at_step}};
        coll_->broadcast_text(recipe.dump(), 0, "sending the recipe to the other ranks");
        log(LogLevel::Info, "data-parallel: " + std::to_string(r_.dist.world) + " ranks, global batch " +
                                std::to_string(r_.batch_size) + " (" +
                                std::to_string(r_.batch_size / r_.dist.world) + " per rank)");
    }
}

}  // namespace detail

using detail::noisy_batch;
using detail::Run;

// LibTorch 2.4 replaced the per-device autocast calls (set_cpu_enabled, ...) by ones taking the
// device type; the old ones are deprecated there.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define DS_AUTOCAST_BY_DEVICE 1
#endif

AutocastBf16::AutocastBf16(bool on) : on_(on) {
    if (!on_) return;
#ifdef DS_AUTOCAST_BY_DEVICE
    at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCPU, true);
#else
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
#endif
}

AutocastBf16::~AutocastBf16() {
    if (!on_) return;
#ifdef DS_AUTOCAST_BY_DEVICE
    at::autocast::set_autocast_enabled(at::kCPU, false);
#else
    at::autocast::set_cpu_enabled(false);
#endif
    at::autocast::clear_cache();
}

void recalibrate_batchnorm(models::LoadedModel& model, const data::MnistSplit& data, int batches,
                           int batch_size, std::uint64_t seed) {
    if (batches <= 0 || batch_size <= 0) throw InvalidRequest("BatchNorm recalibration needs batches > 0");
    if (!model.unet) throw InvalidRequest("BatchNorm recalibration applies to the UNet models");
    const auto& spec = model.spec;
    diffusion::Schedule schedule;
    if (spec.is_ddpm()) schedule = diffusion::linear_schedule(spec.timesteps, spec.beta1, spec.beta2);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<torch::nn::BatchNorm2dImpl*> bns;
    for (auto& m : model.unet->modules(false))
        if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) bns.push_back(bn);
    std::vector<c10::optional<double>> momenta;
    for (auto* bn : bns) {
        momenta.push_back(bn->options.momentum());
        bn->reset_running_stats();
        bn->options.momentum(c10::nullopt);  // cumulative average: every batch weighs the same
    }
    const bool was_training = model.unet->is_training();
    model.unet->train();
    {
        torch::NoGradGuard no_grad;
        const auto n = data.images.size(0);
        for (int i = 0; i < batches; ++i) {
            auto idx = torch::randint(0, n, {std::min<std::int64_t>(batch_size, n)}, gen, torch::kLong);
            auto b = noisy_batch(spec, schedule, data.images.index_select(0, idx),
                                 data.labels.index_select(0, idx), 0.1, spec.sigma, spec.pure_noise, gen);
            model.unet->forward(b.input, b.t, b.c);
        }
    }
    for (size_t i = 0; i < bns.size(); ++i) bns[i]->options.momentum(momenta[i]);
    model.unet->train(was_training);
}

TrainResult run_training(const TrainRequest& request, const std::string& data_dir) {
    Run run(request, data_dir);
    return run.execute();
}

}  // namespace ds::train
