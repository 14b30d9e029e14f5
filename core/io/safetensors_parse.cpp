// Torch-free validation of a safetensors header, shared by SafetensorsFile and the fuzz target.
// The input is untrusted (downloaded checkpoints): every length and offset is checked before it
// is used, and no byte outside [data, data + size) is ever read.
#include <algorithm>
#include <limits>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"
#include "core/io/text_checks.h"

namespace ds::io {
namespace {

using Json = nlohmann::json;

struct DTypeEntry {
    const char* name;
    DType dtype;
    std::size_t size;
};
constexpr DTypeEntry kDTypes[] = {{"F64", DType::F64, 8}, {"F32", DType::F32, 4},
                                  {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2},
                                  {"I64", DType::I64, 8}, {"I32", DType::I32, 4},
                                  {"I16", DType::I16, 2}, {"I8", DType::I8, 1},
                                  {"U8", DType::U8, 1},   {"BOOL", DType::Bool, 1}};

// Real headers are well under 1 MB (IF-I-XL: ~60 KB); the cap stops a corrupt length field from
// making us parse (and allocate for) gigabytes of "JSON".
constexpr std::uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;
// Names and parser messages quote the file; long ones are cut so an error stays readable.
constexpr std::size_t kMaxNameChars = 120;
constexpr std::size_t kMaxParserMessageChars = 400;
constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

const char* const kCorruptAdvice =
    " (the file is corrupt, truncated or not a safetensors file; re-download or re-export it)";

// Quotes untrusted text for a message: control and non-ASCII bytes become '?', long text is cut.
std::string printable(const std::string& text, std::size_t max_chars = kMaxNameChars) {
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < max_chars; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        out += (c < 0x20 || c >= 0x7f) ? '?' : static_cast<char>(c);
    }
    if (text.size() > max_chars)
        out += "...";
    return out + "'";
}

// Shapes come from the file too: a header can hold millions of dimensions.
constexpr std::size_t kMaxShapeDims = 8;

std::string shape_text(const std::vector<std::int64_t>& shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size() && i < kMaxShapeDims; ++i)
        out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + (shape.size() > kMaxShapeDims ? ", ...]" : "]");
}

// Names a JSON value for a message. Arrays and objects are never dumped: nlohmann's serializer
// recurses, so a deeply nested value from a hostile header would overflow the stack.
std::string describe(const Json& value) {
    if (value.is_string())
        return printable(value.get_ref<const std::string&>());
    if (value.is_primitive())
        return value.dump();  // number, boolean or null: flat
    return std::string("an ") + value.type_name();
}

[[noreturn]] void fail(const std::string& what, const std::string& problem) {
    throw DataError(what + ": " + problem + kCorruptAdvice);
}

[[noreturn]] void fail_tensor(const std::string& what,
                              const std::string& name,
                              const std::string& problem) {
    fail(what, "tensor " + printable(name) + ": " + problem);
}

std::uint64_t read_u64_le(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

struct HeaderJson {
    Json json;
    std::vector<std::string> key_order;  // top-level keys in file order
};

// The raw text of each top-level key of the header (quotes included), in file order, found by
// one linear pass that skips strings and counts nesting. Stops with a DataError past kMaxEntries
// keys, before any JSON value is built.
std::vector<std::pair<std::uint64_t, std::uint64_t>> top_level_keys(const std::uint8_t* s, std::uint64_t n,
                                                                    const std::string& what) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> keys;
    int depth = 0;
    bool object = false, expect_key = false;
    for (std::uint64_t i = 0; i < n; ++i) {
        const char c = static_cast<char>(s[i]);
        if (c == '"') {
            const std::uint64_t begin = i;
            for (++i; i < n && s[i] != '"'; ++i)
                if (s[i] == '\\') ++i;
            if (depth == 1 && object && expect_key) {
                if (keys.size() == kMaxSafetensorsEntries)
                    fail(what, "header has more than " + std::to_string(kMaxSafetensorsEntries) +
                                   " entries, the limit for one file (shard larger models with an index)");
                keys.emplace_back(begin, std::min(i + 1, n));
                expect_key = false;
            }
        } else if (c == '{' || c == '[') {
            if (depth == 0) object = c == '{';
            ++depth;
            if (depth == 1) expect_key = object;
        } else if (c == '}' || c == ']') {
            --depth;
        } else if (c == ',' && depth == 1) {
            expect_key = object;
        }
    }
    return keys;
}

// Parses the header text. nlohmann keeps the last of duplicate keys silently (a duplicated
// tensor name would hide a tensor) and iterates objects in sorted order, so the top-level keys
// are found in the text first: too many are refused before parsing, duplicates are rejected and
// tensors() keeps file order. Linear in the header (nlohmann's parse callbacks, used before, made
// a 100,000-entry header quadratic: minutes).
HeaderJson parse_json(const std::uint8_t* first, std::uint64_t n, const std::string& what) {
    const std::uint64_t bad = first_invalid_utf8(first, n);
    if (bad != n)
        fail(what, "header is not valid UTF-8 (byte " + std::to_string(bad) + " of the header)");
    const auto raw_keys = top_level_keys(first, n, what);
    HeaderJson out;
    try {
        out.json = Json::parse(first, first + n);
    } catch (const Json::exception& e) {
        fail(what, "header is not valid JSON: " + printable(e.what(), kMaxParserMessageChars));
    }
    if (!out.json.is_object())
        fail(what, "header is not a JSON object");
    std::unordered_set<std::string> seen;
    seen.reserve(raw_keys.size());
    out.key_order.reserve(raw_keys.size());
    for (const auto& [b, e] : raw_keys) {
        std::string key;
        try {  // decodes the escapes: "\\u0041" and "A" are the same name
            key = Json::parse(first + b, first + e).get<std::string>();
        } catch (const Json::exception& ex) {
            fail(what, "header is not valid JSON: " + printable(ex.what(), kMaxParserMessageChars));
        }
        if (!seen.insert(key).second)
            fail(what, "tensor name " + printable(key) + " appears twice in the header");
        out.key_order.push_back(std::move(key));
    }
    if (out.key_order.size() != out.json.size())
        fail(what, "header keys could not be matched to its JSON object");
    return out;
}

const DTypeEntry& parse_dtype(const Json& entry, const std::string& what, const std::string& name) {
    const auto it = entry.find("dtype");
    if (it == entry.end() || !it->is_string())
        fail_tensor(what, name, "\"dtype\" is missing or not a string");
    const auto& text = it->get_ref<const std::string&>();
    for (const auto& d : kDTypes)
        if (text == d.name)
            return d;
    throw DataError(what + ": tensor " + printable(name) + " has unsupported dtype " +
                    printable(text) +
                    " (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL); convert the "
                    "checkpoint to one of these, e.g. with the Python safetensors package");
}

// Fills t.shape and returns the element count. The count is checked against int64 over the
// non-zero dimensions, so the verdict does not depend on where a zero dimension sits.
std::uint64_t parse_shape(const Json& entry, TensorInfo& t, const std::string& what) {
    const auto it = entry.find("shape");
    if (it == entry.end() || !it->is_array())
        fail_tensor(what, t.name, "\"shape\" is missing or not an array");
    std::uint64_t nonzero_product = 1;
    bool has_zero = false;
    for (const auto& d : *it) {
        if (d.is_number_integer() && !d.is_number_unsigned())
            fail_tensor(what, t.name, "shape has a negative dimension " + describe(d));
        if (!d.is_number_unsigned() || d.get<std::uint64_t>() > std::uint64_t(kMaxInt64))
            fail_tensor(what, t.name, "shape holds " + describe(d) + ", not a dimension");
        const auto dim = d.get<std::uint64_t>();
        t.shape.push_back(static_cast<std::int64_t>(dim));
        if (dim == 0) {
            has_zero = true;
        } else {
            if (nonzero_product > std::uint64_t(kMaxInt64) / dim)
                fail_tensor(what, t.name, "shape product overflows 64 bits");
            nonzero_product *= dim;
        }
    }
    return has_zero ? 0 : nonzero_product;
}

// Returns [begin, end) relative to the data section.
std::pair<std::uint64_t, std::uint64_t> parse_offsets(const Json& entry,
                                                      const std::string& what,
                                                      const std::string& name) {
    const auto it = entry.find("data_offsets");
    if (it == entry.end() || !it->is_array() || it->size() != 2)
        fail_tensor(what, name, "\"data_offsets\" is missing or not a [begin, end] pair");
    const Json& b = (*it)[0];
    const Json& e = (*it)[1];
    if (!b.is_number_unsigned() || !e.is_number_unsigned())
        fail_tensor(what, name,
                    "data_offsets [" + describe(b) + ", " + describe(e) +
                        "] are not non-negative integers");
    return {b.get<std::uint64_t>(), e.get<std::uint64_t>()};
}

TensorInfo parse_entry(const std::string& name,
                       const Json& entry,
                       std::uint64_t data_start,
                       std::uint64_t data_size,
                       const std::string& what) {
    if (!entry.is_object())
        fail_tensor(what, name, "entry is not an object");
    TensorInfo t;
    t.name = name;
    const DTypeEntry& dtype = parse_dtype(entry, what, name);
    t.dtype = dtype.dtype;
    const std::uint64_t count = parse_shape(entry, t, what);
    const auto [begin, end] = parse_offsets(entry, what, name);
    if (begin > end)
        fail_tensor(
            what, name,
            "data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > data_size)
        fail_tensor(what, name,
                    "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") run past the end of the " + std::to_string(data_size) +
                        "-byte data section");
    // end - begin <= data_size, so a count too large for this multiplication mismatches anyway.
    const bool fits = count <= std::numeric_limits<std::uint64_t>::max() / dtype.size;
    if (!fits || count * dtype.size != end - begin) {
        const std::string needed = fits ? std::to_string(count * dtype.size) : "too many";
        fail_tensor(what, name,
                    "shape " + shape_text(t.shape) + " x " + dtype.name + " needs " + needed +
                        " bytes but data_offsets span " + std::to_string(end - begin));
    }
    t.begin = data_start + begin;
    t.end = data_start + end;
    return t;
}

void parse_metadata(const Json& value,
                    std::map<std::string, std::string>& out,
                    const std::string& what) {
    if (!value.is_object())
        fail(what, "__metadata__ is not an object of strings");
    for (auto it = value.begin(); it != value.end(); ++it) {
        if (!it.value().is_string())
            fail(what, "__metadata__ value for key " + printable(it.key()) + " is not a string");
        out[it.key()] = it.value().get<std::string>();
    }
}

// Two tensors sharing bytes would alias once loaded; empty tensors own no bytes.
void check_overlaps(const std::vector<TensorInfo>& tensors, const std::string& what) {
    std::vector<const TensorInfo*> by_begin;
    for (const auto& t : tensors)
        if (t.end > t.begin)
            by_begin.push_back(&t);
    std::sort(by_begin.begin(), by_begin.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < by_begin.size(); ++i)
        if (by_begin[i]->begin < by_begin[i - 1]->end)
            fail(what, "tensors " + printable(by_begin[i - 1]->name) + " and " +
                           printable(by_begin[i]->name) + " overlap in the data section");
}

}  // namespace

std::size_t dtype_size(DType dtype) {
    for (const auto& d : kDTypes)
        if (d.dtype == dtype)
            return d.size;
    return 0;
}

const char* dtype_name(DType dtype) {
    for (const auto& d : kDTypes)
        if (d.dtype == dtype)
            return d.name;
    return "?";
}

std::int64_t TensorInfo::numel() const {
    std::int64_t n = 1;
    for (const auto d : shape)
        n *= d;
    return n;
}

ParsedHeader parse_safetensors(const std::uint8_t* data,
                               std::uint64_t size,
                               const std::string& what) {
    if (size < 8)
        fail(what,
             "file has " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
    const std::uint64_t n = read_u64_le(data);
    if (n == 0)
        fail(what, "header length is 0");
    if (n > kMaxHeaderBytes)
        fail(what, "header length " + std::to_string(n) + " exceeds the 100 MB limit");
    if (n > size - 8)
        fail(what, "header length " + std::to_string(n) + " runs past the end of the " +
                       std::to_string(size) + "-byte file");
    ParsedHeader out;
    out.data_start = 8 + n;
    const std::uint64_t data_size = size - out.data_start;
    const HeaderJson header = parse_json(data + 8, n, what);
    out.tensors.reserve(header.key_order.size());
    for (const auto& key : header.key_order) {
        const Json& value = header.json.at(key);
        if (key == "__metadata__")
            parse_metadata(value, out.metadata, what);
        else
            out.tensors.push_back(parse_entry(key, value, out.data_start, data_size, what));
    }
    check_overlaps(out.tensors, what);
    return out;
}

}  // namespace ds::io
