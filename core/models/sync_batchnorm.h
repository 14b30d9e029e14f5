#pragma once
// Synchronised BatchNorm for data-parallel training: while a SyncBatchNormScope is alive on this
// thread, every BatchNorm2d that runs in training mode through models::batch_norm() normalises
// with the mean and variance of the *global* batch (all ranks together), and its backward pass
// sums the two per-channel gradient reductions over all ranks. The result is the exact gradient
// of the global-batch loss, as if one process had seen every rank's rows (PyTorch's
// SyncBatchNorm semantics). Outside a scope, or in eval mode, it is the module's own forward.
//
// The reduction itself is the caller's (core/train's c10d collective): this folder knows no
// networking. Scopes are per thread, like autocast.
#include <functional>
#include <vector>

#include <torch/nn/modules/batchnorm.h>

namespace ds::models {

// Sums each tensor in place over all ranks (float32, 1-D). Called 2x per BatchNorm forward and
// 1x per backward, in the same order on every rank.
using ChannelAllreduce = std::function<void(std::vector<torch::Tensor>&)>;

class SyncBatchNormScope {
public:
    explicit SyncBatchNormScope(ChannelAllreduce reduce);
    ~SyncBatchNormScope();
    SyncBatchNormScope(const SyncBatchNormScope&) = delete;
    SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;

private:
    ChannelAllreduce reduce_;
    const ChannelAllreduce* previous_;
};

// bn(x), synchronised across ranks when a scope is active and bn is in training mode. The
// synchronised path computes in float32 and returns float32.
torch::Tensor batch_norm(const torch::nn::BatchNorm2d& bn, const torch::Tensor& x);

}  // namespace ds::models
