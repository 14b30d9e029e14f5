// What a run writes (rank 0 alone): checkpoints, the weight average, per-epoch snapshots and
// sample grids, and the epoch's end that ties them together.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/data/mnist.h"
#include "core/diffusion/generate.h"
#include "core/engine/image.h"
#include "core/io/atomic_file.h"
#include "core/io/tensor_image.h"
#include "core/models/model_store.h"
#include "core/train/run.h"

namespace ds::train::detail {

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

// metrics.jsonl: the lines up to the step training continues from are kept (a resumed run drops
// what it will redo), then the file is appended to.
void Run::open_metrics() {
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

}  // namespace ds::train::detail
