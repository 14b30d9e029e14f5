// Exports a trained model (a run's checkpoint or epoch snapshot) as a bundled-style file: its
// recipe kept, fp16 weights on request, BatchNorm statistics of a weight average re-estimated.
#include "core/jobs/jobs.h"

#include <map>

#include <torch/torch.h>

#include "core/data/mnist.h"
#include "core/engine/errors.h"
#include "core/models/model_store.h"
#include "core/train/trainer.h"

namespace ds::jobs {

void export_model(const RunContext& ctx, const ExportRequest& r) {
    if (r.out.empty()) throw InvalidRequest("an output file is required");
    const std::string path = ctx.registry->resolve(r.source);
    auto model = models::load_model_file(path);
    std::map<std::string, std::string> meta;
    for (const auto& key : {"ds.recipe", "ds.train", "epoch"}) {
        auto it = model.metadata.find(key);
        if (it != model.metadata.end()) meta[key] = it->second;
    }
    if (!r.description.empty()) meta["ds.description"] = r.description;
    if (r.recalibrate_bn < -1) throw InvalidRequest("--recalibrate-bn must be >= 0");
    int batches = r.recalibrate_bn;
    if (batches == -1) {  // auto: a checkpoint's weight average needs statistics of its own
        batches = 0;
        const auto ema = models::ema_info(model.metadata);
        if (model.unet && ema.has_average) {
            if (ema.bn_epoch > 0)  // re-estimated by the trainer at an epoch end; loading applied them
                meta["ds.bn_recalibrated"] = "by the trainer at the end of epoch " + std::to_string(ema.bn_epoch) +
                                             " (" + std::to_string(train::kEmaBnBatches) + " batches of 128)";
            else
                batches = train::kEmaBnBatches;
        }
    }
    if (batches > 0) {
        if (!model.unet) throw InvalidRequest("BatchNorm recalibration applies to the UNet models, not the classifier");
        auto data = data::load_mnist(model.spec.dataset, ctx.data_dir, true);
        train::recalibrate_batchnorm(model, data, batches, 128, r.recalibrate_seed);
        meta["ds.bn_recalibrated"] = std::to_string(batches) + " batches of 128, seed " +
                                     std::to_string(r.recalibrate_seed);
    }
    models::save_model_file(r.out, model, r.fp16, {}, meta);
}

}  // namespace ds::jobs
