// The scoring classifier (tests/data) and the quality bar of the bundled class-conditioned models.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/data/mnist.h"
#include "core/engine/engine.h"
#include "core/models/model_store.h"

namespace {
const std::string kClassifier = std::string(DS_SOURCE_DIR) + "/tests/data/mnist-classifier.safetensors";
}

TEST_CASE("the scoring classifier recognises >= 98.5% of the MNIST test set", "[quality]") {
    auto clf = ds::models::load_model_file(kClassifier);
    REQUIRE(clf.spec.kind == ds::ModelKind::Classifier);
    auto test = ds::data::load_mnist("mnist", std::string(DS_SOURCE_DIR) + "/data", false);
    c10::InferenceMode guard;
    clf.classifier->eval();
    auto pred = clf.classifier->forward(test.images).argmax(1);
    const double acc = pred.eq(test.labels).to(torch::kDouble).mean().item<double>();
    INFO("test accuracy " << acc);
    CHECK(acc >= 0.985);
}

TEST_CASE("bundled class-conditioned models: >= 97% of CFG samples recognised", "[quality][slow]") {
    ds::Engine engine;
    int checked = 0;
    for (const auto& m : engine.bundled_models()) {
        if (m.kind != ds::ModelKind::ClassDdpm && m.kind != ds::ModelKind::ClassFm) continue;
        ds::EvalRequest r;
        r.model = m.id;
        r.classifier = kClassifier;
        r.per_class = 10;
        r.guidance = 5.0;
        r.seed = 1;
        auto res = engine.evaluate(r);
        INFO(m.id << ": " << res.correct << "/" << res.total);
        CHECK(res.accuracy() >= 0.97);
        ++checked;
    }
    CHECK(checked > 0);
}
