#pragma once
// Finds and loads models by what users type: a bundled id ("mnist-class-ddpm"), a .safetensors
// file or a training run folder. Loaded models are kept in the engine's ModelCache (keyed by path
// and modification time, with the bytes they hold, evicted like every other model), so a GUI
// slider that re-runs a request does not reload the weights.
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/engine/requests.h"
#include "core/models/model_cache.h"
#include "core/models/model_store.h"

namespace ds::models {

class ModelRegistry {
public:
    // `cache`: where loaded models are kept (the engine's); none = every load reads the file.
    explicit ModelRegistry(std::string assets_dir, ModelCache* cache = nullptr)
        : assets_dir_(std::move(assets_dir)), cache_(cache) {}

    // The file a model string refers to. Throws InvalidRequest (empty) / ModelLoadError (unknown,
    // listing the bundled ids).
    std::string resolve(const std::string& model) const;
    LoadedModel load(const std::string& model);
    std::vector<ModelInfo> list_bundled() const;
    static ModelInfo info_of(const std::string& path, const std::string& id);
    const std::string& assets_dir() const { return assets_dir_; }

private:
    std::string assets_dir_;
    ModelCache* cache_ = nullptr;
};

}  // namespace ds::models
