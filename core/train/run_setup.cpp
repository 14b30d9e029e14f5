// Setting a run up: rank 0's recipe (a resumed checkpoint's), checks and data, the run folder,
// and the model, optimizer, random stream and weight average from scratch, from a checkpoint
// (--resume) or from another model's weights (--init).
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/data/mnist.h"
#include "core/engine/errors.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/models/model_store.h"
#include "core/train/run.h"

namespace ds::train::detail {

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

}  // namespace ds::train::detail
