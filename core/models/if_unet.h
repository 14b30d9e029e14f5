#pragma once
// DeepFloyd IF's UNet2DConditionModel (the subset IF uses; deepfloyd_if_spec.md §3-5), driven by
// the diffusers config.json and weights under their diffusers names: sinusoidal time projection +
// TimestepEmbedding, TextTimeEmbedding with attention pooling, text_proj of the encoder states,
// class embedding of the stage II noise level, scale-shift ResnetBlock2D (optional skip_time_act,
// output scale factor), resnet down/up-samplers, SimpleCrossAttn blocks with added-KV attention
// and group-norm on the encoder states. Output: 6 channels (eps, variance values).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/models/dnnl_ops.h"
#include "core/models/if_config.h"
#include "core/models/weight_loading.h"

namespace ds::models {


// Intermediate tensors by the fixture's hook names ("time_proj", "emb", "down_blocks.0.out",
// "down_blocks.0.res.1", "mid_block", "up_blocks.1", "conv_norm_out", ...).
using Hooks = std::map<std::string, torch::Tensor>;

class IfUNet {
public:
    // `dir` holds config.json and diffusion_pytorch_model[.fp16].safetensors (or a sharded index).
    // Every missing, unexpected or mis-shaped weight is reported by name. With 16-bit weights
    // (Precision::fp32_w16) the fp16 file is preferred when both exist. Weights go to
    // precision.device; fp16 arithmetic needs a GPU (InvalidRequest on the CPU).
    static IfUNet load(const std::string& dir, const Precision& precision = torch::kFloat32,
                       bool prefer_fp16_file = false, const LoadProgress& progress = {});
    // Bytes the weights of `config` take in `precision` (what load() needs), without loading.
    static std::int64_t weight_bytes_of(const IfUNetConfig& config, const Precision& precision);
    // Random weights (N(0, 0.02), norms 1/0) for a config: speed and memory benchmarks at real
    // scale without the gated checkpoints. Seeded on the CPU; drawn on the device, unseeded, elsewhere.
    static IfUNet random(const IfUNetConfig& config, const Precision& precision, std::uint64_t seed = 0);

    // x [B, Cin, H, W]; timesteps [B] int64; text [B, L, E]; class_labels [B] (stage II) or
    // undefined, on any device (moved to the UNet's). Returns [B, out_channels, H, W] float32 on
    // the CPU; hooks too.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& timesteps,
                          const torch::Tensor& text, const torch::Tensor& class_labels = {},
                          Hooks* hooks = nullptr) const;
    const IfUNetConfig& config() const { return config_; }
    std::int64_t parameter_count() const;
    const Precision& precision() const { return precision_; }
    // Bytes the weights take in memory.
    std::int64_t weight_bytes() const;

    // Instrumentation of this UNet (benchmarks, tests). Multiply-adds of the convolutions and
    // attention products of its forwards since load or reset_macs() (2 FLOP each: benchmarks
    // report achieved GFLOP/s); while a log is set, each convolution ("conv N Cin H W Cout k
    // padding") and attention product ("attn B heads Nq Nk head_dim") of a forward appends a
    // line to it (nullptr stops it); the bf16 (oneDNN) attention computes its fp32 scores by
    // chunks of heads of one image of at most `bytes` (at least one head), default 40 MB (<= 0
    // restores it): tests use 1 byte to check that chunks give the unchunked result.
    std::int64_t macs_counted() const;
    void reset_macs();
    void set_shape_log(std::vector<std::string>* log);
    void set_attention_chunk_bytes(std::int64_t bytes);

private:
    torch::Tensor w(const std::string& name) const;  // in the compute dtype
    bool channels_last() const;  // activations NHWC: 16-bit arithmetic
    // bf16: 3x3 convolution weights channels-last, as the activations (see forward); with oneDNN,
    // every convolution becomes a packed operator that owns its weights (conv_ops_).
    void use_compute_layout();
    // The convolution `p`.weight / `p`.bias (stride 1, "same" padding).
    torch::Tensor conv(const std::string& p, const torch::Tensor& x, int padding) const;
    torch::Tensor resnet(const std::string& p, torch::Tensor x, const torch::Tensor& emb, double scale,
                         int resample) const;
    // What the UNet derives from the encoder states alone: the pooled text embedding, the
    // projected states and, per attention layer, the text's keys and values. Sampling passes the
    // same prompts at every step, so the last one is kept and reused while the states are equal.
    struct TextState;
    struct TextCache;
    std::shared_ptr<TextState> text_state(const torch::Tensor& text) const;
    torch::Tensor attention(const std::string& p, const torch::Tensor& x, TextState& text) const;
    torch::Tensor text_pool(const torch::Tensor& text) const;
    torch::Tensor timestep_mlp(const std::string& p, const torch::Tensor& t) const;
    IfUNetConfig config_;
    Precision precision_;  // .compute: the dtype of the arithmetic
    std::map<std::string, torch::Tensor> weights_;
    // bf16 with oneDNN: the convolutions by weight prefix; their weights are no longer in weights_.
    std::map<std::string, std::shared_ptr<const DnnlConv>> conv_ops_;
    std::shared_ptr<TextCache> text_cache_;
    struct Probe;  // the instrumentation above, this UNet's own
    static std::shared_ptr<Probe> new_probe();
    std::shared_ptr<Probe> probe_ = new_probe();
};

// The resolution (px) the convolution with weight prefix `prefix` runs at: sample_size halved per
// level; a down block's downsampler runs at the next level, an up block's upsampler at the one
// before (picks the bf16 convolutions' input-channel slices).
int if_unet_conv_resolution(const std::string& prefix, const IfUNetConfig& config);

// The expected weight names and shapes of a config (for loading and for random-weight benchmarks).
std::map<std::string, std::vector<std::int64_t>> if_unet_weight_shapes(const IfUNetConfig& config);
// The float32 value IfUNet::random gives one weight (norm scales 1, norm shifts 0, everything else
// N(0, 0.02^2) from `gen`); random weights and random IF folders draw them in sorted-name order.
torch::Tensor if_unet_random_weight(const std::string& name, const std::vector<std::int64_t>& shape, at::Generator& gen,
                                    torch::Device device = torch::kCPU);

// The UNet's stride-1 convolution ("same" padding), exposed for tests: bf16 inputs with more than
// 768 channels run as equal slices of input channels summed in fp32 (see if_unet.cpp), on the
// packed oneDNN operator the bf16 UNet uses when `packed` and oneDNN is available, else on torch.
torch::Tensor if_unet_conv(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int padding,
                           bool packed = true);


}  // namespace ds::models
