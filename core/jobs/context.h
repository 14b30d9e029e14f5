#pragma once
// What every job of the engine facade is given (core/jobs is private to the engine): where
// models and data come from, the precision per model family, the engine's model cache, and the
// request's callbacks and cancel token.
#include <functional>
#include <string>

#include "core/engine/cancel.h"
#include "core/engine/events.h"
#include "core/models/model_cache.h"
#include "core/models/model_registry.h"
#include "core/models/weight_loading.h"

namespace ds::jobs {

struct RunContext {
    models::ModelRegistry* registry = nullptr;
    std::string data_dir;  // datasets, and dataset images given as "mnist:test:INDEX"
    // DeepFloyd IF weights and arithmetic (--dtype): resolved on first use, so MNIST requests never
    // pay for measuring "auto" for IF (about half a second).
    std::function<models::Precision()> resolve_if_precision;
    models::Precision if_precision() const { return resolve_if_precision ? resolve_if_precision() : models::Precision(); }
    models::Precision mnist_precision;  // the MNIST models' arithmetic (--dtype; fp16 runs as fp32)
    models::ModelCache* cache = nullptr;  // the engine's loaded IF models (required for IF folders)
    // The request's: loading a large model reports progress ("loading ...", percent done) and
    // stops when the request is cancelled.
    const Callbacks* callbacks = nullptr;
    const CancelToken* cancel = nullptr;

    // An MNIST model by id, file or run folder, in the compute dtype of --dtype (bf16: an
    // inference copy; fp32 and fp32-w16: as stored).
    models::LoadedModel load_for_inference(const std::string& model) const;
};

}  // namespace ds::jobs
