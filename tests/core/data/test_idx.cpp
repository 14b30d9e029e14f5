// IDX parsing (every type code, every malformed-input error), gzip, and the MNIST loaders.
// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>

#include <unistd.h>
#include <zlib.h>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "core/data/idx.h"
#include "core/data/mnist.h"
#include "core/engine/errors.h"

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

const std::string kDataDir = std::string(DS_SOURCE_DIR) + "/data";
const fs::path kMnistDir = fs::path(kDataDir) / "mnist";

// Per-class label counts of the original MNIST files (LeCun), train then t10k.
const std::array<std::int64_t, 10> kMnistTrainCounts = {5923, 6742, 5958, 6131, 5842,
                                                        5421, 5918, 6265, 5851, 5949};
const std::array<std::int64_t, 10> kMnistTestCounts = {980, 1135, 1032, 1010, 982,
                                                       892, 958,  1028, 974,  1009};

// A fresh folder per test case and process, so ctest can run cases in parallel.
struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& name)
        : path(fs::temp_directory_path() /
               ("ds_test_idx_" + name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path operator/(const std::string& rel) const { return path / rel; }
};

Bytes idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims, const Bytes& payload) {
    Bytes b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
    for (auto d : dims)
        for (int shift = 24; shift >= 0; shift -= 8)
            b.push_back(static_cast<std::uint8_t>(d >> shift));
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}

// Big-endian encoding of `values`, as an IDX writer would produce.
template <typename T>
Bytes big_endian(const std::vector<T>& values) {
    Bytes out;
    for (T v : values) {
        std::uint8_t raw[sizeof(T)];
        std::memcpy(raw, &v, sizeof(T));
        for (std::size_t i = 0; i < sizeof(T); ++i)  // tests run on little-endian hosts
            out.push_back(raw[sizeof(T) - 1 - i]);
    }
    return out;
}

template <typename T>
std::vector<T> values_of(const ds::data::IdxArray& a) {
    std::vector<T> v(a.bytes.size() / sizeof(T));
    std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
    return v;
}

void write_file(const fs::path& p, const Bytes& b) {
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

// Compresses with zlib's own gz writer, as a downloaded .gz would be.
void write_gzip(const fs::path& p, const Bytes& b) {
    gzFile gz = gzopen(p.c_str(), "wb");
    REQUIRE(gz != nullptr);
    REQUIRE(gzwrite(gz, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
    REQUIRE(gzclose(gz) == Z_OK);
}

Bytes gzip_bytes(const TempDir& dir, const Bytes& b) {
    write_gzip(dir / "scratch.gz", b);
    return read_file(dir / "scratch.gz");
}

// Asserts that `f` throws exactly `E` (siblings such as IoError vs DataError propagate and fail
// the test) with every fragment in its message.
template <typename E>
void require_throws(const std::function<void()>& f, std::initializer_list<std::string> fragments) {
    std::string message;
    bool thrown = false;
    try {
        f();
    } catch (const E& e) {
        thrown = true;
        message = e.what();
    }
    REQUIRE(thrown);
    for (const auto& fragment : fragments) {
        INFO("message: " << message);
        CHECK_THAT(message, Catch::Contains(fragment));
    }
}

void require_parse_error(const Bytes& b, std::initializer_list<std::string> fragments) {
    require_throws<ds::DataError>([&] { ds::data::parse_idx(b.data(), b.size(), "bad.idx"); },
                                  fragments);
}

std::array<std::int64_t, 10> label_counts(const torch::Tensor& labels) {
    auto counts = torch::bincount(labels, {}, 10);
    std::array<std::int64_t, 10> out{};
    for (int i = 0; i < 10; ++i)
        out[i] = counts[i].item<std::int64_t>();
    return out;
}

// A small synthetic split: `n` images of h x w with pixel value `pixel`, labels 0,1,2,...
void write_split(const fs::path& dir,
                 const std::string& prefix,
                 std::uint32_t n,
                 std::uint32_t h,
                 std::uint32_t w,
                 std::uint8_t pixel = 128) {
    fs::create_directories(dir);
    Bytes labels;
    for (std::uint32_t i = 0; i < n; ++i)
        labels.push_back(static_cast<std::uint8_t>(i % 10));
    write_file(dir / (prefix + "-images-idx3-ubyte"),
               idx_bytes(ds::data::kIdxU8, {n, h, w}, Bytes(std::size_t(n) * h * w, pixel)));
    write_file(dir / (prefix + "-labels-idx1-ubyte"), idx_bytes(ds::data::kIdxU8, {n}, labels));
}

}  // namespace

using namespace ds::data;

TEST_CASE("parse_idx decodes every element type to host order", "[data]") {
    SECTION("0x08 ubyte") {
        auto b = idx_bytes(kIdxU8, {2, 3}, {0, 1, 2, 127, 128, 255});
        auto a = parse_idx(b.data(), b.size(), "u8");
        CHECK(a.type == kIdxU8);
        CHECK(a.dims == std::vector<std::uint32_t>{2, 3});
        CHECK(a.count() == 6);
        CHECK(a.bytes == Bytes{0, 1, 2, 127, 128, 255});
    }
    SECTION("0x09 sbyte") {
        auto b = idx_bytes(kIdxI8, {3}, {0x80, 0xff, 0x7f});
        auto a = parse_idx(b.data(), b.size(), "i8");
        CHECK(values_of<std::int8_t>(a) == std::vector<std::int8_t>{-128, -1, 127});
    }
    SECTION("0x0B short") {
        std::vector<std::int16_t> v = {1, -2, 0x0102, -32768, 32767};
        auto b = idx_bytes(kIdxI16, {5}, big_endian(v));
        CHECK(b[8] == 0x00);  // first element big-endian on disk
        CHECK(b[9] == 0x01);
        auto a = parse_idx(b.data(), b.size(), "i16");
        CHECK(values_of<std::int16_t>(a) == v);
    }
    SECTION("0x0C int") {
        std::vector<std::int32_t> v = {256, -1, 0x01020304, -2147483647 - 1};
        auto b = idx_bytes(kIdxI32, {2, 2}, big_endian(v));
        auto a = parse_idx(b.data(), b.size(), "i32");
        CHECK(a.count() == 4);
        CHECK(values_of<std::int32_t>(a) == v);
    }
    SECTION("0x0D float") {
        std::vector<float> v = {1.0f, -2.5f, 3.14159f, 1e-30f};
        auto b = idx_bytes(kIdxF32, {1, 4}, big_endian(v));
        CHECK(b[12] == 0x3f);  // 1.0f = 3f 80 00 00
        CHECK(values_of<float>(parse_idx(b.data(), b.size(), "f32")) == v);
    }
    SECTION("0x0E double") {
        std::vector<double> v = {2.0, -0.125, 1e300};
        auto b = idx_bytes(kIdxF64, {3}, big_endian(v));
        CHECK(values_of<double>(parse_idx(b.data(), b.size(), "f64")) == v);
    }
    SECTION("a zero dimension means an empty payload, however large the others") {
        auto b = idx_bytes(kIdxF64, {0, 0xffffffff, 0xffffffff, 0xffffffff}, {});
        auto a = parse_idx(b.data(), b.size(), "empty");
        CHECK(a.count() == 0);
        CHECK(a.bytes.empty());
    }
    CHECK(idx_element_size(0x0A) == 0);
    CHECK(std::string(idx_type_name(kIdxF32)) == "float");
}

TEST_CASE("parse_idx rejects malformed input naming the source and the problem", "[data]") {
    require_parse_error({}, {"bad.idx", "empty", "setup.sh"});
    require_parse_error({0, 0, 8}, {"bad.idx", "truncated", "4-byte"});
    require_parse_error({1, 0, 8, 1, 0, 0, 0, 0}, {"wrong magic", "0x01 0x00"});
    require_parse_error({0, 7, 8, 1, 0, 0, 0, 0}, {"wrong magic"});
    require_parse_error({0x1f, 0x8b, 8, 0}, {"wrong magic", "gzip"});
    require_parse_error({0, 0, 0x0A, 1, 0, 0, 0, 0}, {"unknown element type code 0x0A"});
    require_parse_error({0, 0, 0x42, 1, 0, 0, 0, 0}, {"unknown element type code 0x42"});
    require_parse_error({0, 0, 8, 0}, {"0 dimensions"});
    require_parse_error({0, 0, 8, 3, 0, 0, 0, 1, 0}, {"truncated header", "16 bytes"});
    require_parse_error(idx_bytes(kIdxU8, {10}, {1, 2}), {"truncated", "promises 10", "only 2"});
    require_parse_error(idx_bytes(kIdxI32, {2}, Bytes(7)), {"truncated", "promises 8"});
    require_parse_error(idx_bytes(kIdxU8, {3, 28, 28}, {}), {"truncated", "3 x 28 x 28"});
    require_parse_error(idx_bytes(kIdxU8, {1}, {1, 2, 3}), {"2 trailing bytes"});
    require_parse_error(idx_bytes(kIdxF64, {1}, Bytes(9)), {"1 trailing bytes"});
    // 2^96 elements: the element count itself overflows.
    require_parse_error(idx_bytes(kIdxU8, {0xffffffff, 0xffffffff, 0xffffffff}, {}),
                        {"overflow", "4294967295 x 4294967295 x 4294967295"});
    // 2^62 doubles: the count fits in 64 bits, the byte size does not.
    require_parse_error(idx_bytes(kIdxF64, {0x80000000, 0x80000000}, {}), {"overflow", "double"});
    // ~2^64 - 2^33 bytes fits in size_t: not an overflow, just a (very) truncated file.
    require_parse_error(idx_bytes(kIdxU8, {0xffffffff, 0xffffffff}, {1}), {"truncated"});
}

TEST_CASE("read_idx reads plain files of every type and reports OS errors", "[data]") {
    TempDir dir("plain");
    write_file(dir / "i16.idx", idx_bytes(kIdxI16, {2}, big_endian<std::int16_t>({-3, 300})));
    auto a = read_idx((dir / "i16.idx").string());
    CHECK(a.type == kIdxI16);
    CHECK(values_of<std::int16_t>(a) == std::vector<std::int16_t>{-3, 300});
    write_file(dir / "f64", idx_bytes(kIdxF64, {1, 2}, big_endian<double>({0.5, -4.0})));
    CHECK(values_of<double>(read_idx((dir / "f64").string())) == std::vector<double>{0.5, -4.0});
    // The raw view keeps the header and the big-endian payload.
    auto f = read_idx_file((dir / "i16.idx").string());
    CHECK(f.header.header_bytes == 8);
    CHECK(f.header.payload_bytes == 4);
    CHECK(f.payload()[0] == 0xff);
    CHECK(f.payload()[1] == 0xfd);

    const std::string missing = (dir / "missing-idx3-ubyte").string();
    require_throws<ds::IoError>([&] { read_idx(missing); }, {missing, "No such file"});
    require_throws<ds::IoError>([&] { read_idx(dir.path.string()); }, {"Is a directory"});
    write_file(dir / "empty", {});
    require_throws<ds::DataError>([&] { read_idx((dir / "empty").string()); }, {"empty"});
    write_file(dir / "short", idx_bytes(kIdxU8, {2, 2, 2}, {1, 2, 3}));
    require_throws<ds::DataError>([&] { read_idx((dir / "short").string()); },
                                  {"short", "truncated", "promises 8", "only 3"});
    write_file(dir / "long", idx_bytes(kIdxU8, {2}, {1, 2, 3}));
    require_throws<ds::DataError>([&] { read_idx((dir / "long").string()); }, {"trailing"});
}

TEST_CASE("gzip IDX files round-trip and bad gzip is rejected", "[data]") {
    TempDir dir("gzip");
    const std::vector<float> values = {1.5f, -2.0f, 0.25f, 8.0f, -0.5f, 3.0f};
    const Bytes plain = idx_bytes(kIdxF32, {2, 3}, big_endian(values));
    const Bytes gz = gzip_bytes(dir, plain);
    REQUIRE(gz.size() > 18);

    SECTION("round trip, detected by magic bytes rather than the name") {
        write_file(dir / "a.idx.gz", gz);
        write_file(dir / "no-extension", gz);
        for (const char* name : {"a.idx.gz", "no-extension"}) {
            auto a = read_idx((dir / name).string());
            CHECK(a.type == kIdxF32);
            CHECK(a.dims == std::vector<std::uint32_t>{2, 3});
            CHECK(values_of<float>(a) == values);
        }
        write_file(dir / "plain.gz", plain);  // a .gz name on an uncompressed file is fine
        CHECK(values_of<float>(read_idx((dir / "plain.gz").string())) == values);
    }
    SECTION("truncated gzip stream") {
        write_file(dir / "cut.gz", Bytes(gz.begin(), gz.begin() + gz.size() / 2));
        require_throws<ds::DataError>([&] { read_idx((dir / "cut.gz").string()); },
                                      {"cut.gz", "truncated gzip"});
        // Without the last byte of the size trailer: all data present, trailer incomplete.
        write_file(dir / "no-trailer.gz", Bytes(gz.begin(), gz.end() - 1));
        require_throws<ds::DataError>([&] { read_idx((dir / "no-trailer.gz").string()); },
                                      {"truncated gzip"});
        write_file(dir / "magic-only.gz", {0x1f, 0x8b});
        require_throws<ds::DataError>([&] { read_idx((dir / "magic-only.gz").string()); },
                                      {"truncated gzip"});
    }
    SECTION("corrupt gzip: bad CRC, bad deflate data") {
        Bytes bad_crc = gz;
        bad_crc[bad_crc.size() - 8] ^= 0xff;  // first CRC-32 byte of the trailer
        write_file(dir / "crc.gz", bad_crc);
        require_throws<ds::DataError>([&] { read_idx((dir / "crc.gz").string()); },
                                      {"crc.gz", "corrupt gzip", "setup.sh"});
        Bytes bad_method = gz;
        bad_method[2] = 0x07;  // compression method must be 8 (deflate)
        write_file(dir / "method.gz", bad_method);
        require_throws<ds::DataError>([&] { read_idx((dir / "method.gz").string()); },
                                      {"corrupt gzip"});
    }
    SECTION("trailing garbage after the gzip stream, or a second member") {
        Bytes garbage = gz;
        garbage.insert(garbage.end(), {1, 2, 3});
        write_file(dir / "garbage.gz", garbage);
        require_throws<ds::DataError>([&] { read_idx((dir / "garbage.gz").string()); },
                                      {"3 bytes of trailing garbage"});
        Bytes twice = gz;
        twice.insert(twice.end(), gz.begin(), gz.end());
        write_file(dir / "twice.gz", twice);
        require_throws<ds::DataError>([&] { read_idx((dir / "twice.gz").string()); },
                                      {"trailing garbage"});
    }
    SECTION("the decompressed content is checked like a plain file") {
        Bytes longer = plain;
        longer.push_back(0);
        write_file(dir / "long.gz", gzip_bytes(dir, longer));
        require_throws<ds::DataError>([&] { read_idx((dir / "long.gz").string()); },
                                      {"after gunzip", "trailing bytes"});
        write_file(dir / "short.gz", gzip_bytes(dir, Bytes(plain.begin(), plain.end() - 1)));
        require_throws<ds::DataError>([&] { read_idx((dir / "short.gz").string()); },
                                      {"truncated", "promises 24", "only 23"});
        write_file(dir / "empty.gz", gzip_bytes(dir, {}));
        require_throws<ds::DataError>([&] { read_idx((dir / "empty.gz").string()); }, {"empty"});
        write_file(dir / "magic.gz", gzip_bytes(dir, {0, 0, 0x42, 1}));
        require_throws<ds::DataError>([&] { read_idx((dir / "magic.gz").string()); },
                                      {"unknown element type"});
        write_file(dir / "header.gz", gzip_bytes(dir, {0, 0, 8, 3, 0, 0, 0, 1}));
        require_throws<ds::DataError>([&] { read_idx((dir / "header.gz").string()); },
                                      {"truncated header"});
    }
    SECTION("a forged header cannot make the reader allocate what it promises") {
        // 4 GiB promised by a gzip of a few dozen bytes: rejected before any allocation.
        write_file(dir / "bomb.gz", gzip_bytes(dir, idx_bytes(kIdxF32, {1u << 30}, {1, 2})));
        require_throws<ds::DataError>([&] { read_idx((dir / "bomb.gz").string()); },
                                      {"promises 4294967296", "more than the"});
    }
}

TEST_CASE("MNIST train and test splits match the published files", "[data]") {
    auto train = load_mnist("mnist", kDataDir, true);
    CHECK(train.images.sizes() == std::vector<std::int64_t>{60000, 1, 28, 28});
    CHECK(train.images.dtype() == torch::kFloat32);
    CHECK(train.labels.sizes() == std::vector<std::int64_t>{60000});
    CHECK(train.labels.dtype() == torch::kInt64);
    CHECK(train.images.min().item<float>() == 0.0f);
    CHECK(train.images.max().item<float>() == 1.0f);
    CHECK(train.labels[0].item<std::int64_t>() == 5);
    CHECK(label_counts(train.labels) == kMnistTrainCounts);
    CHECK(train.class_names ==
          std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
    CHECK(fs::equivalent(train.source, kMnistDir));

    // Pixels are the raw bytes / 255 with no normalisation.
    auto raw = read_idx((kMnistDir / "train-images-idx3-ubyte").string());
    auto bytes = torch::from_blob(raw.bytes.data(), {60000, 1, 28, 28}, torch::kUInt8);
    CHECK(torch::equal(train.images, bytes.to(torch::kFloat32).div(255.0f)));

    auto test = load_mnist("mnist", kDataDir, false);
    CHECK(test.images.sizes() == std::vector<std::int64_t>{10000, 1, 28, 28});
    CHECK(test.labels.sizes() == std::vector<std::int64_t>{10000});
    CHECK(test.labels[0].item<std::int64_t>() == 7);
    CHECK(label_counts(test.labels) == kMnistTestCounts);
}

TEST_CASE("load_mnist limit keeps the first N samples", "[data]") {
    auto all = load_mnist("mnist", kDataDir, false);
    auto some = load_mnist("mnist", kDataDir, false, 100);
    CHECK(some.images.sizes() == std::vector<std::int64_t>{100, 1, 28, 28});
    CHECK(some.labels.sizes() == std::vector<std::int64_t>{100});
    CHECK(torch::equal(some.images, all.images.slice(0, 0, 100)));
    CHECK(torch::equal(some.labels, all.labels.slice(0, 0, 100)));
    CHECK(load_mnist("mnist", kDataDir, false, 1).labels.size(0) == 1);
    CHECK(load_mnist("mnist", kDataDir, false, 20000).labels.size(0) == 10000);
    require_throws<ds::InvalidRequest>([] { load_mnist("mnist", kDataDir, false, -1); }, {"limit"});
}

TEST_CASE("dataset folders: torchvision layouts, name variants, gzip", "[data]") {
    TempDir dir("layouts");
    SECTION("MNIST/raw/ with symlinks to the real files") {
        const fs::path raw = dir / "MNIST/raw";
        fs::create_directories(raw);
        for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
            fs::create_symlink(kMnistDir / f, raw / f);
        CHECK(resolve_dataset_dir(dir.path.string(), "/nonexistent") == dir.path.string());
        auto test = load_mnist(dir.path.string(), "/nonexistent", false);
        CHECK(test.images.sizes() == std::vector<std::int64_t>{10000, 1, 28, 28});
        CHECK(test.labels[0].item<std::int64_t>() == 7);
        CHECK(test.class_names[9] == "9");
        CHECK(test.source == raw.string());
        CHECK(load_mnist(dir.path.string(), "", true, 3).labels[0].item<std::int64_t>() == 5);
    }
    SECTION("raw/ with '.idx3-ubyte' names, gzip-compressed") {
        const fs::path raw = dir / "raw";
        fs::create_directories(raw);
        write_gzip(raw / "t10k-images.idx3-ubyte.gz", idx_bytes(kIdxU8, {3, 5, 5}, Bytes(75, 255)));
        write_gzip(raw / "t10k-labels.idx1-ubyte.gz", idx_bytes(kIdxU8, {3}, {3, 1, 4}));
        auto s = load_mnist(dir.path.string(), "", false);
        CHECK(s.images.sizes() == std::vector<std::int64_t>{3, 1, 5, 5});
        CHECK(s.images.min().item<float>() == 1.0f);
        CHECK(torch::equal(s.labels, torch::tensor({3, 1, 4}, torch::kInt64)));
        require_throws<ds::DataError>([&] { load_mnist(dir.path.string(), "", true); },
                                      {"no training split", "train-images-idx3-ubyte"});
    }
    SECTION("a folder named like Fashion-MNIST gets the Fashion class names") {
        write_split(dir / "FashionMNIST/raw", "train", 4, 3, 3);
        auto s = load_mnist(dir.path.string(), "", true);
        CHECK(s.class_names[0] == "T-shirt/top");
        CHECK(s.images[0][0][1][1].item<float>() == Approx(128.0 / 255.0));
        CHECK(torch::equal(s.labels, torch::tensor({0, 1, 2, 3}, torch::kInt64)));
    }
}

TEST_CASE("dataset errors name the file, the problem and the fix", "[data]") {
    TempDir dir("errors");
    const std::string d = dir.path.string();
    const fs::path images = dir / "train-images-idx3-ubyte";
    const fs::path labels = dir / "train-labels-idx1-ubyte";
    auto load = [&] { load_mnist(d, "", true); };
    write_split(dir.path, "train", 2, 4, 4);
    CHECK(load_mnist(d, "", true).labels.size(0) == 2);

    SECTION("image/label count mismatch") {
        write_file(labels, idx_bytes(kIdxU8, {3}, {1, 2, 3}));
        require_throws<ds::DataError>(load, {"2 images", "3 labels", labels.string()});
    }
    SECTION("labels outside 0..9, even past the limit") {
        write_file(labels, idx_bytes(kIdxU8, {2}, {3, 10}));
        require_throws<ds::DataError>(load, {labels.string(), "label 10", "index 1", "0..9"});
        require_throws<ds::DataError>([&] { load_mnist(d, "", true, 1); }, {"label 10"});
    }
    SECTION("images not 3-D, labels not 1-D, wrong element type") {
        write_file(images, idx_bytes(kIdxU8, {2, 16}, Bytes(32)));
        require_throws<ds::DataError>(load, {images.string(), "2-D", "[N, H, W]"});
        write_file(images, idx_bytes(kIdxF32, {2, 1, 1}, Bytes(8)));
        require_throws<ds::DataError>(load, {images.string(), "float"});
        write_split(dir.path, "train", 2, 4, 4);
        write_file(labels, idx_bytes(kIdxU8, {2, 1}, {1, 2}));
        require_throws<ds::DataError>(load, {labels.string(), "2-D", "[N]"});
    }
    SECTION("images of zero size") {
        write_file(images, idx_bytes(kIdxU8, {2, 0, 28}, {}));
        require_throws<ds::DataError>(load, {images.string(), "zero size", "2 x 0 x 28"});
        write_file(images, idx_bytes(kIdxU8, {0, 28, 28}, {}));
        write_file(labels, idx_bytes(kIdxU8, {0}, {}));
        require_throws<ds::DataError>(load, {"zero size"});
    }
    SECTION("budgets: huge, non-square or too many images are refused from the header") {
        // Issue 23: one 2048 x 2048 image asked for 16 GB (the UNet scales with the side squared).
        write_file(images, idx_bytes(kIdxU8, {1, 2048, 2048}, Bytes(2048 * 2048)));
        write_file(labels, idx_bytes(kIdxU8, {1}, {1}));
        require_throws<ds::DataError>(load, {images.string(), "2048 x 2048", "largest side accepted is 64"});
        write_file(images, idx_bytes(kIdxU8, {1, 28, 20}, Bytes(28 * 20)));
        require_throws<ds::DataError>(load, {images.string(), "square"});
        // A gzip file whose header promises more than the payload budget: refused before inflating.
        write_gzip(images.string() + ".gz", idx_bytes(kIdxU8, {4096, 4096, 4096}, Bytes(16)));
        fs::remove(images);
        require_throws<ds::DataError>(load, {"promises", "more than the"});
        fs::remove(images.string() + ".gz");
        // A plain file over the budget: refused from its size, before reading.
        require_throws<ds::DataError>([&] {
            write_file(images, idx_bytes(kIdxU8, {2, 4, 4}, Bytes(32)));
            read_idx_file(images.string(), 16);
        }, {"more than the 16"});
    }
    SECTION("a malformed file inside the dataset") {
        write_file(images, idx_bytes(kIdxU8, {2, 4, 4}, Bytes(31)));
        require_throws<ds::DataError>(load, {images.string(), "truncated"});
    }
    SECTION("missing split, folder, or named dataset") {
        fs::remove(labels);
        require_throws<ds::DataError>(load, {"no training split", "train-labels-idx1-ubyte"});
        require_throws<ds::DataError>([&] { load_mnist(d, "", false); }, {"no test split"});
        const std::string nowhere = (dir / "nowhere").string();
        require_throws<ds::DataError>([&] { resolve_dataset_dir(nowhere, ""); },
                                      {"'" + nowhere + "' not found", "looked in " + nowhere,
                                       "train-images-idx3-ubyte", "scripts/setup.sh"});
        require_throws<ds::DataError>([&] { load_mnist("mnist", d, true); },
                                      {"'mnist' not found", d + "/mnist", "scripts/setup.sh"});
    }
}

TEST_CASE("Fashion-MNIST by name, from the Debian package or data/", "[data]") {
    std::string dir;
    try {
        dir = resolve_dataset_dir("fashion-mnist", kDataDir);
    } catch (const ds::DataError& e) {
        WARN("Fashion-MNIST not installed, skipping (" << e.what() << ")");
        return;
    }
    INFO("Fashion-MNIST from " << dir);
    auto train = load_mnist("fashion-mnist", kDataDir, true);
    CHECK(train.images.sizes() == std::vector<std::int64_t>{60000, 1, 28, 28});
    CHECK(train.images.min().item<float>() == 0.0f);
    CHECK(train.images.max().item<float>() == 1.0f);
    CHECK(train.labels[0].item<std::int64_t>() == 9);  // the first image is an ankle boot
    for (auto count : label_counts(train.labels))
        CHECK(count == 6000);
    CHECK(train.class_names == std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover",
                                                        "Dress", "Coat", "Sandal", "Shirt",
                                                        "Sneaker", "Bag", "Ankle boot"});
    auto test = load_mnist("fashion-mnist", kDataDir, false, 10);
    CHECK(test.images.sizes() == std::vector<std::int64_t>{10, 1, 28, 28});
    CHECK(test.class_names[9] == "Ankle boot");
}
