#pragma once
// Requests and results of the engine facade: plain structs with defaulted, commented fields.
// A field left at 0 / empty takes the course default for the model kind (docs/part-b.md).
#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/cancel.h"
#include "core/engine/events.h"
#include "core/engine/image.h"

namespace ds {

// The Part B model families (course_spec §3). Strings: "denoiser", "time-ddpm", "class-ddpm",
// "time-fm", "class-fm"; plus "classifier", the small CNN used to score samples.
enum class ModelKind { Denoiser, TimeDdpm, ClassDdpm, TimeFm, ClassFm, Classifier };
std::string to_string(ModelKind kind);
ModelKind parse_model_kind(const std::string& text);  // throws InvalidRequest listing valid names

// One rank of a data-parallel training run (issue 25): the torchrun-style rendezvous.
struct DistributedConfig {
    int rank = 0;
    int world = 1;                  // 1 = a single process, no collectives
    int local_rank = 0;             // informational on CPU (which device on a GPU machine)
    std::string master_addr = "127.0.0.1";  // rank 0's address; it hosts the c10d TCPStore
    int master_port = 29500;
    double timeout_s = 300;         // a collective (or the rendezvous) that waits longer fails
    std::string ifname;             // network interface for Gloo (GLOO_SOCKET_IFNAME); "" = by address
};

struct TrainRequest {
    ModelKind kind = ModelKind::ClassDdpm;
    std::string dataset = "mnist";  // "mnist", "fashion-mnist", or a folder holding IDX files
    std::string out_dir;            // run folder (created): checkpoint, metrics, sample grids
    int epochs = 0;                 // 0 = course default (denoiser 5, DDPM 20, FM 10)
    int batch_size = 0;             // 0 = course default (denoiser 256, DDPM 128, FM 64)
    int hidden = 0;                 // UNet width D; 0 = course default (denoiser 128, else 64)
    double lr = 0;                  // Adam lr; 0 = course default (1e-4, 1e-3, 1e-2)
    int lr_decay = -1;              // -1 default; 0 constant lr; 1 ExponentialLR 0.1^(1/epochs)
    double sigma = 0.5;             // denoiser: noise level of z = x + sigma*eps
    bool pure_noise = false;        // denoiser: input z = eps (learns the data mean)
    double p_uncond = 0.1;          // class models: probability of dropping the class (CFG)
    double grad_clip = 0;           // max global L2 norm of gradients; 0 = off
    double ema = -1;                // decay of an exponential moving average of the weights used
                                    // for grids, epoch snapshots, export and sampling; 0 = off;
                                    // -1 = off for a new run, the checkpoint's value on --resume
    std::string precision;          // "fp32" or "bf16" (autocast: convolutions and matrix products
                                    // in bf16, weights, optimizer and loss in fp32); "" = fp32
                                    // for a new run, the checkpoint's value on --resume
    int timesteps = 300;            // DDPM: T of the linear beta schedule 1e-4..0.02
    int sample_steps = 0;           // FM: Euler steps of the per-epoch grid (0 = 50 time / 300 class)
    double guidance = 5.0;          // class models: CFG scale of the per-epoch grid
    std::uint64_t seed = 0;         // drives init, shuffling, noise and the fixed grid noise
    bool resume = false;            // continue from out_dir/checkpoint.safetensors
    bool kind_from_run = false;     // with resume: ignore `kind`, continue the checkpoint's kind
    std::string init_from;          // warm start: weights of a model (bundled id, file, run folder)
                                    // of the same kind and shape; fresh optimizer and schedule
    int limit = 0;                  // use only the first N training images (0 = all)
    int epoch_grids = -1;           // write samples/epoch_NNN.png after every epoch: 1 on, 0 off,
                                    // -1 = on for a new run, the run's own choice on --resume
    double checkpoint_minutes = -1; // also save checkpoint.safetensors inside an epoch once this
                                    // much wall time has passed since the last save (0 = only at
                                    // epoch ends; -1 = 5 for a new run, the run's value on resume)
    int checkpoint_steps = -1;      // also save every N optimizer steps (0 = off; -1 as above, off)
    int debug_nan_at_step = 0;      // testing only: treat the loss of this step as NaN
    DistributedConfig dist;         // this process's rank when started by torchrun or --nproc
    int nproc = 1;                  // > 1: start nproc - 1 local worker processes and train
                                    // data-parallel with this process as rank 0
    std::string worker_exe;         // the dstudio binary the workers run ("" = next to this one)
    int debug_exit_at_step = 0;     // testing only: a rank > 0 exits abruptly before this step
    int debug_hang_at_step = 0;     // testing only: a rank > 0 stops answering before this step
    Callbacks callbacks;
    CancelToken cancel;             // AfterCurrent: finish epoch + save; Now: save at next batch
                                    // (copies of a request share the token)
};

struct TrainResult {
    Outcome outcome = Outcome::Completed;
    int epochs_done = 0;            // completed epochs, resumed ones included
    std::int64_t steps_done = 0;    // optimizer steps, resumed ones included
    double last_loss = 0;
    std::string checkpoint;         // path of the checkpoint written last
};

struct SampleRequest {
    std::string model;              // bundled id ("mnist-class-ddpm"), .safetensors file or run folder
    int count = 0;                  // unconditional/time models: number of samples (0 = 40)
    int per_class = 0;              // class models: k samples of every class, class-major
    std::vector<int> labels;        // class models: explicit labels (overrides per_class)
    double guidance = 5.0;          // CFG scale (class models); 1 = conditional only
    int steps = 0;                  // DDPM: 0 = all T steps; FM: Euler steps (0 = 50 time / 300 class)
    std::uint64_t seed = 0;         // initial noise and every step's noise
    bool posterior_variance = false;// DDPM: sigma_t = sqrt(beta_tilde_t) instead of sqrt(beta_t)
    int grid_columns = 0;           // 0 = auto (number of classes for per-class grids)
    std::string raw_out;            // optional .safetensors: samples [N,C,H,W] F32 in [0,1], labels I64
    Callbacks callbacks;
    CancelToken cancel;
};

struct SampleResult {
    Outcome outcome = Outcome::Completed;
    std::vector<Image> images;      // one per sample
    std::vector<int> labels;        // class per sample (-1 for unconditional models)
    Image grid;                     // all samples tiled
    std::string recipe_json;        // ds.recipe/1 of the run (technique "part-b-sample")
    double seconds = 0;
};

// Noising visualisation (no model) and the denoiser's out-of-distribution sweep.
struct DenoiseSweepRequest {
    std::string model;              // denoiser id/path; empty = only show the noisy images
    std::string dataset = "mnist";  // test split images are used
    std::vector<int> indices = {0};     // test-set image indices (rows)
    std::vector<double> sigmas = {0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0};  // columns
    std::uint64_t seed = 0;
    CancelToken cancel;
};

struct DenoiseSweepResult {
    Image grid;                     // per index: noisy row, then denoised row (if a model)
    std::vector<Image> noisy;       // index-major, sigma-minor
    std::vector<Image> denoised;    // same order; empty without a model
};

struct LossPlotRequest {
    std::vector<std::string> runs;  // run folders or metrics.jsonl files (one curve each)
    std::vector<std::string> names; // legend names (default: folder names)
    std::string out_png;
    bool log_scale = true;
    int smooth = 50;                // moving-average window (steps) of the bold curve; raw drawn faint
    int width = 900;
    int height = 520;
    std::string title = "Training loss";
};

// Scores class-conditioned samples with a classifier checkpoint.
// Scores generated digits with a classifier. Class-conditioned models: K samples per class with
// CFG, "correct" = recognised as the requested class. Time-conditioned (unconditional) models:
// 10*K samples; there is no requested class, so only the confidence measures apply ("looks like
// a digit": the classifier's top probability >= threshold; real MNIST test digits score >= 95 %).
struct EvalRequest {
    std::string model;              // model id/path (class- or time-conditioned, or a denoiser)
    std::string classifier;         // classifier checkpoint (.safetensors; not used for a denoiser)
    int per_class = 20;             // a denoiser: 10 * per_class test digits
    double threshold = 0.9;         // top-class probability that counts as "confident"
    double guidance = 5.0;
    int steps = 0;
    std::uint64_t seed = 0;
    bool posterior_variance = false;// DDPM: sigma_t = sqrt(beta_tilde_t) instead of sqrt(beta_t)
    bool frechet = true;            // also the Fréchet distance of the classifier's penultimate
                                    // features against the data set's test split
    Callbacks callbacks;
    CancelToken cancel;
};

struct EvalResult {
    Outcome outcome = Outcome::Completed;
    int total = 0;
    int correct = 0;
    std::vector<int> per_class_correct;
    int confident = 0;              // samples whose top class probability >= threshold
    double mean_confidence = 0;     // mean top class probability
    std::vector<int> predicted;     // how many samples the classifier put in each class
    bool conditional = true;        // false: time-conditioned model, correct/accuracy unused
    double frechet = -1;            // FD of the samples' features to the test split's (-1: not computed)
    double frechet_real = -1;       // FD of as many real training images, for scale
    int frechet_reference = 0;      // test images the reference statistics come from
    // A single-step denoiser instead: for each sigma of the course's sweep, the mean squared error
    // of D(x + sigma eps) against the clean test digit x, and of the noisy input clamped to [0, 1]
    // (what doing nothing scores), over `total` test digits.
    struct DenoiseScore {
        double sigma = 0;
        double mse = 0;
        double mse_noisy = 0;
    };
    std::vector<DenoiseScore> denoise;
    double accuracy() const { return total ? double(correct) / total : 0.0; }
    double confident_fraction() const { return total ? double(confident) / total : 0.0; }
};

struct BenchRequest {
    bool quick = false;             // fewer repetitions (smoke test)
    std::vector<std::string> only;  // subset of benchmark names; empty = all
    std::string device = "cpu";     // the IF and T5 benchmarks' device (the engine's --device)
};

// Copies a trained model (run folder, checkpoint or epoch file) into a standalone model file,
// dropping optimizer state; optionally fp16 weights (half the size, for bundling).
struct ExportRequest {
    std::string source;             // run folder, checkpoint.safetensors or epochs/epoch_NNN.safetensors
    std::string out;                // destination .safetensors (written atomically)
    bool fp16 = false;
    std::string description;        // stored as metadata "ds.description" (how it was trained)
    // > 0: re-estimate the BatchNorm running statistics for the exported weights over this many
    // batches of 128 noisy training images of the model's dataset; 0: keep them; -1 (auto): 50
    // batches when the source is a run checkpoint whose weight average (EMA) is exported.
    int recalibrate_bn = -1;
    std::uint64_t recalibrate_seed = 0;
};

// Diagnostics used by our own verification against reference implementations (issue contract).
// `dstudio debug t5`: DIR holds spiece.model, config.json, model.safetensors; prompts is a JSON
// list of strings; out gets input_ids, attention_mask (I64 [N,77]) and last_hidden_state
// (F32 [N,77,d_model]) computed as IF's encode_prompt does.
struct DebugT5Request {
    std::string model_dir;
    std::string prompts_json;
    std::string out;
    int max_length = 77;
};

// `dstudio debug unet`: DIR holds config.json + diffusion_pytorch_model.safetensors; for every
// case{i}. prefix in `cases` read sample, timestep, encoder_hidden_states and, if present,
// class_labels; write case{i}.out (F32) to `out`.
struct DebugUnetRequest {
    std::string model_dir;
    std::string cases;
    std::string out;
};

struct ModelInfo {
    std::string id;                 // bundled id, or the path for files
    std::string path;
    ModelKind kind = ModelKind::ClassDdpm;
    int hidden = 0;
    int num_classes = 0;
    std::vector<std::string> class_names;  // class models: what a prompt may name
    std::string dataset;            // "mnist", "fashion-mnist", or a folder
    int timesteps = 0;              // DDPM: T; 0 for other kinds
    std::vector<double> alpha_bars; // DDPM: abar_t for t = 0..T-1 (sliders show it)
    std::vector<std::int64_t> default_timesteps;  // DDPM: the Part A strided list
    std::string description;        // how it was trained
    std::string family = "mnist";   // "mnist" (Part B models) or "deepfloyd-if" (a diffusers folder;
                                    // prompts are text, `kind` is meaningless)
};

}  // namespace ds
