// libFuzzer target for ds::data::parse_idx. Any input must either parse into a self-consistent
// array or throw ds::DataError; ASan/UBSan catch out-of-bounds reads and overflow on the way.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/data/idx.h"
#include "core/engine/errors.h"

namespace {

// Fails loudly so libFuzzer saves the input: these are invariants, not recoverable errors.
void require(bool ok) {
    if (!ok)
        std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
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
