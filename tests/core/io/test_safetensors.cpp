// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"

namespace fs = std::filesystem;
using Catch::Contains;
using ds::io::parse_safetensors;
using ds::io::SafetensorsFile;
using ds::io::SafetensorsSet;
using ds::io::write_safetensors;

namespace {

const std::string kFixtures = DS_FIXTURES_DIR;

// A fresh, empty folder per test (so listings see only what the test wrote), removed after it.
class TempDir {
public:
    explicit TempDir(const std::string& name)
        : path_(fs::temp_directory_path() /
                ("ds_safetensors_" + std::to_string(::getpid()) + "_" + name)) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& file) const { return path_ / file; }

private:
    fs::path path_;
};

std::vector<std::uint8_t> u64_le(std::uint64_t n) {
    std::vector<std::uint8_t> out(8);
    for (int i = 0; i < 8; ++i)
        out[i] = static_cast<std::uint8_t>(n >> (8 * i));
    return out;
}

// [length][header][data_bytes zero bytes], the way a writer would lay it out.
std::vector<std::uint8_t> make_file(const std::string& header, std::size_t data_bytes) {
    auto out = u64_le(header.size());
    out.insert(out.end(), header.begin(), header.end());
    out.resize(out.size() + data_bytes, 0);
    return out;
}

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string error_of(const std::vector<std::uint8_t>& bytes) {
    try {
        parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors");
    } catch (const ds::DataError& e) {
        return e.what();
    }
    FAIL("parse_safetensors accepted an invalid file");
    return {};
}

// Every validation error is a DataError naming the source, the problem and (where there is
// one) the tensor.
void expect_invalid(const std::vector<std::uint8_t>& bytes,
                    const std::string& problem,
                    const std::string& tensor = "") {
    const std::string message = error_of(bytes);
    INFO(message);
    CHECK_THAT(message, Contains("bad.safetensors"));
    CHECK_THAT(message, Contains(problem));
    if (!tensor.empty())
        CHECK_THAT(message, Contains("'" + tensor + "'"));
}

void expect_invalid_header(const std::string& header,
                           std::size_t data_bytes,
                           const std::string& problem,
                           const std::string& tensor = "") {
    INFO(header);
    expect_invalid(make_file(header, data_bytes), problem, tensor);
}

}  // namespace

TEST_CASE("dtype sizes and names", "[io][safetensors]") {
    using ds::io::DType;
    CHECK(ds::io::dtype_size(DType::F64) == 8);
    CHECK(ds::io::dtype_size(DType::BF16) == 2);
    CHECK(ds::io::dtype_size(DType::Bool) == 1);
    CHECK(std::string(ds::io::dtype_name(DType::Bool)) == "BOOL");
    CHECK(std::string(ds::io::dtype_name(DType::BF16)) == "BF16");
}

TEST_CASE("round trip of every dtype, 0-d and empty shapes, metadata", "[io][safetensors]") {
    const TempDir dir("roundtrip");
    const auto path = (dir / "all.safetensors").string();
    const std::vector<std::pair<std::string, at::Tensor>> ts = {
        {"f32", torch::randn({2, 3})},
        {"f64", torch::randn({4}, torch::kFloat64)},
        {"f16", torch::randn({3, 1}).to(torch::kFloat16)},
        {"bf16", torch::randn({5}).to(torch::kBFloat16)},
        {"i64", torch::arange(6, torch::kLong).view({2, 3}) - (std::int64_t(1) << 40)},
        {"i32", torch::tensor({-1, 2, 2147483647}, torch::kInt32)},
        {"i16", torch::tensor({7, -32768}, torch::kInt16)},
        {"i8", torch::tensor({-8, 127}, torch::kInt8)},
        {"u8", torch::tensor({0, 255}, torch::kUInt8)},
        {"bool", torch::tensor({true, false, true})},
        {"scalar", torch::tensor(3.5)},
        {"empty", torch::zeros({0, 4})},
        {"strided", torch::arange(12, torch::kFloat32).view({3, 4}).t()},
    };
    const std::map<std::string, std::string> meta = {
        {"format", "pt"}, {"json", "{\"a\":1}"}, {"unicode", "λ—✓"}};
    write_safetensors(path, ts, meta);
    const auto f = SafetensorsFile::open(path);
    CHECK(f.path() == path);
    CHECK(f.metadata() == meta);
    REQUIRE(f.tensors().size() == ts.size());
    for (const auto& [name, t] : ts) {
        INFO(name);
        const auto r = f.tensor(name);
        CHECK(r.scalar_type() == t.scalar_type());
        CHECK(r.sizes() == t.sizes());
        CHECK(torch::equal(r, t));
        CHECK(f.info(name).numel() == t.numel());
        CHECK(f.info(name).end - f.info(name).begin == std::uint64_t(t.nbytes()));
    }
    CHECK(f.info("scalar").shape.empty());
    CHECK(f.info("empty").begin == f.info("empty").end);
    const auto as_float = f.tensor("f16", torch::kFloat32);
    CHECK(as_float.scalar_type() == torch::kFloat32);
    CHECK(torch::equal(as_float, ts[2].second.to(torch::kFloat32)));
}

TEST_CASE("writer pads the header to 8 bytes and stores tensors in sorted order",
          "[io][safetensors]") {
    const TempDir dir("layout");
    const auto path = dir / "layout.safetensors";
    write_safetensors(path.string(), {{"zeta", torch::tensor({1, 256}, torch::kInt32)},
                                      {"alpha", torch::tensor({7}, torch::kUInt8)},
                                      {"mid", torch::tensor({true})}});
    const std::string bytes = read_all(path);
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    const std::string header = bytes.substr(8, n);
    CHECK(header.find_last_not_of(' ') == header.find_last_of('}'));
    // Data section: alpha (1 byte), mid (1 byte), zeta (2 x int32 LE), in name order.
    const std::string data = bytes.substr(8 + n);
    CHECK(data == std::string("\x07\x01\x01\x00\x00\x00\x00\x01\x00\x00", 10));
    const auto f = SafetensorsFile::open(path.string());
    CHECK(f.info("alpha").begin == 8 + n);
    CHECK(f.info("mid").begin == 8 + n + 1);
    CHECK(f.info("zeta").begin == 8 + n + 2);
    CHECK(f.data(f.info("zeta"))[4] == 0x00);
    CHECK(f.data(f.info("zeta"))[5] == 0x01);
}

TEST_CASE("tensors() keeps header order, and bool bytes other than 0/1 read as true",
          "[io][safetensors]") {
    const TempDir dir("order");
    auto bytes = make_file(R"({"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},)"
                           R"("a":{"dtype":"U8","shape":[],"data_offsets":[2,3]}})",
                           3);
    bytes[bytes.size() - 3] = 2;  // b[0]
    bytes[bytes.size() - 1] = 9;  // a
    std::ofstream(dir / "o.safetensors", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    const auto f = SafetensorsFile::open((dir / "o.safetensors").string());
    REQUIRE(f.tensors().size() == 2);
    CHECK(f.tensors()[0].name == "b");
    CHECK(f.tensors()[1].name == "a");
    CHECK(torch::equal(f.tensor("b"), torch::tensor({true, false})));
    CHECK(f.tensor("a").item<std::uint8_t>() == 9);
}

TEST_CASE("reads the IF stage I UNet fixture checkpoint", "[io][safetensors]") {
    const auto path = kFixtures + "/if_stage1_unet_tiny/diffusion_pytorch_model.safetensors";
    const auto f = SafetensorsFile::open(path);
    CHECK(f.tensors().size() == 199);
    CHECK(f.metadata().at("format") == "pt");
    std::int64_t params = 0;
    for (const auto& t : f.tensors()) {
        CHECK(t.dtype == ds::io::DType::F32);
        params += t.numel();
    }
    CHECK(params == 854310);
    CHECK(f.tensors().front().name == "add_embedding.norm1.bias");
    CHECK(f.contains("down_blocks.1.attentions.0.add_k_proj.weight"));
    const auto w = f.tensor("conv_in.weight");
    CHECK(w.sizes() == std::vector<std::int64_t>{32, 3, 3, 3});
    CHECK(std::memcmp(w.data_ptr(), f.data(f.info("conv_in.weight")), w.nbytes()) == 0);
    CHECK(f.tensor("conv_in.weight", torch::kFloat16).scalar_type() == torch::kFloat16);
}

TEST_CASE("reads the IF stage I cases fixture (F32 and I64)", "[io][safetensors]") {
    const auto f = SafetensorsFile::open(kFixtures + "/if_stage1_unet_tiny/cases.safetensors");
    CHECK(f.tensors().size() == 60);
    CHECK(torch::equal(f.tensor("case1.timestep"), torch::tensor({500, 250}, torch::kInt64)));
    CHECK(torch::equal(f.tensor("case2.timestep"), torch::tensor({0, 37}, torch::kInt64)));
    const auto ehs = f.tensor("case0.encoder_hidden_states");
    CHECK(ehs.sizes() == std::vector<std::int64_t>{2, 77, 32});
    CHECK(ehs.flatten()[0].item<float>() == Approx(-0.8496796488761902));
    CHECK(ehs.flatten()[3].item<float>() == Approx(-0.7811664342880249));
}

TEST_CASE("64-bit offsets: a tensor stored past 4 GiB (sparse file)", "[io][safetensors]") {
    const TempDir dir("far");
    const auto path = dir / "far.safetensors";
    constexpr std::uint64_t kFar = 5ull << 30;  // past any 32-bit offset
    const std::string header = R"({"far":{"dtype":"F32","shape":[2],"data_offsets":[)" +
                               std::to_string(kFar) + "," + std::to_string(kFar + 8) +
                               R"(]},"near":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    const auto head = make_file(header, 0);
    const float values[2] = {1.5f, -2.0f};
    {
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(head.data()), std::streamsize(head.size()));
        out.seekp(std::streamoff(head.size() + kFar));
        out.write(reinterpret_cast<const char*>(values), sizeof values);
    }
    const auto f = SafetensorsFile::open(path.string());
    CHECK(f.info("far").begin == head.size() + kFar);
    CHECK(torch::equal(f.tensor("far"), torch::tensor({1.5f, -2.0f})));
    CHECK(f.tensor("near").item<std::uint8_t>() == 0);
}

TEST_CASE("sharded sets via index.json, both namings, and single files", "[io][safetensors]") {
    const TempDir dir("sharded");
    write_safetensors((dir / "model-00001-of-00002.safetensors").string(),
                      {{"x", torch::ones({2})}, {"extra", torch::ones({1})}});
    write_safetensors((dir / "model-00002-of-00002.safetensors").string(),
                      {{"y", torch::zeros({3}, torch::kFloat16)}});
    const std::string index = R"({"metadata":{"total_size":14},"weight_map":{)"
                              R"("x":"model-00001-of-00002.safetensors",)"
                              R"("y":"model-00002-of-00002.safetensors"}})";
    for (const std::string name :
         {"model.safetensors.index.json", "model.safetensors.index.fp16.json"}) {
        INFO(name);
        std::ofstream(dir / name) << index;
        const auto s = SafetensorsSet::open((dir / name).string());
        CHECK(s.names() == std::vector<std::string>{"x", "y"});
        CHECK(s.contains("y"));
        CHECK_FALSE(s.contains("extra"));  // only what the index maps
        CHECK(s.info("y").dtype == ds::io::DType::F16);
        CHECK(torch::equal(s.tensor("x"), torch::ones({2})));
        CHECK(s.tensor("y", torch::kFloat32).scalar_type() == torch::kFloat32);
        CHECK(s.file_of("y").path() == (dir / "model-00002-of-00002.safetensors").string());
        CHECK_THROWS_AS(s.tensor("z"), ds::DataError);
        CHECK_THROWS_WITH(s.info("z"), Contains("'z'") && Contains(name));
    }
    const auto single = SafetensorsSet::open((dir / "model-00001-of-00002.safetensors").string());
    CHECK(single.names() == std::vector<std::string>{"extra", "x"});
}

TEST_CASE("sharded set errors", "[io][safetensors]") {
    const TempDir dir("shard_errors");
    write_safetensors((dir / "a.safetensors").string(), {{"x", torch::ones({2})}});
    const auto open_with = [&](const std::string& text) {
        std::ofstream(dir / "m.safetensors.index.json") << text;
        return SafetensorsSet::open((dir / "m.safetensors.index.json").string());
    };
    CHECK_THROWS_AS(open_with(R"({"weight_map":{"x":"missing.safetensors"}})"), ds::IoError);
    CHECK_THROWS_WITH(open_with(R"({"weight_map":{"z":"a.safetensors"}})"),
                      Contains("'z'") && Contains("a.safetensors"));
    CHECK_THROWS_AS(open_with(R"({"weight_map":{"z":"a.safetensors"}})"), ds::DataError);
    CHECK_THROWS_AS(open_with(R"({"weight_map":{"x":"../a.safetensors"}})"), ds::DataError);
    CHECK_THROWS_AS(open_with(R"({"weight_map":{"x":3}})"), ds::DataError);
    CHECK_THROWS_AS(open_with(R"({"metadata":{}})"), ds::DataError);
    CHECK_THROWS_AS(open_with("{oops"), ds::DataError);
    CHECK_THROWS_AS(SafetensorsSet::open((dir / "none.index.json").string()), ds::IoError);
}

TEST_CASE("open errors name the file, and info names the missing tensor", "[io][safetensors]") {
    const TempDir dir("open_errors");
    CHECK_THROWS_AS(SafetensorsFile::open((dir / "missing.safetensors").string()), ds::IoError);
    CHECK_THROWS_AS(SafetensorsFile::open(dir.path().string()), ds::IoError);  // a folder
    std::ofstream(dir / "empty.safetensors").close();
    CHECK_THROWS_AS(SafetensorsFile::open((dir / "empty.safetensors").string()), ds::DataError);
    std::ofstream(dir / "text.safetensors") << "hello, this is not a checkpoint";
    CHECK_THROWS_WITH(SafetensorsFile::open((dir / "text.safetensors").string()),
                      Contains("text.safetensors"));
    write_safetensors((dir / "ok.safetensors").string(), {{"a", torch::ones({1})}});
    const auto f = SafetensorsFile::open((dir / "ok.safetensors").string());
    CHECK_FALSE(f.contains("b"));
    CHECK_THROWS_AS(f.info("b"), ds::DataError);
    CHECK_THROWS_WITH(f.tensor("b"), Contains("'b'") && Contains("ok.safetensors"));
}

TEST_CASE("SafetensorsFile moves keep the mapping alive", "[io][safetensors]") {
    const TempDir dir("move");
    const auto path = (dir / "m.safetensors").string();
    write_safetensors(path, {{"a", torch::arange(4, torch::kFloat32)}});
    auto first = SafetensorsFile::open(path);
    SafetensorsFile second = std::move(first);
    CHECK(torch::equal(second.tensor("a"), torch::arange(4, torch::kFloat32)));
    auto third = SafetensorsFile::open(path);
    third = std::move(second);
    CHECK(torch::equal(third.tensor("a"), torch::arange(4, torch::kFloat32)));
}

// ---- validation: one case per rule -----------------------------------------------------------

TEST_CASE("invalid: file shorter than 8 bytes", "[io][safetensors]") {
    expect_invalid({1, 2, 3, 4}, "shorter than the 8-byte header length");
    expect_invalid({}, "shorter than the 8-byte header length");
}

TEST_CASE("invalid: header length 0", "[io][safetensors]") {
    expect_invalid(make_file("", 16), "header length is 0");
}

TEST_CASE("invalid: header length over 100 MB", "[io][safetensors]") {
    auto bytes = u64_le(100'000'001);
    bytes.resize(64, ' ');
    expect_invalid(bytes, "exceeds the 100 MB limit");
    expect_invalid(u64_le(~std::uint64_t(0)), "exceeds the 100 MB limit");
}

TEST_CASE("invalid: header runs past the end of the file", "[io][safetensors]") {
    auto bytes = u64_le(200);
    const std::string header = "{}";
    bytes.insert(bytes.end(), header.begin(), header.end());
    expect_invalid(bytes, "runs past the end");
}

TEST_CASE("invalid: header is not JSON", "[io][safetensors]") {
    expect_invalid_header("{not json", 0, "not valid JSON");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}} x)", 0,
                          "not valid JSON");
}

TEST_CASE("invalid: header is not an object", "[io][safetensors]") {
    expect_invalid_header("[1,2]", 0, "not a JSON object");
    expect_invalid_header(R"("text")", 0, "not a JSON object");
}

TEST_CASE("invalid: header is not UTF-8", "[io][safetensors]") {
    expect_invalid_header("{\"\xff\":{}}", 0, "not valid UTF-8");
    expect_invalid_header("{\"\xc0\xaf\":{}}", 0, "not valid UTF-8");      // overlong '/'
    expect_invalid_header("{\"\xed\xa0\x80\":{}}", 0, "not valid UTF-8");  // surrogate
    expect_invalid_header("{\"\xe2\x82", 0, "not valid UTF-8");            // cut short
}

TEST_CASE("invalid: tensor entry is not an object", "[io][safetensors]") {
    expect_invalid_header(R"({"a":[1,2]})", 0, "entry is not an object", "a");
}

TEST_CASE("invalid: missing or ill-typed dtype", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4, "\"dtype\"", "a");
    expect_invalid_header(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4, "\"dtype\"",
                          "a");
}

TEST_CASE("invalid: missing or ill-typed shape", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4, "\"shape\"", "a");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", 4, "\"shape\"",
                          "a");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4,
                          "not a dimension", "a");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", 4,
                          "not a dimension", "a");
}

TEST_CASE("invalid: missing or ill-typed data_offsets", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2]}})", 8, "\"data_offsets\"", "a");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8,
                          "\"data_offsets\"", "a");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8,
                          "\"data_offsets\"", "a");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8,
                          "not non-negative integers", "a");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", 8,
                          "not non-negative integers", "a");
}

TEST_CASE("invalid: unknown dtype names the dtype, the tensor and the file", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2,
                          "unsupported dtype 'F8_E4M3'", "a");
    expect_invalid_header(R"({"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", 8,
                          "unsupported dtype 'f32'", "a");
}

TEST_CASE("invalid: negative dimension", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8,
                          "negative dimension", "a");
}

TEST_CASE("invalid: shape product overflows", "[io][safetensors]") {
    expect_invalid_header(
        R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8,
        "overflows", "a");
    // Each dimension fits in int64, the product does not, even with a zero elsewhere.
    expect_invalid_header(
        R"({"a":{"dtype":"U8","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}})", 0,
        "overflows", "a");
    // Elements fit in int64 but their bytes do not fit in 64 bits.
    expect_invalid_header(
        R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8,
        "needs too many bytes", "a");
    expect_invalid_header(
        R"({"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}})", 8,
        "not a dimension", "a");
}

TEST_CASE("invalid: begin offset after end offset", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8,
                          "begin 8 > end 0", "a");
}

TEST_CASE("invalid: offsets beyond the data section", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8,
                          "run past the end of the 8-byte data section", "a");
    expect_invalid_header(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,)"
                          R"(18446744073709551615]}})",
                          8, "run past the end", "a");
}

TEST_CASE("invalid: shape x dtype size differs from the byte range", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 16,
                          "needs 12 bytes but data_offsets span 8", "a");
    expect_invalid_header(R"({"a":{"dtype":"BF16","shape":[],"data_offsets":[0,4]}})", 4,
                          "needs 2 bytes", "a");
}

TEST_CASE("invalid: overlapping tensors", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          16, "overlap", "b");
    expect_invalid_header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                          4, "overlap", "a");
}

TEST_CASE("invalid: duplicate tensor names", "[io][safetensors]") {
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          16, "appears twice", "a");
}

TEST_CASE("invalid: __metadata__ not an object of strings", "[io][safetensors]") {
    expect_invalid_header(R"({"__metadata__":{"k":3}})", 0, "value for key 'k' is not a string");
    expect_invalid_header(R"({"__metadata__":{"k":{"nested":"x"}}})", 0, "is not a string");
    expect_invalid_header(R"({"__metadata__":["k"]})", 0, "__metadata__ is not an object");
}

TEST_CASE("invalid: deeply nested values are reported, not recursed into", "[io][safetensors]") {
    // Deep enough to overflow an 8 MB stack if anything walked it recursively.
    constexpr std::size_t kDepth = 200'000;
    const std::string deep = std::string(kDepth, '[') + std::string(kDepth, ']');
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[)" + deep + R"(],"data_offsets":[0,4]}})",
                          4, "shape holds an array", "a");
    expect_invalid_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[)" + deep + ",4]}}", 4,
                          "data_offsets [an array, 4]", "a");
    expect_invalid_header(R"({"__metadata__":{"k":)" + deep + "}}", 0, "is not a string");
    expect_invalid_header(deep, 0, "not a JSON object");
}

TEST_CASE("valid edge cases parse", "[io][safetensors]") {
    // No tensors at all; a header padded with spaces; empty tensors anywhere; gaps in the data.
    const auto only_meta = make_file(R"({"__metadata__":{"k":"v"}}      )", 0);
    const auto h = parse_safetensors(only_meta.data(), only_meta.size(), "m");
    CHECK(h.tensors.empty());
    CHECK(h.metadata.at("k") == "v");
    CHECK(h.data_start == only_meta.size());
    const auto gaps = make_file(R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},)"
                                R"("a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                                6);
    const auto g = parse_safetensors(gaps.data(), gaps.size(), "g");
    REQUIRE(g.tensors.size() == 2);
    CHECK(g.tensors[0].name == "e");
    CHECK(g.tensors[1].begin == g.data_start + 2);
}

// ---- atomic writer -------------------------------------------------------------------------

TEST_CASE("a failed write keeps the old file and leaves no temp file", "[io][safetensors]") {
    const TempDir dir("atomic");
    const auto path = dir / "model.safetensors";
    write_safetensors(path.string(), {{"a", torch::ones({2})}});
    const std::string before = read_all(path);
    const auto complex = torch::zeros({2}, torch::kComplexFloat);
    CHECK_THROWS_AS(write_safetensors(path.string(), {{"a", torch::ones({3})}, {"c", complex}}),
                    ds::InvalidRequest);
    CHECK_THROWS_WITH(write_safetensors(path.string(), {{"c", complex}}),
                      Contains("'c'") && Contains("model.safetensors"));
    CHECK_THROWS_AS(write_safetensors(path.string(), {{"a", torch::ones({1})}},
                                      {{"bad", std::string("\xff\xfe")}}),
                    ds::InvalidRequest);
    CHECK_THROWS_AS(
        write_safetensors(path.string(), {{"a", torch::ones({1})}, {"a", torch::ones({1})}}),
        ds::InvalidRequest);
    CHECK_THROWS_AS(write_safetensors(path.string(), {{"__metadata__", torch::ones({1})}}),
                    ds::InvalidRequest);
    CHECK(read_all(path) == before);
    std::vector<std::string> entries;
    for (const auto& e : fs::directory_iterator(dir.path()))
        entries.push_back(e.path().filename().string());
    CHECK(entries == std::vector<std::string>{"model.safetensors"});
    CHECK(torch::equal(SafetensorsFile::open(path.string()).tensor("a"), torch::ones({2})));
    // Writing into a missing folder is an OS error, not a data error.
    CHECK_THROWS_AS(
        write_safetensors((dir / "no/x.safetensors").string(), {{"a", torch::ones({1})}}),
        ds::IoError);
}

namespace {
std::string zero_size_entries(std::size_t n) {
    std::string h = "{";
    for (std::size_t i = 0; i < n; ++i) {
        if (i) h += ",";
        h += "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
    }
    return h + "}";
}
}  // namespace

TEST_CASE("headers with many entries parse in linear time up to the documented limit", "[io][safetensors]") {
    // Issue 23: nlohmann's parse callback made 100,000 zero-size entries take > 120 s (quadratic).
    // The limit itself must parse (in well under a second here; no timing asserted).
    const auto at_limit = make_file(zero_size_entries(ds::io::kMaxSafetensorsEntries), 0);
    const auto parsed = parse_safetensors(at_limit.data(), at_limit.size(), "many.safetensors");
    CHECK(parsed.tensors.size() == ds::io::kMaxSafetensorsEntries);
    CHECK(parsed.tensors.front().name == "t0");
    CHECK(parsed.tensors.back().name == "t" + std::to_string(ds::io::kMaxSafetensorsEntries - 1));
    // One more is refused before its JSON is parsed, naming the limit.
    expect_invalid(make_file(zero_size_entries(ds::io::kMaxSafetensorsEntries + 1), 0), "more than 100000 entries");
}

TEST_CASE("invalid: duplicate names written with different escapes", "[io][safetensors]") {
    expect_invalid_header(R"({"A":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("\u0041":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                          8, "appears twice", "A");
    // Keys inside nested objects and strings holding braces or quotes are not top-level names.
    const std::string ok = R"({"__metadata__":{"x":"{\"a\":1}","y":"}]"},)"
                           R"("b\"c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    const auto bytes = make_file(ok, 4);
    const auto parsed = parse_safetensors(bytes.data(), bytes.size(), "ok.safetensors");
    REQUIRE(parsed.tensors.size() == 1);
    CHECK(parsed.tensors[0].name == "b\"c");
    CHECK(parsed.metadata.at("x") == "{\"a\":1}");
}
