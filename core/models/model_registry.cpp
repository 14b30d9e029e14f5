#include "core/models/model_registry.h"

#include <algorithm>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"

namespace fs = std::filesystem;

namespace ds::models {

std::string ModelRegistry::resolve(const std::string& model) const {
    if (model.empty())
        throw InvalidRequest("no model given: pass a bundled id (see `dstudio models`), a "
                             ".safetensors file or a training run folder");
    fs::path p(model);
    if (fs::is_directory(p)) {
        if (fs::exists(p / kRunCheckpointFile)) return (p / kRunCheckpointFile).string();
        std::error_code ec;
        const bool empty = fs::is_empty(p, ec);
        throw ModelLoadError("'" + model + "' is " + (empty ? "an empty folder" : "a folder") +
                             ", neither a training run (no " + kRunCheckpointFile +
                             ") nor a DeepFloyd IF folder (no unet/config.json)");
    }
    if (fs::exists(p)) return p.string();
    auto bundled = fs::path(assets_dir_) / "models" / (model + ".safetensors");
    if (fs::exists(bundled)) return bundled.string();
    std::string ids;
    for (const auto& m : list_bundled()) ids += (ids.empty() ? "" : ", ") + m.id;
    throw ModelLoadError("unknown model '" + model + "': not a file, run folder or bundled id" +
                         (ids.empty() ? std::string(" (no bundled models found in ") +
                                            assets_dir_ + "/models)"
                                      : " (bundled: " + ids + ")"));
}

LoadedModel ModelRegistry::load(const std::string& model) {
    const std::string path = resolve(model);
    if (!cache_) return load_model_file(path);
    std::error_code ec;
    const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
    // In memory the weights are fp32: twice an fp16 file, about the size of an fp32 one.
    const auto file_bytes = static_cast<std::int64_t>(fs::file_size(path, ec));
    const std::int64_t bytes = ec ? 0 : 2 * file_bytes;
    const std::string key = "mnist|" + fs::absolute(path).lexically_normal().string() + "|" + std::to_string(mtime);
    auto held = cache_->get<LoadedModel>(key, "model " + fs::path(path).filename().string(), bytes,
                                         [&] { return std::make_shared<LoadedModel>(load_model_file(path)); });
    return *held;
}

std::vector<ModelInfo> ModelRegistry::list_bundled() const {
    std::vector<ModelInfo> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(assets_dir_) / "models", ec)) {
        if (e.path().extension() != ".safetensors") continue;
        try {
            out.push_back(info_of(e.path().string(), e.path().stem().string()));
        } catch (const std::exception&) {
            // An unreadable file is reported when someone asks for it, not while listing.
        }
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
    return out;
}

ModelInfo ModelRegistry::info_of(const std::string& path, const std::string& id) {
    auto file = io::SafetensorsFile::open(path);
    auto it = file.metadata().find(kSpecKey);
    if (it == file.metadata().end()) throw ModelLoadError(path + ": not a Diffusion Studio model");
    auto spec = ModelSpec::from_json(it->second, path);
    ModelInfo info;
    info.id = id;
    info.path = path;
    info.kind = spec.kind;
    info.hidden = spec.hidden;
    info.num_classes = spec.num_classes;
    info.class_names = spec.class_names;
    info.dataset = spec.dataset;
    // Flow-matching models run the Part A techniques on the DDPM schedule of their spec (the
    // engine's flow-to-DDPM adapter), so they show the same timesteps.
    info.timesteps = spec.is_ddpm() || spec.is_flow() ? spec.timesteps : 0;
    if (info.timesteps > 1) {  // for display (sliders): the linear schedule in double precision
        double abar = 1.0;
        for (int t = 0; t < info.timesteps; ++t) {
            abar *= 1.0 - (spec.beta1 + (spec.beta2 - spec.beta1) * t / (info.timesteps - 1));
            info.alpha_bars.push_back(abar);
        }
    }
    auto d = file.metadata().find("ds.description");
    info.description = d != file.metadata().end() ? d->second : "";
    return info;
}

}  // namespace ds::models
