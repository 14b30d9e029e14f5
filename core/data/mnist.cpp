#include "core/data/mnist.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <system_error>

#include <torch/torch.h>

#include "core/data/idx.h"
#include "core/engine/errors.h"

namespace fs = std::filesystem;

namespace ds::data {

namespace {

// Where the Debian package dataset-fashion-mnist installs the four .gz files.
const char* const kDebianFashionDir = "/usr/share/datasets/fashion-mnist";
// Both datasets have ten classes; labels outside 0..kNumClasses-1 mean a corrupt file.
constexpr int kNumClasses = 10;

const std::vector<std::string>& fashion_names() {
    static const std::vector<std::string> names = {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    return names;
}

std::vector<std::string> digit_names() {
    std::vector<std::string> names;
    for (int i = 0; i < kNumClasses; ++i)
        names.push_back(std::to_string(i));
    return names;
}

bool is_file(const fs::path& p) {
    std::error_code ec;  // unreadable folders count as "not here" rather than aborting the search
    return fs::is_regular_file(p, ec);
}

// Finds `<stem>-<kind>-ubyte` or `<stem>.<kind>-ubyte`, plain or .gz, in `dir` or in the
// torchvision subfolders (raw/, MNIST/raw/, FashionMNIST/raw/). Empty when absent.
fs::path find_idx(const fs::path& dir, const std::string& stem, const std::string& kind) {
    const fs::path subdirs[] = {fs::path(), fs::path("raw"), fs::path("MNIST") / "raw",
                                fs::path("FashionMNIST") / "raw"};
    for (const auto& sub : subdirs)
        for (const char* sep : {"-", "."})
            for (const char* ext : {"", ".gz"}) {
                fs::path p = dir / sub / (stem + sep + kind + "-ubyte" + ext);
                if (is_file(p))
                    return p;
            }
    return {};
}

bool has_any_split(const fs::path& dir) {
    return !find_idx(dir, "train-images", "idx3").empty() ||
           !find_idx(dir, "t10k-images", "idx3").empty();
}

// Folders given by path carry no dataset name; torchvision and Debian both put "fashion" in it.
bool looks_like_fashion(const std::string& name, const fs::path& images) {
    if (name == "fashion-mnist")
        return true;
    std::string p = images.string();
    std::transform(p.begin(), p.end(), p.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return p.find("fashion") != std::string::npos;
}

// Decodes u8 pixels straight into the float tensor: one pass, no intermediate buffers. A
// 256-entry table gives exactly v / 255.0f without a division per pixel, and the pass is split
// across threads because first-touching ~190 MB of fresh tensor memory costs as much as the math.
torch::Tensor decode_images(const IdxFile& f, std::int64_t n) {
    const std::int64_t h = f.header.dims[1], w = f.header.dims[2];
    torch::Tensor images = torch::empty({n, 1, h, w}, torch::kFloat32);
    std::array<float, 256> table{};
    for (int v = 0; v < 256; ++v)
        table[v] = static_cast<float>(v) / 255.0f;
    const std::uint8_t* src = f.payload();
    float* dst = images.data_ptr<float>();
    constexpr std::int64_t kGrain = std::int64_t(1) << 18;  // pixels per task: ~1 MB of output
    at::parallel_for(0, n * h * w, kGrain, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i)
            dst[i] = table[src[i]];
    });
    return images;
}

// Checks every label in the file (not only the first `limit`): a corrupt file is reported
// whatever slice is asked for.
torch::Tensor decode_labels(const IdxFile& f, std::int64_t n, const std::string& path) {
    const std::uint8_t* src = f.payload();
    const std::size_t count = f.header.dims[0];
    for (std::size_t i = 0; i < count; ++i)
        if (src[i] >= kNumClasses)
            throw DataError(path + ": label " + std::to_string(src[i]) + " at index " +
                            std::to_string(i) + " is outside 0.." +
                            std::to_string(kNumClasses - 1) +
                            " for a 10-class dataset. The file is corrupt or not an MNIST-style "
                            "label file; fetch it again (scripts/setup.sh)");
    torch::Tensor labels = torch::empty({n}, torch::kInt64);
    std::int64_t* dst = labels.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i)
        dst[i] = src[i];
    return labels;
}

void check_shapes(const IdxFile& images,
                  const std::string& image_path,
                  const IdxFile& labels,
                  const std::string& label_path) {
    const auto& ih = images.header;
    const auto& lh = labels.header;
    if (ih.type != kIdxU8 || ih.dims.size() != 3)
        throw DataError(image_path + ": expected ubyte images [N, H, W], found " +
                        std::to_string(ih.dims.size()) + "-D " + idx_type_name(ih.type) +
                        " data. Is this an image file (*-images-idx3-ubyte)?");
    if (lh.type != kIdxU8 || lh.dims.size() != 1)
        throw DataError(label_path + ": expected ubyte labels [N], found " +
                        std::to_string(lh.dims.size()) + "-D " + idx_type_name(lh.type) +
                        " data. Is this a label file (*-labels-idx1-ubyte)?");
    if (ih.dims[0] != lh.dims[0])
        throw DataError(image_path + " holds " + std::to_string(ih.dims[0]) + " images but " +
                        label_path + " holds " + std::to_string(lh.dims[0]) +
                        " labels; the two files must come from the same split and download");
    if (ih.dims[0] == 0 || ih.dims[1] == 0 || ih.dims[2] == 0)
        throw DataError(image_path + ": images of zero size (" + std::to_string(ih.dims[0]) +
                        " x " + std::to_string(ih.dims[1]) + " x " + std::to_string(ih.dims[2]) +
                        "); fetch the dataset again (scripts/setup.sh)");
    // Budgets before decoding: the UNet's size grows with the square of the image side.
    if (ih.dims[1] != ih.dims[2])
        throw DataError(image_path + ": images of " + std::to_string(ih.dims[1]) + " x " +
                        std::to_string(ih.dims[2]) + " px; the models need square images");
    if (ih.dims[1] > std::uint64_t(kMaxDatasetSide))
        throw DataError(image_path + ": images of " + std::to_string(ih.dims[1]) + " x " +
                        std::to_string(ih.dims[2]) + " px; the largest side accepted is " +
                        std::to_string(kMaxDatasetSide) + " px (MNIST-sized data sets)");
    if (std::uint64_t(ih.dims[0]) * ih.dims[1] * ih.dims[2] > std::uint64_t(kMaxDatasetPixels))
        throw DataError(image_path + ": " + std::to_string(ih.dims[0]) + " images of " + std::to_string(ih.dims[1]) +
                        " x " + std::to_string(ih.dims[2]) + " px are more than the " +
                        std::to_string(kMaxDatasetPixels) + " pixels a data set may hold (" +
                        std::to_string(kMaxDatasetPixels * 4 / (1 << 20)) + " MiB as float)");
}

}  // namespace

std::string resolve_dataset_dir(const std::string& name_or_dir, const std::string& data_dir) {
    std::vector<fs::path> candidates;
    if (name_or_dir == "mnist")
        candidates = {fs::path(data_dir) / "mnist"};
    else if (name_or_dir == "fashion-mnist")
        candidates = {fs::path(data_dir) / "fashion-mnist", fs::path(kDebianFashionDir)};
    else
        candidates = {fs::path(name_or_dir)};
    for (const auto& dir : candidates)
        if (has_any_split(dir))
            return dir.string();

    std::string where;
    for (const auto& dir : candidates)
        where += (where.empty() ? "" : ", ") + dir.string();
    std::string fix =
        "Run scripts/setup.sh: it fetches MNIST into data/mnist and installs the "
        "Debian package dataset-fashion-mnist (" +
        std::string(kDebianFashionDir) + ")";
    if (name_or_dir != "mnist" && name_or_dir != "fashion-mnist")
        fix += ", or pass \"mnist\", \"fashion-mnist\" or a folder holding the IDX files";
    throw DataError("dataset '" + name_or_dir + "' not found: looked in " + where +
                    " for train-images-idx3-ubyte or t10k-images-idx3-ubyte (also "
                    "'.idx3-ubyte', '.gz', and under raw/ or MNIST/raw/). " +
                    fix);
}

MnistSplit load_mnist(const std::string& name_or_dir,
                      const std::string& data_dir,
                      bool train,
                      int limit) {
    if (limit < 0)
        throw InvalidRequest("load_mnist: limit must be >= 0 (0 = all), got " +
                             std::to_string(limit));
    const fs::path dir = resolve_dataset_dir(name_or_dir, data_dir);
    const std::string prefix = train ? "train" : "t10k";
    const fs::path image_path = find_idx(dir, prefix + "-images", "idx3");
    const fs::path label_path = find_idx(dir, prefix + "-labels", "idx1");
    if (image_path.empty() || label_path.empty())
        throw DataError("'" + dir.string() + "' has no " + (train ? "training" : "test") +
                        " split: " + prefix + "-images-idx3-ubyte and " + prefix +
                        "-labels-idx1-ubyte (plain or .gz) are both needed. Copy them there or "
                        "run scripts/setup.sh");

    const IdxFile images = read_idx_file(image_path.string());
    const IdxFile labels = read_idx_file(label_path.string());
    check_shapes(images, image_path.string(), labels, label_path.string());

    std::int64_t n = images.header.dims[0];
    if (limit > 0)
        n = std::min<std::int64_t>(n, limit);
    MnistSplit split;
    split.labels = decode_labels(labels, n, label_path.string());
    split.images = decode_images(images, n);
    split.class_names =
        looks_like_fashion(name_or_dir, image_path) ? fashion_names() : digit_names();
    split.source = image_path.parent_path().string();
    return split;
}

}  // namespace ds::data
