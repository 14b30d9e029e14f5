#include <algorithm>
#include <cstring>

#include "core/data/idx.h"
#include "core/engine/errors.h"

namespace ds::data {

namespace {
std::size_t type_size(std::uint8_t type) {
    switch (type) {
        case 0x08: case 0x09: return 1;
        case 0x0B: return 2;
        case 0x0C: case 0x0D: return 4;
        case 0x0E: return 8;
        default: return 0;
    }
}
}  // namespace

std::size_t IdxArray::count() const {
    std::size_t n = 1;
    for (auto d : dims) n *= d;
    return n;
}

IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& what) {
    auto fail = [&](const std::string& m) -> DataError {
        return DataError(what + ": " + m + " (not a valid IDX file; re-run scripts/setup.sh to fetch MNIST again)");
    };
    if (size < 4) throw fail("file is empty or shorter than the 4-byte IDX header");
    if (data[0] != 0 || data[1] != 0) throw fail("wrong magic number (first two bytes must be 0)");
    IdxArray a;
    a.type = data[2];
    const std::size_t esize = type_size(a.type);
    if (!esize) throw fail("unknown element type code 0x" + std::to_string(int(a.type)));
    const std::size_t nd = data[3];
    if (nd == 0) throw fail("zero dimensions");
    if (size < 4 + 4 * nd) throw fail("truncated header (" + std::to_string(nd) + " dimensions promised)");
    std::size_t count = 1;
    for (std::size_t i = 0; i < nd; ++i) {
        const std::uint8_t* p = data + 4 + 4 * i;
        std::uint32_t d = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
        a.dims.push_back(d);
        if (d != 0 && count > (std::size_t(1) << 40) / d) throw fail("dimensions too large");
        count *= d;
    }
    const std::size_t header = 4 + 4 * nd;
    const std::size_t need = count * esize;
    if (size - header < need)
        throw fail("truncated: header promises " + std::to_string(need) + " data bytes, file has " +
                   std::to_string(size - header));
    if (size - header > need)
        throw fail(std::to_string(size - header - need) + " unexpected trailing bytes");
    a.bytes.resize(need);
    if (need) std::memcpy(a.bytes.data(), data + header, need);
    if (esize > 1) {  // big-endian -> host (little-endian on every supported platform)
        for (std::size_t i = 0; i < need; i += esize)
            std::reverse(a.bytes.begin() + i, a.bytes.begin() + i + esize);
    }
    return a;
}

}  // namespace ds::data
