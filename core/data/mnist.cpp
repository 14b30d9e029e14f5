#include "core/data/mnist.h"

#include <cstring>
#include <filesystem>

#include <torch/torch.h>

#include "core/data/idx.h"
#include "core/engine/errors.h"

namespace fs = std::filesystem;

namespace ds::data {

namespace {

const std::vector<std::string> kFashionNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// Finds `<stem>-idx3-ubyte` (or `<stem>.idx3-ubyte`, optionally .gz) in dir or its torchvision
// subfolders.
std::string find_file(const fs::path& dir, const std::string& stem, const std::string& kind) {
    for (const auto& sub : {fs::path(), fs::path("raw"), fs::path("MNIST") / "raw",
                            fs::path("FashionMNIST") / "raw"}) {
        for (const char* sep : {"-", "."}) {
            for (const char* gz : {"", ".gz"}) {
                auto p = dir / sub / (stem + sep + kind + "-ubyte" + gz);
                if (fs::exists(p)) return p.string();
            }
        }
    }
    return {};
}

bool has_split(const fs::path& dir) { return !find_file(dir, "train-images", "idx3").empty() ||
                                             !find_file(dir, "t10k-images", "idx3").empty(); }

}  // namespace

std::string resolve_dataset_dir(const std::string& name, const std::string& data_dir) {
    std::vector<fs::path> candidates;
    if (name == "mnist") {
        candidates = {fs::path(data_dir) / "mnist"};
    } else if (name == "fashion-mnist") {
        candidates = {fs::path(data_dir) / "fashion-mnist", "/usr/share/datasets/fashion-mnist"};
    } else {
        candidates = {fs::path(name)};
    }
    for (const auto& c : candidates)
        if (has_split(c)) return c.string();
    std::string where;
    for (const auto& c : candidates) where += (where.empty() ? "" : ", ") + c.string();
    throw DataError("dataset '" + name + "' not found (looked for train-images-idx3-ubyte[.gz] in " +
                    where + "). Run scripts/setup.sh to fetch MNIST" +
                    (name == "fashion-mnist" ? " (and install dataset-fashion-mnist)" : "") +
                    ", or pass a folder holding the four IDX files.");
}

MnistSplit load_mnist(const std::string& name, const std::string& data_dir, bool train, int limit) {
    const fs::path dir = resolve_dataset_dir(name, data_dir);
    const std::string prefix = train ? "train" : "t10k";
    const std::string img_path = find_file(dir, prefix + "-images", "idx3");
    const std::string lab_path = find_file(dir, prefix + "-labels", "idx1");
    if (img_path.empty() || lab_path.empty())
        throw DataError("'" + dir.string() + "' lacks the " + (train ? "training" : "test") +
                        " split (" + prefix + "-images-idx3-ubyte and " + prefix + "-labels-idx1-ubyte)");
    IdxArray images = read_idx(img_path);
    IdxArray labels = read_idx(lab_path);
    if (images.type != 0x08 || images.dims.size() != 3)
        throw DataError(img_path + ": expected unsigned-byte images [N, H, W]");
    if (labels.type != 0x08 || labels.dims.size() != 1)
        throw DataError(lab_path + ": expected unsigned-byte labels [N]");
    if (images.dims[0] != labels.dims[0])
        throw DataError(img_path + " holds " + std::to_string(images.dims[0]) + " images but " + lab_path +
                        " holds " + std::to_string(labels.dims[0]) + " labels");
    const std::int64_t h = images.dims[1], w = images.dims[2];
    if (h == 0 || w == 0 || images.dims[0] == 0) throw DataError(img_path + ": no images");
    std::int64_t n = images.dims[0];
    if (limit > 0) n = std::min<std::int64_t>(n, limit);
    MnistSplit s;
    s.source = dir.string();
    const bool fashion = name == "fashion-mnist" || dir.string().find("fashion") != std::string::npos;
    if (fashion) s.class_names = kFashionNames;
    else for (int i = 0; i < 10; ++i) s.class_names.push_back(std::to_string(i));
    auto u8 = torch::from_blob(images.bytes.data(), {n, 1, h, w}, torch::kUInt8);
    s.images = u8.to(torch::kFloat32).div_(255.0);
    s.labels = torch::from_blob(labels.bytes.data(), {n}, torch::kUInt8).to(torch::kLong);
    const auto max_label = s.labels.max().item<std::int64_t>();
    if (max_label >= static_cast<std::int64_t>(s.class_names.size()))
        throw DataError(lab_path + ": label " + std::to_string(max_label) + " is outside 0.." +
                        std::to_string(s.class_names.size() - 1));
    return s;
}

}  // namespace ds::data
