#pragma once
// Loading and saving Part B models as safetensors (weights + "ds.spec" metadata), strictly:
// every missing, unexpected or mis-shaped tensor is reported by name.
#include <map>
#include <string>

#include <torch/nn/module.h>

#include "core/models/mnist_classifier.h"
#include "core/models/mnist_unet.h"
#include "core/models/model_spec.h"

namespace ds::models {

// The checkpoint inside a training run folder (the trainer writes it; the registry opens a run
// folder given as a model through it).
inline constexpr const char* kRunCheckpointFile = "checkpoint.safetensors";

struct LoadedModel {
    ModelSpec spec;
    MnistUNet unet{nullptr};              // all kinds but the classifier
    MnistClassifier classifier{nullptr};  // kind == Classifier
    std::string path;
    std::map<std::string, std::string> metadata;
    // Something a user should know about these weights (empty when nothing): e.g. a checkpoint's
    // weight average that still has the raw weights' BatchNorm statistics.
    std::string warning;

    torch::nn::Module& module();
};

// A freshly initialised model for `spec` (init drawn from torch's global generator).
LoadedModel build_model(const ModelSpec& spec);
// Number of values (parameters and buffers) of the model `spec` describes, found without building
// it at its width: every tensor is at most quadratic in D, so models of D = 1, 2, 3 fix the
// count. load_model_file checks a file's tensors against it before building anything, so a spec
// that claims a huge model in a tiny file costs no memory.
std::int64_t state_numel(const ModelSpec& spec);

// What a training checkpoint's metadata says about its weight average (train --ema): none, or
// an average with BatchNorm statistics re-estimated at epoch `bn_epoch` (0 = not yet: the raw
// weights' statistics apply to it).
struct EmaInfo {
    bool has_average = false;
    int bn_epoch = 0;
};
EmaInfo ema_info(const std::map<std::string, std::string>& metadata);

// Loads a .safetensors model file. Tensors whose names start with "train." are training state
// and are ignored here, except "train.ema.<name>" (a weight average, and the BatchNorm statistics
// the trainer re-estimated for it), which replaces <name>. Throws ModelLoadError with the file and
// tensor names on any mismatch.
LoadedModel load_model_file(const std::string& path);

// Copies `source` tensors into `module` (parameters and buffers), strictly. `where` names the
// source in errors; keys with `skip_prefix` are ignored.
void load_state(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& source,
                const std::string& where, const std::string& skip_prefix = "train.");

// An inference copy of a UNet model whose convolutions, linear layers and activations run in
// `dtype` (kBFloat16: oneDNN's bf16 kernels, 2x the fp32 convolution rate on CPUs with
// AVX512-BF16). BatchNorm parameters and statistics stay fp32, so folding them into the
// convolutions happens in fp32. kFloat32 (or a classifier) returns `model` itself, shared.
LoadedModel with_compute_dtype(const LoadedModel& model, torch::ScalarType dtype);

// Named parameters + buffers of a module (what gets saved).
std::vector<std::pair<std::string, torch::Tensor>> state_tensors(const torch::nn::Module& module);

// Writes weights (optionally as fp16) and the spec atomically; `extra` tensors (training state)
// and metadata are added as given.
void save_model_file(const std::string& path, const LoadedModel& model, bool fp16 = false,
                     const std::vector<std::pair<std::string, torch::Tensor>>& extra = {},
                     const std::map<std::string, std::string>& metadata = {});

}  // namespace ds::models
