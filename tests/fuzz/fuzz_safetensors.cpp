// libFuzzer target for ds::io::parse_safetensors. Any input must either throw ds::DataError or
// parse into tensors whose byte ranges lie inside the input, match shape x dtype and do not
// overlap. Every accepted tensor byte is read, so an offset that slipped through shows up under
// AddressSanitizer; any other exception escapes and libFuzzer reports it as a crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"

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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
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
