// Fuzzes the safetensors header validator; on success every tensor's bytes are read, so an
// out-of-range offset that slipped through shows up under AddressSanitizer.
#include <cstddef>
#include <cstdint>

#include "core/engine/errors.h"
#include "core/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto h = ds::io::parse_safetensors(data, size, "fuzz");
        unsigned sum = 0;
        for (const auto& t : h.tensors)
            for (std::uint64_t i = t.begin; i < t.end; ++i) sum += data[i];
        return sum == 0xdeadbeef ? 1 : 0;
    } catch (const ds::Error&) {
        return 0;
    }
}
