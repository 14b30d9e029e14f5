// Scores a generative model with the project's MNIST classifier: recognised as the asked class,
// confidently classified, and the Fréchet distance on the classifier's penultimate features.
#include "core/jobs/jobs.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/data/mnist.h"
#include "core/engine/errors.h"
#include "core/io/tensor_image.h"
#include "core/jobs/reporter.h"
#include "core/models/mnist_classifier.h"

namespace ds::jobs {

namespace {

// The course's out-of-distribution sweep (Part B 1.2.2).
const std::vector<double> kDenoiseSigmas = {0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0};

EvalResult score_denoiser(const RunContext& ctx, const EvalRequest& r, models::LoadedModel& model) {
    c10::InferenceMode guard;
    const auto test = data::load_mnist(model.spec.dataset, ctx.data_dir, false);
    const std::int64_t n = std::min<std::int64_t>(10 * std::int64_t(r.per_class), test.images.size(0));
    const auto x = test.images.narrow(0, 0, n);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
    const auto eps = torch::randn(x.sizes(), gen, x.options());  // one draw for every sigma
    model.unet->eval();
    EvalResult out;
    out.conditional = false;
    out.total = int(n);
    constexpr std::int64_t kBatch = 500;
    const std::int64_t batches = (n + kBatch - 1) / kBatch;
    Reporter rep(r.callbacks, "eval", int(kDenoiseSigmas.size() * batches), {});
    int step = 0;
    for (double sigma : kDenoiseSigmas) {
        double se = 0, se_noisy = 0;
        for (std::int64_t i = 0; i < n; i += kBatch) {
            if (r.cancel.any()) {
                out.outcome = Outcome::Cancelled;
                return out;
            }
            const auto xb = x.narrow(0, i, std::min(kBatch, n - i));
            const auto z = xb + sigma * eps.narrow(0, i, xb.size(0));
            const auto d = model.unet->forward(z).to(torch::kFloat32);
            se += (d - xb).pow(2).sum().item<double>();
            se_noisy += (z.clamp(0, 1) - xb).pow(2).sum().item<double>();
            ++step;
            rep.step(step, int(kDenoiseSigmas.size() * batches), sigma, xb, d);
        }
        const double count = double(x.numel());
        out.denoise.push_back({sigma, se / count, se_noisy / count});
    }
    return out;
}

}  // namespace

EvalResult evaluate(const RunContext& ctx, const EvalRequest& r) {
    if (r.per_class < 1 || r.per_class > 10000) throw InvalidRequest("per_class must be in 1..10000");
    if (!(r.threshold > 0 && r.threshold < 1)) throw InvalidRequest("threshold must be in (0, 1)");
    auto model = ctx.registry->load(r.model);
    if (model.spec.kind == ModelKind::Classifier)
        throw InvalidRequest("'" + r.model + "' is a classifier, not a generative model; nothing to score");
    if (model.spec.kind == ModelKind::Denoiser) {
        auto denoiser = ctx.load_for_inference(r.model);
        return score_denoiser(ctx, r, denoiser);
    }
    if (r.classifier.empty())
        throw InvalidRequest("scoring a generative model needs a classifier (--classifier, e.g. "
                             "tests/data/mnist-classifier.safetensors)");
    auto clf = ctx.registry->load(r.classifier);
    if (clf.spec.kind != ModelKind::Classifier)
        throw InvalidRequest("'" + r.classifier + "' is not a classifier checkpoint");
    const bool conditional = model.spec.is_class_conditioned();
    SampleRequest s;
    s.model = r.model;
    if (conditional) s.per_class = r.per_class;
    else s.count = 10 * r.per_class;
    s.guidance = r.guidance;
    s.steps = r.steps;
    s.seed = r.seed;
    s.posterior_variance = r.posterior_variance;
    s.callbacks = r.callbacks;
    s.cancel = r.cancel;
    auto samples = sample(ctx, s);
    EvalResult out;
    out.conditional = conditional;
    if (samples.outcome == Outcome::Cancelled) {
        out.outcome = Outcome::Cancelled;
        return out;
    }
    c10::InferenceMode guard;
    clf.classifier->eval();
    std::vector<torch::Tensor> xs;
    for (const auto& img : samples.images) xs.push_back(io::image_to_tensor(img));
    auto probs = torch::softmax(clf.classifier->forward(torch::stack(xs)), 1);
    auto [top, pred] = probs.max(1);
    const int classes = static_cast<int>(probs.size(1));
    out.per_class_correct.assign(conditional ? model.spec.num_classes : 0, 0);
    out.predicted.assign(classes, 0);
    out.total = static_cast<int>(xs.size());
    for (int i = 0; i < out.total; ++i) {
        const int p = pred[i].item<int>();
        ++out.predicted[p];
        if (top[i].item<double>() >= r.threshold) ++out.confident;
        if (conditional && p == samples.labels[i]) {
            ++out.correct;
            ++out.per_class_correct[samples.labels[i]];
        }
    }
    out.mean_confidence = top.mean().item<double>();
    if (r.frechet) {
        // Reference: the whole test split; scale: as many real test digits as there are samples,
        // drawn at random (a Fréchet distance of N samples carries a bias that shrinks with N).
        auto features = [&](const torch::Tensor& x) {
            std::vector<torch::Tensor> parts;
            for (std::int64_t i = 0; i < x.size(0); i += 1000) parts.push_back(clf.classifier->features(x.slice(0, i, i + 1000)));
            return torch::cat(parts);
        };
        const auto test = data::load_mnist(model.spec.dataset, ctx.data_dir, false);
        auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed + 0xfd);
        const auto pick = torch::randperm(test.images.size(0), gen, torch::kLong).narrow(0, 0, std::min<std::int64_t>(out.total, test.images.size(0)));
        const auto ref = features(test.images);
        out.frechet = models::frechet_distance(features(torch::stack(xs)), ref);
        out.frechet_real = models::frechet_distance(features(test.images.index_select(0, pick)), ref);
        out.frechet_reference = static_cast<int>(test.images.size(0));
    }
    return out;
}

}  // namespace ds::jobs
