#include "core/models/sync_batchnorm.h"

#include <torch/torch.h>

namespace ds::models {
namespace {

thread_local const ChannelAllreduce* t_reduce = nullptr;

// Per-channel sums over N, H, W.
torch::Tensor channel_sum(const torch::Tensor& t) { return t.sum({0, 2, 3}); }
torch::Tensor per_channel(const torch::Tensor& v) { return v.view({1, -1, 1, 1}); }

// Forward: two-pass global statistics (mean, then the centred sum of squares: no cancellation for
// inputs far from zero). Backward, with g the local upstream gradient and N the global count:
//   dx = w * invstd * (g - sum_all(g) / N - xhat * sum_all(g * xhat) / N)
//   dw = sum_local(g * xhat), db = sum_local(g)
// Each rank backpropagates its share of the global loss (rows / global rows) and the trainer sums
// the parameter gradients over ranks, so both come out as the global-batch gradient.
struct SyncBatchNormFn : torch::autograd::Function<SyncBatchNormFn> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor weight,
                                 torch::Tensor bias, torch::Tensor mean, torch::Tensor invstd, double count) {
        auto xhat = (x - per_channel(mean)) * per_channel(invstd);
        ctx->save_for_backward({xhat, weight, invstd});
        ctx->saved_data["count"] = count;
        return xhat * per_channel(weight) + per_channel(bias);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        auto saved = ctx->get_saved_variables();
        const auto& xhat = saved[0];
        const auto& weight = saved[1];
        const auto& invstd = saved[2];
        const double count = ctx->saved_data["count"].toDouble();
        auto g = grads[0].to(torch::kFloat32);
        auto sum_g = channel_sum(g);
        auto sum_g_xhat = channel_sum(g * xhat);
        if (t_reduce == nullptr)
            throw std::logic_error("synchronised BatchNorm backward outside its SyncBatchNormScope");
        std::vector<torch::Tensor> global{sum_g.clone(), sum_g_xhat.clone()};
        (*t_reduce)(global);
        auto dx = per_channel(weight * invstd) *
                  (g - per_channel(global[0] / count) - xhat * per_channel(global[1] / count));
        return {dx, sum_g_xhat, sum_g, torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

torch::Tensor sync_forward(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& input) {
    TORCH_CHECK(input.dim() == 4, "synchronised BatchNorm expects [N, C, H, W]");
    TORCH_CHECK(bn.options.affine() && bn.options.track_running_stats(),
                "synchronised BatchNorm supports affine BatchNorm with running statistics");
    auto x = input.to(torch::kFloat32);
    const auto& reduce = *t_reduce;
    torch::Tensor mean, var;
    double count = 0;
    {
        torch::NoGradGuard no_grad;  // statistics are constants to autograd; their gradient is in backward()
        const double local = double(x.size(0) * x.size(2) * x.size(3));
        std::vector<torch::Tensor> first{torch::cat({channel_sum(x), torch::full({1}, local, x.options())})};
        reduce(first);
        const auto c = x.size(1);
        count = first[0][c].item<double>();
        TORCH_CHECK(count > 1, "synchronised BatchNorm needs more than one value per channel over all ranks");
        mean = first[0].narrow(0, 0, c) / count;
        std::vector<torch::Tensor> second{channel_sum((x - per_channel(mean)).square())};
        reduce(second);
        var = second[0] / count;  // biased, as BatchNorm normalises with
        // Running statistics exactly as torch's BatchNorm updates them (unbiased variance).
        auto& tracked = bn.num_batches_tracked;
        tracked.add_(1);
        const double m = bn.options.momentum() ? *bn.options.momentum() : 1.0 / tracked.item<double>();
        bn.running_mean.mul_(1 - m).add_(mean, m);
        bn.running_var.mul_(1 - m).add_(var * (count / (count - 1)), m);
    }
    auto invstd = (var + bn.options.eps()).rsqrt();
    return SyncBatchNormFn::apply(x, bn.weight, bn.bias, mean, invstd, count);
}

}  // namespace

SyncBatchNormScope::SyncBatchNormScope(ChannelAllreduce reduce) : reduce_(std::move(reduce)), previous_(t_reduce) {
    t_reduce = &reduce_;
}
SyncBatchNormScope::~SyncBatchNormScope() { t_reduce = previous_; }

torch::Tensor batch_norm(const torch::nn::BatchNorm2d& bn, const torch::Tensor& x) {
    auto& module = *bn.ptr();  // the holder is const, the module it shares is not
    if (t_reduce != nullptr && module.is_training()) return sync_forward(module, x);
    return module.forward(x);
}

}  // namespace ds::models
