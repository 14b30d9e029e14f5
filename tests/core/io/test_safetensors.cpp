// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"

namespace fs = std::filesystem;
using namespace ds::io;

namespace {
fs::path tmp(const std::string& name) { return fs::temp_directory_path() / ("ds_st_" + name); }

std::vector<std::uint8_t> make_file(const std::string& header, std::size_t data_bytes) {
    std::string h = header;
    std::vector<std::uint8_t> out(8);
    std::uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) out[i] = std::uint8_t(n >> (8 * i));
    out.insert(out.end(), h.begin(), h.end());
    out.resize(out.size() + data_bytes, 0);
    return out;
}

void expect_error(const std::string& header, std::size_t data, const std::string& fragment) {
    auto bytes = make_file(header, data);
    INFO(header);
    CHECK_THROWS_WITH(parse_safetensors(bytes.data(), bytes.size(), "t"), Catch::Contains(fragment));
    CHECK_THROWS_AS(parse_safetensors(bytes.data(), bytes.size(), "t"), ds::DataError);
}
}  // namespace

TEST_CASE("safetensors round trip of every dtype with metadata", "[io][safetensors]") {
    const auto path = tmp("roundtrip.safetensors").string();
    std::vector<std::pair<std::string, at::Tensor>> ts = {
        {"f32", torch::randn({2, 3})},
        {"f64", torch::randn({4}, torch::kFloat64)},
        {"f16", torch::randn({3, 1}).to(torch::kFloat16)},
        {"bf16", torch::randn({5}).to(torch::kBFloat16)},
        {"i64", torch::arange(6, torch::kLong).view({2, 3})},
        {"i32", torch::tensor({-1, 2}, torch::kInt32)},
        {"i16", torch::tensor({7}, torch::kInt16)},
        {"i8", torch::tensor({-8}, torch::kInt8)},
        {"u8", torch::tensor({255}, torch::kUInt8)},
        {"b", torch::tensor({true, false})},
        {"scalar", torch::tensor(3.5)},
        {"empty", torch::zeros({0, 4})},
    };
    write_safetensors(path, ts, {{"k", "v"}, {"json", "{\"a\":1}"}});
    auto f = SafetensorsFile::open(path);
    CHECK(f.metadata().at("k") == "v");
    CHECK(f.metadata().at("json") == "{\"a\":1}");
    CHECK(f.tensors().size() == ts.size());
    for (auto& [name, t] : ts) {
        INFO(name);
        auto r = f.tensor(name);
        CHECK(r.scalar_type() == t.scalar_type());
        CHECK(r.sizes() == t.sizes());
        CHECK(torch::equal(r, t));
    }
    CHECK(f.tensor("f16", torch::kFloat32).scalar_type() == torch::kFloat32);
    // Header length is a multiple of 8 so the data section is aligned.
    std::ifstream in(path, std::ios::binary);
    std::uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    CHECK(n % 8 == 0);
    CHECK_THROWS_AS(f.info("nope"), ds::DataError);
}

TEST_CASE("reads the diffusers fixture checkpoint", "[io][safetensors]") {
    auto f = SafetensorsFile::open(std::string(DS_FIXTURES_DIR) + "/if_stage1_unet_tiny/diffusion_pytorch_model.safetensors");
    CHECK(f.tensors().size() == 199);
    std::int64_t params = 0;
    for (const auto& t : f.tensors()) params += t.numel();
    CHECK(params == 854310);
    CHECK(f.tensor("conv_in.weight").sizes() == std::vector<std::int64_t>{32, 3, 3, 3});
}

TEST_CASE("sharded sets via index.json (both namings)", "[io][safetensors]") {
    auto dir = tmp("sharded");
    fs::remove_all(dir);
    fs::create_directories(dir);
    write_safetensors((dir / "a.safetensors").string(), {{"x", torch::ones({2})}});
    write_safetensors((dir / "b.safetensors").string(), {{"y", torch::zeros({3})}});
    const std::string idx = R"({"metadata":{"total_size":20},"weight_map":{"x":"a.safetensors","y":"b.safetensors"}})";
    for (auto name : {"model.safetensors.index.json", "model.safetensors.index.fp16.json"}) {
        std::ofstream(dir / name) << idx;
        auto s = SafetensorsSet::open((dir / name).string());
        CHECK(s.names() == std::vector<std::string>{"x", "y"});
        CHECK(torch::equal(s.tensor("y"), torch::zeros({3})));
    }
    std::ofstream(dir / "bad.index.json") << R"({"weight_map":{"x":"missing.safetensors"}})";
    CHECK_THROWS_AS(SafetensorsSet::open((dir / "bad.index.json").string()), ds::IoError);
    std::ofstream(dir / "wrong.index.json") << R"({"weight_map":{"z":"a.safetensors"}})";
    CHECK_THROWS_AS(SafetensorsSet::open((dir / "wrong.index.json").string()), ds::DataError);
}

TEST_CASE("safetensors validation rejects malformed files", "[io][safetensors]") {
    std::uint8_t short_file[4] = {};
    CHECK_THROWS_AS(parse_safetensors(short_file, 4, "t"), ds::DataError);
    std::vector<std::uint8_t> huge(16, 0);
    huge[7] = 0x10;  // header length 2^60
    CHECK_THROWS_WITH(parse_safetensors(huge.data(), huge.size(), "t"), Catch::Contains("100 MB"));
    std::vector<std::uint8_t> past(16, 0);
    past[0] = 200;
    CHECK_THROWS_WITH(parse_safetensors(past.data(), past.size(), "t"), Catch::Contains("past the end"));
    expect_error("{not json", 0, "not valid JSON");
    expect_error("[1,2]", 0, "not a JSON object");
    expect_error(R"({"a":{"dtype":"F32","shape":[2]}})", 8, "data_offsets");
    expect_error(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8, "unsupported dtype");
    expect_error(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "negative");
    expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "begin offset");
    expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8, "outside");
    expect_error(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 16, "needs 12 bytes");
    expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 16, "overlap");
    expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16, "twice");
    expect_error(R"({"__metadata__":{"k":3}})", 0, "not a string");
    expect_error(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", 8, "too large");
}

TEST_CASE("atomic write keeps the old file when writing fails", "[io][safetensors]") {
    const auto path = tmp("atomic.safetensors");
    write_safetensors(path.string(), {{"a", torch::ones({2})}});
    const auto size = fs::file_size(path);
    auto complex = torch::zeros({2}, torch::kComplexFloat);
    CHECK_THROWS_AS(write_safetensors(path.string(), {{"a", complex}}), ds::InvalidRequest);
    CHECK(fs::file_size(path) == size);
    CHECK(torch::equal(SafetensorsFile::open(path.string()).tensor("a"), torch::ones({2})));
    for (const auto& e : fs::directory_iterator(path.parent_path()))
        CHECK(e.path().filename().string().find("ds_st_atomic.safetensors.") == std::string::npos);
    CHECK_THROWS_AS(SafetensorsFile::open("/nonexistent/x.safetensors"), ds::IoError);
}
