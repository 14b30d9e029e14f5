#pragma once
// The engine facade: everything the CLI and the GUI may call. Standard library types only.
// Methods run synchronously on the calling thread (the GUI calls them from its worker thread);
// callbacks in each request run on that same thread. Cancellation returns Outcome::Cancelled.
#include <memory>
#include <string>
#include <vector>

#include "core/engine/errors.h"
#include "core/engine/part_a_requests.h"
#include "core/engine/requests.h"

namespace ds {

struct EngineOptions {
    int threads = 0;         // intra-op threads; 0 = number of cores
    std::string assets_dir;  // bundled models; "" = $DS_ASSETS_DIR or the installed/source assets/
    std::string data_dir;    // datasets; "" = $DS_DATA_DIR or <source>/data
    std::string dtype = "fp32";  // inference weights and compute: fp32, bf16, fp16 (GPU) or fp32-w16
    // DeepFloyd IF's device: "cpu", "cuda" or "cuda:N" (a CUDA LibTorch build). The MNIST models
    // always run on the CPU (in fp32 when dtype is fp16).
    std::string device = "cpu";
};

// The options as an Engine would run with them: checked (InvalidRequest naming the choices, or
// when the dtype cannot run on the device) and with the defaults filled in (threads = cores,
// assets and data folders). Sets nothing.
EngineOptions resolve_options(EngineOptions options);

// The model catalogue without an engine, safe on any thread (a GUI's): no thread count is set, no
// allocator installed; only file headers are read. Engine::bundled_models / describe give the same.
std::vector<ModelInfo> bundled_models(const EngineOptions& options = {});
ModelInfo describe_model(const std::string& model, const EngineOptions& options = {});  // throws ModelLoadError

class Engine {
public:
    explicit Engine(EngineOptions options = {});
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    TrainResult train(const TrainRequest& request);
    SampleResult sample(const SampleRequest& request);
    DenoiseSweepResult denoise_sweep(const DenoiseSweepRequest& request);
    EvalResult evaluate(const EvalRequest& request);
    void plot_losses(const LossPlotRequest& request);

    // Part A techniques on any noise predictor (course §2; docs/part-a-mnist.md).
    PartAResult explore_noise(const NoiseExplorerRequest& request);  // forward, blur, one-step
    PartAResult iterate(const IterateRequest& request);              // iterative denoise / sample
    PartAResult sdedit(const SdeditRequest& request);                // image-to-image
    PartAResult inpaint(const InpaintRequest& request);
    PartAResult anagram(const AnagramRequest& request);
    PartAResult hybrid(const HybridRequest& request);
    PartAResult denoise(const DenoiseRequest& request);              // single-step denoiser (B.1.2)
    PartAResult if_generate(const IfGenerateRequest& request);   // IF stage I (+ II)
    int import_prompts(const PromptImportRequest& request);      // returns the number imported
    void export_model(const ExportRequest& request);

    // A warning for a DeepFloyd IF dtype this CPU runs badly ("" when fine): bf16 without
    // AVX-512 goes through oneDNN's slow path (a 256-px IF convolution measured 10x slower than
    // fp32 on an AVX2-only CPU).
    static std::string dtype_warning(const std::string& dtype, const std::string& device = "cpu");
    // The accepted EngineOptions::dtype values: fp32, bf16, fp16 (GPU), fp32-w16 (16-bit weights,
    // fp32 arithmetic).
    static std::vector<std::string> dtype_choices();
    // The EngineOptions::device values this build can use: "cpu", then "cuda:0".. for each GPU
    // a CUDA LibTorch sees.
    static std::vector<std::string> device_choices();
    // The anagram views a front end offers, "identity" first (any jigsawN[:SEED] is accepted too).
    static std::vector<std::string> anagram_views();

    // The data-parallel rendezvous torchrun gives its workers (RANK, WORLD_SIZE, LOCAL_RANK,
    // MASTER_ADDR, MASTER_PORT; DS_DIST_TIMEOUT, GLOO_SOCKET_IFNAME): world 1 when WORLD_SIZE is
    // unset. Throws InvalidRequest for malformed values.
    static DistributedConfig distributed_from_env();
    // Whether this build has c10d's Gloo backend (multi-process training).
    static bool distributed_available();

    std::vector<ModelInfo> bundled_models() const;
    ModelInfo describe(const std::string& model) const;  // id or path; throws ModelLoadError
    int threads() const;
    std::string assets_dir() const;
    std::string data_dir() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ds
