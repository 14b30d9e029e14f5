#pragma once
// Inference operators straight on oneDNN, for builds that found its headers (DS_HAVE_DNNL; Debian
// package libdnnl-dev, the same libdnnl.so.2 Debian's torch runs on). Through torch 1.13 every
// convolution reorders its weights into the kernel's blocked format on each call (up to 165 us for
// a 256-channel 2x2 kernel at batch 1) and GELU is a separate pass; here the weights are packed
// once, GELU runs as a post-op inside the kernel and activations stay channels-last (NHWC).
// Folded inference weights only: no autograd. Without oneDNN available() is false and callers
// keep their torch path.
#include <cstdint>
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

// out = alpha * (a @ b) for batched matrices of any strides (views such as the heads of a
// [B, N, heads, d] projection are read in place): a [..., M, K], b [..., K, N] in fp32 or bf16,
// out [..., M, N] of any strides and dtype fp32 or a's, written in place. One primitive per
// shape/stride/dtype combination, cached. Requires available().
void matmul_into(const torch::Tensor& a, const torch::Tensor& b, float alpha, const torch::Tensor& out);

// out = softmax(x) over the last dimension, x and out of the same shape (2 to 5 dims, any strides),
// each fp32 or bf16; out may be x itself. Computed in fp32 and rounded once, so fp32 scores give
// bf16 probabilities in one pass (torch 1.13: 390 ms for softmax + conversion of attention scores
// [4, 22, 1024, 1101], this 77 ms). Primitives cached per shape/stride/dtype. Requires available().
void softmax_into(const torch::Tensor& x, const torch::Tensor& out);
}  // namespace dnnl_ops

// Convolution (square kernel, symmetric padding) + bias, optionally followed by exact GELU.
// w [O, I, k, k] and b [O] in the compute dtype (fp32 or bf16), any memory format; the bias is
// kept in fp32. x [N, I, H, W] in that dtype, any memory format (channels-last avoids a copy); the
// result is channels-last. A primitive is built per input shape and cached.
//
// The weights are packed on the first call, and from then on the operator holds only the packed
// copy: a caller that drops its own reference to w keeps one copy of the weights in memory
// (multi-GB IF UNets). Later input shapes repack from the packed copy.
//
// in_slice > 0 runs the input channels in equal slices of at most in_slice channels, each a
// convolution whose fp32 result is accumulated in place by the next one (oneDNN's sum post-op);
// the sum is converted to the compute dtype at the end. oneDNN 2.6's AMX bf16 kernels slow down
// as the input channels grow and crash at 5632 (docs/performance.md, sessions 8 and 10).
class DnnlConv : public FoldedOp {
public:
    DnnlConv(const torch::Tensor& w, const torch::Tensor& b, int stride, int padding, bool gelu,
             std::int64_t in_slice = 0);
    ~DnnlConv() override;
    torch::Tensor operator()(const torch::Tensor& x) const override;
    std::int64_t out_channels() const;
    std::int64_t in_channels() const;
    std::int64_t kernel_size() const;
    std::int64_t slices() const;
    // Bytes of weights the operator holds (source or packed).
    std::int64_t weight_bytes() const;

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
