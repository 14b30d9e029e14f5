#pragma once
// Finds and loads models by what users type: a bundled id ("mnist-class-ddpm"), a .safetensors
// file or a training run folder. Loaded models are cached (keyed by path and modification time),
// so a GUI slider that re-runs a request does not reload the weights.
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/engine/requests.h"
#include "core/models/model_store.h"

namespace ds::models {

class ModelRegistry {
public:
    explicit ModelRegistry(std::string assets_dir) : assets_dir_(std::move(assets_dir)) {}

    // The file a model string refers to. Throws InvalidRequest (empty) / ModelLoadError (unknown,
    // listing the bundled ids).
    std::string resolve(const std::string& model) const;
    LoadedModel load(const std::string& model);
    std::vector<ModelInfo> list_bundled() const;
    static ModelInfo info_of(const std::string& path, const std::string& id);
    const std::string& assets_dir() const { return assets_dir_; }

private:
    std::string assets_dir_;
    std::mutex mutex_;
    std::map<std::string, std::pair<std::filesystem::file_time_type, LoadedModel>> cache_;
};

}  // namespace ds::models
