// Fuzzes the IDX parser; the payload is touched so over-reads show up under AddressSanitizer.
#include <cstddef>
#include <cstdint>

#include "core/data/idx.h"
#include "core/engine/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto a = ds::data::parse_idx(data, size, "fuzz");
        unsigned sum = 0;
        for (auto b : a.bytes) sum += b;
        return sum == 0xdeadbeef ? 1 : 0;
    } catch (const ds::Error&) {
        return 0;
    }
}
