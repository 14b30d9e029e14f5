#pragma once
// Adam exactly as torch.optim.Adam with default betas/eps and no weight decay, written here so
// its state is plain named tensors that go into our checkpoints.
#include <string>
#include <vector>

#include <torch/types.h>

namespace ds::train {

class Adam {
public:
    Adam(std::vector<std::pair<std::string, torch::Tensor>> params, double lr,
         double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);

    void zero_grad();
    void step();  // uses each parameter's .grad(); parameters without a gradient are skipped
    double lr() const { return lr_; }
    void set_lr(double lr) { lr_ = lr; }
    std::int64_t steps() const { return steps_; }

    // State as "<prefix>m.<param>", "<prefix>v.<param>"; the step count travels separately.
    std::vector<std::pair<std::string, torch::Tensor>> state(const std::string& prefix) const;
    // Restores from a name -> tensor lookup; throws ModelLoadError naming a missing/mis-shaped entry.
    void load_state(const std::function<torch::Tensor(const std::string&)>& lookup,
                    const std::string& prefix, std::int64_t steps, const std::string& where);

private:
    std::vector<std::pair<std::string, torch::Tensor>> params_;
    std::vector<torch::Tensor> m_, v_;
    double lr_, beta1_, beta2_, eps_;
    std::int64_t steps_ = 0;
};

// Scales gradients so their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace ds::train
