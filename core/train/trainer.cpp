// The training loop of every Part B model: the noisy batch and its loss, the steps and epochs
// (cancellation, divergence, periodic checkpoints, progress), bf16 autocast and the BatchNorm
// re-estimation of a weight average. The run's set-up, outputs and data-parallel step live in
// run_setup.cpp, run_outputs.cpp and trainer_distributed.cpp (see run.h).
#include "core/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <ATen/autocast_mode.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include "core/data/mnist.h"
#include "core/diffusion/schedule.h"
#include "core/engine/errors.h"
#include "core/io/atomic_file.h"
#include "core/io/cpu_info.h"
#include "core/models/model_store.h"
#include "core/train/run.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ds::train {

namespace detail {

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

        open_metrics();
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
            } else if (!data_parallel_step(x, labels, epoch, b, params, lv)) {
                result.outcome = Outcome::Cancelled;
                goto done;
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
                      r_.dist.world, 1000 * grad_reduce_s_ / steps_this_run,
                      1000 * step_collectives_s_ / steps_this_run);
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
