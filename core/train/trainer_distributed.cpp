// Data-parallel additions to a training run (docs/training.md#data-parallel): rank 0 starts the
// local workers of --nproc and sends its recipe; every other rank adopts it and receives rank 0's
// training state; each step runs with BatchNorm synchronised and one gradient all-reduce; a
// DistributedError gathers what the local workers said.
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

#include "core/engine/errors.h"
#include "core/models/sync_batchnorm.h"
#include "core/train/run.h"

namespace ds::train::detail {

// --nproc N: this process is rank 0 of N; ranks 1..N-1 are dstudio workers started here.
void Run::start_local_workers() {
    if (r_.nproc <= 1) return;
    if (r_.dist.world > 1)
        throw InvalidRequest("--nproc starts its own workers; it cannot be combined with a torchrun-style "
                             "rendezvous (WORLD_SIZE=" + std::to_string(r_.dist.world) + ")");
    LaunchSpec spec;
    spec.exe = r_.worker_exe;
    spec.nproc = r_.nproc;
    spec.threads = std::max(1, at::get_num_threads());
    spec.data_dir = data_dir_;
    spec.dist = r_.dist;
    spec.dist.master_addr = "127.0.0.1";
    spec.dist.master_port = free_loopback_port();
    spec.log_dir = (dir_ / "workers").string();
    workers_ = std::make_unique<LocalWorkers>(spec);
    r_.dist = spec.dist;
    r_.dist.rank = 0;
    r_.dist.world = r_.nproc;
    log(LogLevel::Info, "started " + std::to_string(r_.nproc - 1) + " worker process(es) with " +
                            std::to_string(spec.threads) + " thread(s) each; their logs are in " + spec.log_dir);
}

// Ranks > 0: the recipe rank 0 settled on (its checkpoint's, on --resume), then the same checks.
void Run::adopt_rank0_recipe() {
    const std::string text = coll_->broadcast_text("", 0, "receiving the recipe from rank 0");
    json recipe;
    try {
        recipe = json::parse(text);
    } catch (const json::exception& e) {
        throw DistributedError("rank " + std::to_string(r_.dist.rank) + ": unreadable recipe from rank 0: " + e.what());
    }
    TrainRequest w;
    w.kind_from_run = true;
    adopt_recipe(w, recipe.at("recipe"));
    // Rank 0's folder (a --worker is given none): named in messages, never written here.
    w.out_dir = r_.out_dir.empty() ? recipe.value("out_dir", std::string()) : r_.out_dir;
    w.dist = r_.dist;
    w.callbacks = r_.callbacks;
    w.cancel = r_.cancel;
    w.debug_exit_at_step = recipe.value("debug_exit_at_step", 0);
    w.debug_hang_at_step = recipe.value("debug_hang_at_step", 0);
    w.debug_nan_at_step = recipe.value("debug_nan_at_step", 0);
    // Rank 0 holds the weight average, grids and warm-start weights; this rank gets the weights
    // themselves in sync_state().
    w.ema = 0;
    w.epoch_grids = 0;
    w.init_from.clear();
    w.resume = false;
    r_ = with_defaults(w);
    validate(r_);
    data_ = data::load_mnist(r_.dataset, data_dir_, true, r_.limit);
}

// Rank 0's weights, BatchNorm statistics, optimizer state, progress and random stream to all.
void Run::sync_state() {
    std::vector<torch::Tensor> tensors;
    for (auto& p : model_.module().parameters(true)) tensors.push_back(p.detach());
    for (auto& b : model_.module().buffers(true)) tensors.push_back(b);
    for (auto& [name, t] : adam_->state("")) tensors.push_back(t);
    auto rng = gen_.get_state();
    tensors.push_back(rng);
    auto progress = torch::tensor({std::int64_t(prog_.epoch), prog_.batch, prog_.step, adam_->steps()}, torch::kInt64);
    auto lr = torch::tensor({prog_.lr}, torch::kFloat64);
    tensors.push_back(progress);
    tensors.push_back(lr);
    {
        torch::NoGradGuard no_grad;
        coll_->broadcast(tensors, 0, "receiving rank 0's training state");
    }
    if (writer()) return;
    gen_.set_state(rng);
    prog_.epoch = static_cast<int>(progress[0].item<std::int64_t>());
    prog_.batch = progress[1].item<std::int64_t>();
    prog_.step = progress[2].item<std::int64_t>();
    prog_.lr = lr[0].item<double>();
    adam_->set_lr(prog_.lr);
    auto state = adam_->state("");
    std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
    adam_->load_state([&](const std::string& k) { return by_name.at(k); }, "", progress[3].item<std::int64_t>(),
                      "rank 0's optimizer state");
}

// Testing only: the last rank dies or stops answering before a given step.
void Run::debug_fault() const {
    if (writer() || r_.dist.rank != r_.dist.world - 1) return;
    if (r_.debug_exit_at_step > 0 && prog_.step + 1 == r_.debug_exit_at_step) std::_Exit(9);
    if (r_.debug_hang_at_step > 0 && prog_.step + 1 == r_.debug_hang_at_step)
        std::this_thread::sleep_for(std::chrono::hours(24));
}

// One step of a data-parallel run, up to the optimizer: forward and backward on this rank's rows
// of the global batch with BatchNorm synchronised, then one all-reduce of the gradients (each
// rank's is its rows' share of the global mean) that carries the loss and the stop requests
// along. Returns false when some rank was asked to stop: the step is undone (nothing applied,
// the random stream and BatchNorm statistics rewound), so a stopped run saves what one process
// would, and rank 0 has saved the checkpoint.
bool Run::data_parallel_step(const torch::Tensor& x, const torch::Tensor& labels, int epoch,
                             std::int64_t b, const std::vector<torch::Tensor>& params, double& loss_value) {
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
        loss_value = loss.item<double>();
    }
    // Gradients summed over ranks (each is its rows' share of the global mean), with
    // the loss and the stop requests riding along in the same all-reduce.
    const auto tr = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> bucket;
    for (auto& p : params) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        bucket.push_back(p.grad());
    }
    auto tail = torch::tensor({float(loss_value), r_.cancel.now() ? 1.0f : 0.0f}, torch::kFloat32);
    bucket.push_back(tail);
    coll_->allreduce_sum(bucket, "gradient all-reduce at step " + std::to_string(prog_.step + 1));
    grad_reduce_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - tr).count();
    step_collectives_s_ += coll_->seconds_in_collectives() - coll_before;
    loss_value = prog_.step + 1 == r_.debug_nan_at_step ? NAN : double(tail[0].item<float>());
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
        return false;
    }
    return true;
}

TrainResult Run::execute() {
    try {
        return execute_steps();
    } catch (const DistributedError& e) {
        // The others' collectives fail too (their peer is gone): a short grace, then terminate.
        const auto failures =
            workers_ ? LocalWorkers::describe_failures(workers_->finish(std::chrono::seconds(3))) : std::string();
        std::string hint;
        if (writer() && saved_step_ > 0)
            hint = ". The last checkpoint (step " + std::to_string(saved_step_) + ") is intact: --resume continues from it";
        throw DistributedError(std::string(e.what()) + (failures.empty() ? "" : "; " + failures) + hint);
    }
}

}  // namespace ds::train::detail
