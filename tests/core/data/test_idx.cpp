// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>
#include <zlib.h>

#include <filesystem>
#include <cstring>
#include <fstream>

#include "core/data/idx.h"
#include "core/data/mnist.h"
#include "core/engine/errors.h"

namespace fs = std::filesystem;
using namespace ds::data;

namespace {
std::vector<std::uint8_t> idx_bytes(std::uint8_t type, std::vector<std::uint32_t> dims,
                                    std::vector<std::uint8_t> payload) {
    std::vector<std::uint8_t> b = {0, 0, type, std::uint8_t(dims.size())};
    for (auto d : dims)
        for (int s = 24; s >= 0; s -= 8) b.push_back(std::uint8_t(d >> s));
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}
void write(const fs::path& p, const std::vector<std::uint8_t>& b) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
}
fs::path fresh(const std::string& name) {
    auto d = fs::temp_directory_path() / ("ds_idx_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}
const std::string kData = std::string(DS_SOURCE_DIR) + "/data";
}  // namespace

TEST_CASE("IDX parser reads every element type (big-endian to host)", "[data]") {
    auto a = parse_idx(idx_bytes(0x08, {2, 2}, {1, 2, 3, 4}).data(), 12 + 4, "t");
    CHECK(a.dims == std::vector<std::uint32_t>{2, 2});
    CHECK(a.count() == 4);
    CHECK(a.bytes == std::vector<std::uint8_t>{1, 2, 3, 4});
    auto s = idx_bytes(0x0B, {1}, {0x01, 0x02});
    auto p = parse_idx(s.data(), s.size(), "t");
    std::int16_t v;
    std::memcpy(&v, p.bytes.data(), 2);
    CHECK(v == 0x0102);
    auto i = idx_bytes(0x0C, {1}, {0, 0, 1, 0});
    std::int32_t iv;
    std::memcpy(&iv, parse_idx(i.data(), i.size(), "t").bytes.data(), 4);
    CHECK(iv == 256);
    auto f = idx_bytes(0x0D, {1}, {0x3f, 0x80, 0, 0});
    float fv;
    std::memcpy(&fv, parse_idx(f.data(), f.size(), "t").bytes.data(), 4);
    CHECK(fv == 1.0f);
    auto d = idx_bytes(0x0E, {1}, {0x40, 0, 0, 0, 0, 0, 0, 0});
    double dv;
    std::memcpy(&dv, parse_idx(d.data(), d.size(), "t").bytes.data(), 8);
    CHECK(dv == 2.0);
    CHECK(parse_idx(idx_bytes(0x09, {1}, {0xff}).data(), 9, "t").bytes[0] == 0xff);
}

TEST_CASE("IDX parser rejects malformed input with clear messages", "[data]") {
    auto check = [](std::vector<std::uint8_t> b, const std::string& fragment) {
        INFO(fragment);
        CHECK_THROWS_AS(parse_idx(b.data(), b.size(), "f.idx"), ds::DataError);
        CHECK_THROWS_WITH(parse_idx(b.data(), b.size(), "f.idx"), Catch::Contains(fragment));
    };
    check({}, "empty");
    check({1, 0, 8, 1, 0, 0, 0, 0}, "magic");
    check({0, 0, 0x42, 1, 0, 0, 0, 0}, "unknown element type");
    check({0, 0, 8, 0}, "zero dimensions");
    check({0, 0, 8, 3, 0, 0}, "truncated header");
    check(idx_bytes(0x08, {10}, {1, 2}), "truncated");
    check(idx_bytes(0x08, {1}, {1, 2}), "trailing");
    check(idx_bytes(0x08, {0xffffffff, 0xffffffff, 0xffff}, {}), "too large");
}

TEST_CASE("gzip IDX files, missing and corrupt files", "[data]") {
    auto dir = fresh("gz");
    auto raw = idx_bytes(0x08, {3}, {7, 8, 9});
    gzFile gz = gzopen((dir / "a.gz").c_str(), "wb");
    gzwrite(gz, raw.data(), unsigned(raw.size()));
    gzclose(gz);
    CHECK(read_idx((dir / "a.gz").string()).bytes == std::vector<std::uint8_t>{7, 8, 9});
    // Truncated gzip stream
    std::ifstream in(dir / "a.gz", std::ios::binary);
    std::vector<std::uint8_t> gzb((std::istreambuf_iterator<char>(in)), {});
    gzb.resize(gzb.size() / 2);
    write(dir / "cut.gz", gzb);
    CHECK_THROWS_AS(read_idx((dir / "cut.gz").string()), ds::DataError);
    CHECK_THROWS_AS(read_idx((dir / "missing").string()), ds::IoError);
}

TEST_CASE("MNIST loads with the course conventions", "[data]") {
    auto train = load_mnist("mnist", kData, true);
    CHECK(train.images.sizes() == std::vector<std::int64_t>{60000, 1, 28, 28});
    CHECK(train.labels.sizes() == std::vector<std::int64_t>{60000});
    CHECK(train.images.min().item<float>() == 0.0f);
    CHECK(train.images.max().item<float>() == 1.0f);
    CHECK(train.labels[0].item<std::int64_t>() == 5);
    CHECK(torch::bincount(train.labels).sum().item<std::int64_t>() == 60000);
    auto test = load_mnist("mnist", kData, false, 100);
    CHECK(test.images.size(0) == 100);
    CHECK(test.labels[0].item<std::int64_t>() == 7);
    CHECK(train.class_names.size() == 10);
}

TEST_CASE("dataset folders: torchvision layout, mismatches, missing data", "[data]") {
    auto dir = fresh("tv");
    fs::create_directories(dir / "MNIST" / "raw");
    write(dir / "MNIST" / "raw" / "train-images-idx3-ubyte", idx_bytes(0x08, {2, 4, 4}, std::vector<std::uint8_t>(32, 128)));
    write(dir / "MNIST" / "raw" / "train-labels-idx1-ubyte", idx_bytes(0x08, {2}, {3, 4}));
    auto s = load_mnist(dir.string(), kData, true);
    CHECK(s.images.sizes() == std::vector<std::int64_t>{2, 1, 4, 4});
    CHECK(s.images[0][0][0][0].item<float>() == Approx(128.0 / 255));

    write(dir / "MNIST" / "raw" / "train-labels-idx1-ubyte", idx_bytes(0x08, {3}, {3, 4, 5}));
    CHECK_THROWS_WITH(load_mnist(dir.string(), kData, true), Catch::Contains("3 labels"));
    write(dir / "MNIST" / "raw" / "train-labels-idx1-ubyte", idx_bytes(0x08, {2}, {3, 40}));
    CHECK_THROWS_WITH(load_mnist(dir.string(), kData, true), Catch::Contains("label 40"));
    CHECK_THROWS_WITH(load_mnist(dir.string(), kData, false), Catch::Contains("test split"));
    CHECK_THROWS_WITH(load_mnist((dir / "nothing").string(), kData, true), Catch::Contains("setup.sh"));
}

TEST_CASE("Fashion-MNIST by name", "[data]") {
    try {
        auto f = load_mnist("fashion-mnist", kData, false, 10);
        CHECK(f.class_names[9] == "Ankle boot");
        CHECK(f.images.size(0) == 10);
    } catch (const ds::DataError& e) {
        WARN("Fashion-MNIST not installed: " << e.what());
    }
}
