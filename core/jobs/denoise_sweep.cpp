// The noising figure and the denoiser's out-of-distribution sweep (course Part B 1.2.1, 1.2.2):
// test digits at several sigma, and what the denoiser makes of each.
#include "core/jobs/jobs.h"

#include <optional>

#include <torch/torch.h>

#include "core/data/mnist.h"
#include "core/engine/errors.h"
#include "core/io/tensor_image.h"

namespace ds::jobs {

DenoiseSweepResult denoise_sweep(const RunContext& ctx, const DenoiseSweepRequest& r) {
    if (r.indices.empty() || r.sigmas.empty()) throw InvalidRequest("need at least one image and one sigma");
    for (double s : r.sigmas)
        if (!(s >= 0 && s <= 100)) throw InvalidRequest("sigma values must be in [0, 100]");
    c10::InferenceMode guard;
    auto test = data::load_mnist(r.dataset, ctx.data_dir, false);
    for (int i : r.indices)
        if (i < 0 || i >= test.images.size(0))
            throw InvalidRequest("test image index " + std::to_string(i) + " is outside 0.." +
                                 std::to_string(test.images.size(0) - 1));
    std::optional<models::LoadedModel> model;
    if (!r.model.empty()) {
        model = ctx.load_for_inference(r.model);
        if (model->spec.kind != ModelKind::Denoiser)
            throw InvalidRequest("'" + r.model + "' is a " + to_string(model->spec.kind) +
                                 " model; the sweep needs a denoiser (e.g. mnist-denoiser)");
        model->unet->eval();
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
    DenoiseSweepResult out;
    std::vector<torch::Tensor> rows;
    for (int idx : r.indices) {
        if (r.cancel.now()) break;
        auto x = test.images[idx];
        std::vector<torch::Tensor> noisy;
        for (double s : r.sigmas) noisy.push_back(x + s * torch::randn(x.sizes(), gen, x.options()));
        auto z = torch::stack(noisy);
        rows.push_back(z.clamp(0, 1));
        for (std::int64_t k = 0; k < z.size(0); ++k) out.noisy.push_back(io::tensor_to_image(z[k].clamp(0, 1)));
        if (model) {
            auto d = model->unet->forward(z).clamp(0, 1);
            rows.push_back(d);
            for (std::int64_t k = 0; k < d.size(0); ++k) out.denoised.push_back(io::tensor_to_image(d[k]));
        }
    }
    if (rows.empty()) return out;
    out.grid = io::tensor_grid(torch::cat(rows, 0), static_cast<int>(r.sigmas.size()), 0, 1, 2, 3);
    return out;
}

}  // namespace ds::jobs
