#pragma once
// The trainer's run, private to core/train: recipe.cpp the request's defaults, checks and
// recipe.json; run_setup.cpp the run folder, model and optimizer (new, resumed or warm-started);
// trainer.cpp the loss and the step loop; run_outputs.cpp checkpoints, the weight average,
// snapshots and grids; trainer_distributed.cpp what data-parallel runs add (local workers, the
// recipe and state from rank 0, the synchronised step, fault injection for tests).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/data/mnist.h"
#include "core/diffusion/schedule.h"
#include "core/engine/requests.h"
#include "core/models/model_store.h"
#include "core/train/adam.h"
#include "core/train/collective.h"
#include "core/train/launcher.h"
#include "core/train/trainer.h"

namespace ds::train::detail {

namespace fs = std::filesystem;
using json = nlohmann::json;

// recipe.json of a request (every hyperparameter), and a resume's adoption of it.
json recipe_json(const TrainRequest& r);
std::vector<std::string> adopt_recipe(TrainRequest& r, const json& recipe);

struct Progress {
    int epoch = 0;            // completed epochs
    std::int64_t batch = 0;   // batches done inside epoch `epoch` (mid-epoch save on cancel)
    std::int64_t step = 0;    // optimizer steps overall
    double lr = 0;
};

class Run {
public:
    Run(const TrainRequest& r, const std::string& data_dir) : r_(r), data_dir_(data_dir) {}
    TrainResult execute();

private:
    TrainResult execute_steps();
    void setup_rank0();
    void prepare_folder();
    void build_or_resume();
    void warm_start(const models::ModelSpec& spec);
    torch::Tensor batch_loss(const torch::Tensor& x, const torch::Tensor& labels);
    void update_ema();
    void save_checkpoint();
    void open_metrics();
    void end_epoch(int epoch);
    void write_grid(int epoch) { write_grid(epoch, model_); }
    void write_grid(int epoch, models::LoadedModel& model);
    void draw_interrupted_grid();
    // Data-parallel (r_.dist.world > 1): rank 0 alone reads and writes the run folder; it sends
    // the others its effective recipe and then its whole training state, so every rank starts
    // from identical weights, optimizer, progress and random stream.
    bool writer() const { return r_.dist.rank == 0; }
    void start_local_workers();
    void adopt_rank0_recipe();
    void sync_state();
    bool data_parallel_step(const torch::Tensor& x, const torch::Tensor& labels, int epoch,
                            std::int64_t b, const std::vector<torch::Tensor>& params, double& loss_value);
    void debug_fault() const;
    void log(LogLevel level, const std::string& msg) const {
        if (r_.callbacks.on_log) r_.callbacks.on_log(level, msg);
    }

    TrainRequest r_;
    std::string data_dir_;
    fs::path dir_;
    data::MnistSplit data_;
    models::LoadedModel model_;
    std::unique_ptr<Adam> adam_;
    diffusion::Schedule schedule_;
    at::Generator gen_;
    Progress prog_;
    std::ofstream metrics_;
    double last_loss_ = 0;
    std::string last_checkpoint_;
    std::int64_t saved_step_ = 0;  // the step checkpoint.safetensors holds
    // Exponential moving average of the parameters (same order as ema_params_), empty when off.
    std::vector<std::pair<std::string, torch::Tensor>> ema_params_;
    std::vector<torch::Tensor> ema_;
    std::int64_t ema_updates_ = 0;  // updates since the average started (warm-up counter)
    // BatchNorm statistics re-estimated for the average at the last epoch end (named buffers),
    // stored in the checkpoint as "train.ema.<buffer>" so that loading the run folder gives the
    // average with matching statistics; empty before the first epoch end.
    std::vector<std::pair<std::string, torch::Tensor>> ema_bn_;
    int ema_bn_epoch_ = 0;
    bool ema_warmup_ = true;        // false when the average starts from trained weights
    std::unique_ptr<LocalWorkers> workers_;  // --nproc: ranks 1..N-1 started by this process
    std::unique_ptr<Collective> coll_;       // world > 1
    std::int64_t batch_rows_ = 0;   // rows of the global batch the current step trains on
    double grad_reduce_s_ = 0, step_collectives_s_ = 0;  // inside steps (not the set-up or epoch ends)
};

}  // namespace ds::train::detail
