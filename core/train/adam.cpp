#include "core/train/adam.h"

#include <cmath>

#include <torch/torch.h>

#include "core/engine/errors.h"

namespace ds::train {

Adam::Adam(std::vector<std::pair<std::string, torch::Tensor>> params, double lr, double beta1,
           double beta2, double eps)
    : params_(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
    for (auto& [name, p] : params_) {
        m_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        v_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    }
}

void Adam::zero_grad() {
    for (auto& [name, p] : params_) {
        if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
    }
}

void Adam::step() {
    torch::NoGradGuard no_grad;
    ++steps_;
    const double bc1 = 1.0 - std::pow(beta1_, double(steps_));
    const double bc2 = 1.0 - std::pow(beta2_, double(steps_));
    const double step_size = lr_ / bc1;
    const double sqrt_bc2 = std::sqrt(bc2);
    for (size_t i = 0; i < params_.size(); ++i) {
        auto& p = params_[i].second;
        const auto& g = p.grad();
        if (!g.defined()) continue;
        m_[i].mul_(beta1_).add_(g, 1.0 - beta1_);
        v_[i].mul_(beta2_).addcmul_(g, g, 1.0 - beta2_);
        auto denom = (v_[i].sqrt() / sqrt_bc2).add_(eps_);
        p.addcdiv_(m_[i], denom, -step_size);
    }
}

std::vector<std::pair<std::string, torch::Tensor>> Adam::state(const std::string& prefix) const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (size_t i = 0; i < params_.size(); ++i) {
        out.emplace_back(prefix + "m." + params_[i].first, m_[i]);
        out.emplace_back(prefix + "v." + params_[i].first, v_[i]);
    }
    return out;
}

void Adam::load_state(const std::function<torch::Tensor(const std::string&)>& lookup,
                      const std::string& prefix, std::int64_t steps, const std::string& where) {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
        for (auto* buf : {&m_[i], &v_[i]}) {
            const std::string key = prefix + (buf == &m_[i] ? "m." : "v.") + params_[i].first;
            torch::Tensor t = lookup(key);
            if (!t.defined() || t.sizes() != buf->sizes())
                throw ModelLoadError(where + ": optimizer state '" + key +
                                     "' is missing or has the wrong shape");
            buf->copy_(t);
        }
    }
    steps_ = steps;
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
    torch::NoGradGuard no_grad;
    double sq = 0;
    for (const auto& p : params) {
        if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
    }
    const double norm = std::sqrt(sq);
    if (max_norm > 0 && norm > max_norm) {
        const double scale = max_norm / (norm + 1e-6);
        for (const auto& p : params) {
            if (p.grad().defined()) p.grad().mul_(scale);
        }
    }
    return norm;
}

}  // namespace ds::train
