#pragma once
// Inference operators straight on oneDNN, for builds that found its headers (DS_HAVE_DNNL; Debian
// package libdnnl-dev, the same libdnnl.so.2 Debian's torch runs on). Through torch 1.13 every
// convolution reorders its weights into the kernel's blocked format on each call (up to 165 us for
// a 256-channel 2x2 kernel at batch 1) and GELU is a separate pass; here the weights are packed
// once, GELU runs as a post-op inside the kernel and activations stay channels-last (NHWC).
// Folded inference weights only: no autograd. Without oneDNN available() is false and callers
// keep their torch path.
#include <memory>

#include <torch/types.h>

namespace ds::models {

// An inference operator built from fixed (BatchNorm-folded) weights.
class FoldedOp {
public:
    virtual ~FoldedOp() = default;
    virtual torch::Tensor operator()(const torch::Tensor& x) const = 0;
};

namespace dnnl_ops {
// Compiled in, and not switched off with the environment variable DS_DNNL=0 (for A/B timing).
bool available();
// True when x can go through the operators below: a CPU fp32 or bf16 tensor and available().
bool applies(const torch::Tensor& x);
}  // namespace dnnl_ops

// Convolution (square kernel, symmetric padding) + bias, optionally followed by exact GELU.
// w [O, I, k, k] and b [O] in the compute dtype (fp32 or bf16); the bias is kept in fp32.
// x [N, I, H, W] in that dtype, any memory format (channels-last avoids a copy); the result is
// channels-last. A primitive is built per input shape and cached.
class DnnlConv : public FoldedOp {
public:
    DnnlConv(const torch::Tensor& w, const torch::Tensor& b, int stride, int padding, bool gelu);
    ~DnnlConv() override;
    torch::Tensor operator()(const torch::Tensor& x) const override;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// y = x w^T + b, optionally followed by exact GELU: w [O, I], b [O], x [N, I] -> y [N, O].
class DnnlLinear : public FoldedOp {
public:
    DnnlLinear(const torch::Tensor& w, const torch::Tensor& b, bool gelu);
    ~DnnlLinear() override;
    torch::Tensor operator()(const torch::Tensor& x) const override;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace ds::models
