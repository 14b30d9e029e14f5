#pragma once
// GroupNorm fused with what follows it in the IF UNet, for bf16 channels-last activations:
//   y = act( ((x - mean_g) * rstd_g * gamma + beta) * (1 + scale) + shift )
// with statistics in fp32/double, one read for the statistics and one read + write for the result.
// torch 1.13 runs the same chain as five passes with two dtype conversions (and its bf16 GELU on
// channels-last tensors is slow), which cost more than a third of an IF-II-L bf16 step on AMX
// hardware (docs/performance.md, session 8).

#include <cstdint>

#include <torch/torch.h>

namespace ds::models {

// Whether group_norm_act takes `x`: bf16, 4-D, channels-last contiguous.
bool group_norm_act_applies(const torch::Tensor& x);

// x [B, C, H, W] bf16 channels-last; gamma, beta [C] (any float dtype); scale, shift [B, C] or
// undefined (diffusers' ResnetBlock2D "scale_shift" time embedding); gelu: exact (erf) GELU after.
// Returns bf16 channels-last. Throws InvalidRequest when !group_norm_act_applies(x) or shapes disagree.
torch::Tensor group_norm_act(const torch::Tensor& x, std::int64_t groups, const torch::Tensor& gamma,
                             const torch::Tensor& beta, double eps, const torch::Tensor& scale,
                             const torch::Tensor& shift, bool gelu);

// Exact GELU of a dense bf16 CPU tensor (contiguous in any memory format), same layout out; the
// same kernels as group_norm_act. torch 1.13's bf16 GELU is slow on channels-last tensors.
bool gelu_bf16_applies(const torch::Tensor& x);
torch::Tensor gelu_bf16(const torch::Tensor& x);

// Which kernel group_norm_act uses on this CPU: "avx512" or "scalar" (tests, benchmarks).
const char* group_norm_act_kernel();
// Force the portable kernel (tests compare the two).
void set_group_norm_act_scalar(bool scalar);

}  // namespace ds::models
