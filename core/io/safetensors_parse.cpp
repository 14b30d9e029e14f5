// Torch-free validation of a safetensors header (shared by the reader and the fuzz target).
#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"

namespace ds::io {

namespace {
struct DTypeName {
    const char* name;
    DType dtype;
    std::size_t size;
};
constexpr DTypeName kDTypes[] = {{"F64", DType::F64, 8}, {"F32", DType::F32, 4}, {"F16", DType::F16, 2},
                                 {"BF16", DType::BF16, 2}, {"I64", DType::I64, 8}, {"I32", DType::I32, 4},
                                 {"I16", DType::I16, 2}, {"I8", DType::I8, 1}, {"U8", DType::U8, 1},
                                 {"BOOL", DType::Bool, 1}};
constexpr std::uint64_t kMaxHeader = 100ull << 20;  // 100 MB: real headers are < 1 MB
}  // namespace

std::size_t dtype_size(DType d) {
    for (const auto& e : kDTypes)
        if (e.dtype == d) return e.size;
    return 0;
}

const char* dtype_name(DType d) {
    for (const auto& e : kDTypes)
        if (e.dtype == d) return e.name;
    return "?";
}

std::int64_t TensorInfo::numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

ParsedHeader parse_safetensors(const std::uint8_t* data, std::uint64_t size, const std::string& what) {
    auto fail = [&](const std::string& m) {
        return DataError(what + ": " + m + " (corrupt or not a safetensors file)");
    };
    if (size < 8) throw fail("file is shorter than the 8-byte header length");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
    if (n == 0) throw fail("header length is 0");
    if (n > kMaxHeader) throw fail("header length " + std::to_string(n) + " exceeds 100 MB");
    if (n > size - 8) throw fail("header length " + std::to_string(n) + " runs past the end of the file");
    ParsedHeader out;
    out.data_start = 8 + n;
    const std::uint64_t data_size = size - out.data_start;
    nlohmann::json j;
    try {
        std::set<std::string> keys;
        bool duplicate = false;
        std::string dup_name;
        auto on_event = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
            if (depth == 1 && ev == nlohmann::json::parse_event_t::key) {
                auto k = parsed.get<std::string>();
                if (!keys.insert(k).second && !duplicate) {
                    duplicate = true;
                    dup_name = k;
                }
            }
            return true;
        };
        j = nlohmann::json::parse(data + 8, data + 8 + n, on_event);
        if (duplicate) throw fail("tensor name '" + dup_name + "' appears twice");
    } catch (const DataError&) {
        throw;
    } catch (const std::exception& e) {
        throw fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!j.is_object()) throw fail("header is not a JSON object");
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        const auto& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) throw fail("__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) throw fail("__metadata__ value '" + m.key() + "' is not a string");
                out.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        auto bad = [&](const std::string& m) { return fail("tensor '" + name + "': " + m); };
        if (!v.is_object()) throw bad("entry is not an object");
        if (!v.contains("dtype") || !v["dtype"].is_string()) throw bad("missing dtype");
        if (!v.contains("shape") || !v["shape"].is_array()) throw bad("missing shape");
        if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
            throw bad("missing data_offsets [begin, end]");
        TensorInfo t;
        t.name = name;
        const std::string dt = v["dtype"].get<std::string>();
        std::size_t esize = 0;
        for (const auto& e : kDTypes)
            if (dt == e.name) {
                t.dtype = e.dtype;
                esize = e.size;
            }
        if (!esize) throw bad("unsupported dtype '" + dt + "'");
        std::uint64_t count = 1;
        for (const auto& d : v["shape"]) {
            if (!d.is_number_integer() || d.get<std::int64_t>() < 0) throw bad("shape has a negative or non-integer dimension");
            const auto dim = d.get<std::uint64_t>();
            if (dim && count > (std::uint64_t(1) << 62) / dim) throw bad("shape is too large");
            count *= dim;
            t.shape.push_back(static_cast<std::int64_t>(dim));
        }
        const auto& off = v["data_offsets"];
        if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) throw bad("offsets must be non-negative integers");
        const auto b = off[0].get<std::uint64_t>(), e = off[1].get<std::uint64_t>();
        if (b > e) throw bad("begin offset is after end offset");
        if (e > data_size) throw bad("data range [" + std::to_string(b) + ", " + std::to_string(e) +
                                     ") lies outside the " + std::to_string(data_size) + "-byte data section");
        if (count > (std::uint64_t(1) << 62) / esize || count * esize != e - b)
            throw bad("shape x dtype needs " + std::to_string(count * esize) + " bytes but the offsets give " +
                      std::to_string(e - b));
        t.begin = out.data_start + b;
        t.end = out.data_start + e;
        if (b != e) ranges.emplace_back(b, e);
        out.tensors.push_back(std::move(t));
    }
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i)
        if (ranges[i].first < ranges[i - 1].second) throw fail("two tensors overlap in the data section");
    return out;
}

}  // namespace ds::io
