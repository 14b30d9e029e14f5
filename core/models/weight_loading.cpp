#include "core/models/weight_loading.h"

#include <filesystem>

#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/memory.h"
#include "core/io/safetensors.h"

namespace fs = std::filesystem;

namespace ds::models {

namespace {
std::string shape_text(const std::vector<std::int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
    return out + "]";
}
}  // namespace

std::int64_t count_parameters(const WeightShapes& shapes) {
    std::int64_t n = 0;
    for (const auto& [name, shape] : shapes) {
        std::int64_t k = 1;
        for (auto d : shape) k *= d;
        n += k;
    }
    return n;
}

std::string find_weight_file(const std::string& dir, const std::vector<std::string>& candidates,
                             const std::string& what) {
    for (const auto& name : candidates)
        if (fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
    throw ModelLoadError("'" + dir + "' has no " + candidates.front() + " (or a sharded index) for the " + what);
}

std::map<std::string, torch::Tensor> load_weights(const std::string& file, const WeightShapes& expected,
                                                  torch::ScalarType dtype, const std::string& what,
                                                  const std::set<std::string>& ignored) {
    auto set = io::SafetensorsSet::open(file);
    io::check_memory(count_parameters(expected) * std::int64_t(torch::elementSize(dtype)),
                     "the " + what + " in '" + file + "'", std::string(torch::toString(dtype)));
    std::string problems;
    for (const auto& name : set.names())
        if (!expected.count(name) && !ignored.count(name)) problems += "\n  unexpected weight " + name;
    for (const auto& [name, shape] : expected) {
        if (!set.contains(name))
            problems += "\n  missing weight " + name;
        else if (set.info(name).shape != shape)
            problems += "\n  " + name + " has shape " + shape_text(set.info(name).shape) + ", expected " + shape_text(shape);
    }
    if (!problems.empty())
        throw ModelLoadError(what + " weights in '" + file + "' do not match its config.json:" + problems);
    std::map<std::string, torch::Tensor> out;
    for (const auto& [name, shape] : expected) out[name] = set.tensor(name, dtype);
    return out;
}

}  // namespace ds::models
