// The fuzz targets' checks, one function per parser of untrusted input. libFuzzer binaries
// (tests/fuzz/CMakeLists.txt, clang) call one of them per input; the default test suite replays
// the committed corpus (tests/fuzz/corpus/<target>/) through the same functions with any
// compiler. Each input must be accepted with self-consistent results or refused with
// ds::DataError / ds::ModelLoadError; anything else (another exception, a broken invariant:
// abort, an out-of-bounds read under ASan) is a finding.
#include "tests/fuzz/fuzz_targets.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/data/idx.h"
#include "core/engine/errors.h"
#include "core/engine/recipe.h"
#include "core/io/bounded_json.h"
#include "core/io/png_text.h"
#include "core/io/safetensors.h"
#include "core/io/text_checks.h"
#include "core/models/if_config.h"

namespace ds::fuzz {
namespace {

// Invariants, not recoverable errors: abort so libFuzzer saves the input.
void require(bool ok) {
    if (!ok)
        std::abort();
}

void check_layout(const ds::io::ParsedHeader& h, std::uint64_t size) {
    require(h.data_start >= 8 && h.data_start <= size);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const auto& t : h.tensors) {
        require(t.begin >= h.data_start && t.begin <= t.end && t.end <= size);
        const std::int64_t numel = t.numel();
        require(numel >= 0);
        require(std::uint64_t(numel) * ds::io::dtype_size(t.dtype) == t.end - t.begin);
        if (t.end > t.begin)
            ranges.emplace_back(t.begin, t.end);
    }
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i)
        require(ranges[i].first >= ranges[i - 1].second);
}

// Parses `data` and, if it is accepted, checks the layout and reads every tensor byte.
bool parse_and_touch(const std::uint8_t* data, std::size_t size) {
    ds::io::ParsedHeader h;
    try {
        h = ds::io::parse_safetensors(data, size, "fuzz input");
    } catch (const ds::DataError&) {
        return false;
    }
    check_layout(h, size);
    // volatile keeps the reads from being optimised away.
    volatile std::uint8_t sink = 0;
    for (const auto& t : h.tensors)
        for (std::uint64_t i = t.begin; i < t.end; ++i)
            sink = static_cast<std::uint8_t>(sink + data[i]);
    (void)sink;
    return true;
}


}  // namespace

int safetensors(const std::uint8_t* data, std::size_t size) {
    if (!parse_and_touch(data, size))
        return 0;
    // A truncated download is the commonest real corruption, and random mutation rarely cuts
    // exactly the data section, so every accepted input is also tried cut short. Exact-size
    // copies let AddressSanitizer see a read past the shorter end.
    for (const std::size_t cut : {size - 1, size / 2, std::min<std::size_t>(size, 16)}) {
        const std::vector<std::uint8_t> prefix(data, data + cut);
        parse_and_touch(prefix.data(), prefix.size());
    }
    return 0;
}

int idx(const std::uint8_t* data, std::size_t size) {
    ds::data::IdxArray a;
    try {
        a = ds::data::parse_idx(data, size, "fuzz input");
    } catch (const ds::DataError&) {
        return 0;
    }
    // A successful parse must account for every input byte and agree with its own header.
    const std::size_t esize = ds::data::idx_element_size(a.type);
    require(esize != 0);
    require(!a.dims.empty() && a.dims.size() == data[3]);
    require(a.bytes.size() == a.count() * esize);
    require(4 + 4 * a.dims.size() + a.bytes.size() == size);
    // Touch every payload byte so a short buffer shows up under AddressSanitizer.
    volatile std::uint8_t sink = 0;
    for (std::uint8_t b : a.bytes)
        sink = static_cast<std::uint8_t>(sink ^ b);
    (void)sink;
    return 0;
}

int idx_file(const std::uint8_t* data, std::size_t size) {
    // Plain or gzip (1f 8b): the whole read_idx_file path after the disk read, with a small
    // budget so the fuzzer also explores the refusals.
    ds::data::IdxFile f;
    try {
        f = ds::data::decode_idx_file(std::vector<std::uint8_t>(data, data + size), "fuzz input", 1 << 20);
    } catch (const DataError&) {
        return 0;
    }
    require(f.header.payload_bytes <= (1u << 20));
    require(f.bytes.size() == f.header.header_bytes + f.header.payload_bytes);
    volatile std::uint8_t sink = 0;
    for (std::size_t i = 0; i < f.header.payload_bytes; ++i)
        sink = static_cast<std::uint8_t>(sink ^ f.payload()[i]);
    (void)sink;
    return 0;
}

int png_text(const std::uint8_t* data, std::size_t size) {
    std::vector<std::pair<std::string, std::string>> pairs;
    try {
        pairs = io::parse_png_text(data, size, "fuzz input");
    } catch (const DataError&) {
        return 0;
    }
    std::size_t total = 0;
    for (const auto& [k, v] : pairs) {
        require(!k.empty() && io::is_valid_utf8(k) && io::is_valid_utf8(v));
        require(v.size() <= io::kMaxInflatedText);
        total += k.size() + v.size();
    }
    (void)total;
    return 0;
}

int recipe(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    Recipe r;
    try {
        r = parse_recipe(text, "fuzz input");
    } catch (const DataError&) {
        return 0;
    }
    // An accepted recipe names an allowed technique and command and never an output option.
    const auto& t = recipe_techniques();
    require(std::find(t.begin(), t.end(), r.technique) != t.end());
    if (!r.command.empty()) {
        const auto& c = replayable_commands();
        require(std::find(c.begin(), c.end(), r.command) != c.end());
    }
    require(r.argv.size() <= kMaxRecipeArgs);
    for (const auto& a : r.argv) {
        require(a.size() <= kMaxRecipeText);
        for (const char* bad : {"--out", "--gif", "--raw"})
            require(a.rfind(std::string(bad) + "=", 0) != 0 && a != bad);
    }
    return 0;
}

int if_config(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    models::IfUNetConfig c;
    try {
        c = models::IfUNetConfig::from_json_text(text, "fuzz input");
    } catch (const ModelLoadError&) {
        return 0;
    }
    // What IfUNet derives weight shapes from is in range.
    require(!c.block_out_channels.empty() && c.block_out_channels.size() <= 8);
    require(c.layers_per_block.size() == c.block_out_channels.size());
    require(c.groups >= 1 && c.attention_head_dim >= 1 && c.pool_heads >= 1);
    for (int ch : c.block_out_channels) require(ch >= 1 && ch <= 16384 && ch % c.groups == 0);
    return 0;
}

}  // namespace ds::fuzz
