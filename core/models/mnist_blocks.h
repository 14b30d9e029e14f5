#pragma once
// The course's UNet building blocks (course_spec §3.1), one torch::nn module each.
// Defaults are PyTorch's: bias on, BatchNorm eps 1e-5 / momentum 0.1, exact GELU.
#include <memory>
#include <mutex>
#include <vector>

#include <torch/nn.h>

#include "core/models/dnnl_ops.h"

namespace ds::models {

// Identity of the tensors a cached inference form was derived from: storage and version counter
// of each (inference tensors, which have no version, count as version 0). Equal keys = unchanged.
std::vector<std::int64_t> source_key(const std::vector<const torch::Tensor*>& sources);

// Inference-time BatchNorm folding. In eval mode without autograd a conv followed by BN is one
// conv with weights scaled by gamma / sqrt(running_var + eps) per output channel and a folded
// bias. The folded pair is cached and rebuilt whenever a source tensor changes (version counters
// and storage), so training, loading weights or EMA swaps never see stale values.
class BnFold {
public:
    // True when the folded path applies: module in eval mode and no gradient recording (also the
    // condition for the oneDNN inference operators of blocks without BatchNorm).
    static bool active(const torch::nn::Module& m);
    // out_dim: 0 for Conv2d weights [O, I, k, k], 1 for ConvTranspose2d weights [I, O, k, k].
    // prepare (optional, the same at every call of one site) turns the folded pair into the form
    // the inference kernel wants (layout, stacked phases); its result is what gets cached.
    using Prepare = std::pair<torch::Tensor, torch::Tensor> (*)(const torch::Tensor&, const torch::Tensor&);
    // An empty bn (a convolution without BatchNorm) passes w and b through unchanged.
    std::pair<torch::Tensor, torch::Tensor> get(const torch::Tensor& w, const torch::Tensor& b,
                                                const torch::nn::BatchNorm2d& bn, int out_dim,
                                                Prepare prepare = nullptr);
    // The folded pair made into an inference operator (dnnl_ops.h) by make, rebuilt with the fold.
    using MakeOp = std::shared_ptr<const FoldedOp> (*)(const torch::Tensor&, const torch::Tensor&);
    std::shared_ptr<const FoldedOp> op(const torch::Tensor& w, const torch::Tensor& b,
                                       const torch::nn::BatchNorm2d& bn, int out_dim, MakeOp make);

private:
    void refresh(const torch::Tensor& w, const torch::Tensor& b, const torch::nn::BatchNorm2d& bn, int out_dim,
                 Prepare prepare);  // under mutex_: refolds when a source changed
    std::shared_ptr<std::mutex> mutex_ = std::make_shared<std::mutex>();
    std::vector<std::int64_t> key_;
    torch::Tensor weight_, bias_;
    std::shared_ptr<const FoldedOp> op_;
};

// A plain convolution (odd kernel, "same" padding, no BatchNorm, no activation) as a oneDNN
// inference operator; for BnFold::op with an empty BatchNorm.
std::shared_ptr<const FoldedOp> make_plain_conv(const torch::Tensor& w, const torch::Tensor& b);

// Conv2d(k3,s1,p1) -> BN -> GELU; keeps H, W.
struct ConvImpl : torch::nn::Module {
    ConvImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Conv2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    BnFold fold;
};
TORCH_MODULE(Conv);

// Conv2d(k3,s2,p1) -> BN -> GELU; halves H, W.
struct DownConvImpl : torch::nn::Module {
    DownConvImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Conv2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    BnFold fold;
};
TORCH_MODULE(DownConv);

// conv_transpose2d(x, w, b, stride 2, padding 1) for a 4x4 kernel w [Cin, Cout, 4, 4], computed
// as four 2x2 convolutions (one per output phase); differentiable in x, w and b.
torch::Tensor conv_transpose_k4s2p1(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);

// The same product for inference in a single convolution: the four phase kernels stacked along
// the output channels (k4 [4*Cout, Cin, 2, 2], b4 [4*Cout], from stack_phase_kernels) run once
// over x with padding 1, giving every phase on an (H+1) x (W+1) grid; phase (a, c) is the window
// at offset (a, c), interleaved into the 2H x 2W output. One call instead of four, and no padded
// copies of x. A channels-last x (the bf16 inference copy) gives a channels-last output.
std::pair<torch::Tensor, torch::Tensor> stack_phase_kernels(const torch::Tensor& w, const torch::Tensor& b);
torch::Tensor conv_transpose_k4s2p1_stacked(const torch::Tensor& x, const torch::Tensor& k4,
                                            const torch::Tensor& b4);
// The interleave step alone: y [N, 4*Cout, H+1, W+1] (the stacked phase products) -> [N, Cout, 2H, 2W],
// channels-last when y is.
torch::Tensor interleave_phases(const torch::Tensor& y);

// ConvTranspose2d(k4,s2,p1) -> BN -> GELU; doubles H, W. The parameters are those of
// ConvTranspose2d; in training the product runs as conv_transpose_k4s2p1 (batch >= 16), in
// inference as the stacked phase convolution (oneDNN operator, or conv_transpose_k4s2p1_stacked).
struct UpConvImpl : torch::nn::Module {
    UpConvImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::ConvTranspose2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    BnFold fold;
};
TORCH_MODULE(UpConv);

// AvgPool2d(pool) -> GELU: (C, pool, pool) -> (C, 1, 1). pool = 7 for 28x28 inputs.
struct FlattenImpl : torch::nn::Module {
    explicit FlattenImpl(int pool);
    torch::Tensor forward(const torch::Tensor& x);
    int pool;
};
TORCH_MODULE(Flatten);

// ConvTranspose2d(C,C,k=pool,s=pool) -> BN -> GELU: (C,1,1) -> (C,pool,pool).
struct UnflattenImpl : torch::nn::Module {
    UnflattenImpl(int channels, int pool);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::ConvTranspose2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    BnFold fold;
};
TORCH_MODULE(Unflatten);

// Conv(in,out) -> Conv(out,out).
struct ConvBlockImpl : torch::nn::Module {
    ConvBlockImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    Conv conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(ConvBlock);

// DownConv(in,out) -> ConvBlock(out,out).
struct DownBlockImpl : torch::nn::Module {
    DownBlockImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    DownConv down{nullptr};
    ConvBlock block{nullptr};
};
TORCH_MODULE(DownBlock);

// UpConv(in,out) -> ConvBlock(out,out).
struct UpBlockImpl : torch::nn::Module {
    UpBlockImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    UpConv up{nullptr};
    ConvBlock block{nullptr};
};
TORCH_MODULE(UpBlock);

// Linear(in,out) -> GELU -> Linear(out,out): embeds a time scalar or a one-hot class.
struct FCBlockImpl : torch::nn::Module {
    FCBlockImpl(int in, int out);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};

private:
    BnFold fc1_op_, fc2_op_;  // oneDNN inner products in inference (GELU fused into fc1)
};
TORCH_MODULE(FCBlock);

}  // namespace ds::models
