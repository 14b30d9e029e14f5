// Torch-free, zlib-free IDX parsing: linked on its own into the fuzz_idx target.
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/data/idx.h"
#include "core/engine/errors.h"

namespace ds::data {

namespace {

constexpr std::size_t kMaxSize = std::numeric_limits<std::size_t>::max();

DataError bad_idx(const std::string& what, const std::string& problem) {
    return DataError(what + ": " + problem +
                     ". Not a valid IDX file: re-download it (scripts/setup.sh fetches MNIST "
                     "into data/mnist)");
}

std::string hex_byte(std::uint8_t b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(b));
    return buf;
}

std::string dims_text(const std::vector<std::uint32_t>& dims) {
    std::string s;
    for (std::size_t i = 0; i < dims.size(); ++i)
        s += (i ? " x " : "") + std::to_string(dims[i]);
    return s;
}

std::uint32_t read_be32(const std::uint8_t* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}

// Reads big-endian values through an unsigned integer so the result is right on any host;
// compilers turn the byte loop into a single bswap.
template <typename U>
void from_big_endian(const std::uint8_t* src, std::uint8_t* dst, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint8_t* p = src + i * sizeof(U);
        U v = 0;
        for (std::size_t b = 0; b < sizeof(U); ++b)
            v = static_cast<U>((v << 8) | p[b]);
        std::memcpy(dst + i * sizeof(U), &v, sizeof(U));
    }
}

}  // namespace

std::size_t IdxArray::count() const {
    std::size_t n = 1;
    for (auto d : dims)
        n *= d;
    return n;
}

std::size_t idx_element_size(std::uint8_t type) {
    switch (type) {
        case kIdxU8:
        case kIdxI8:
            return 1;
        case kIdxI16:
            return 2;
        case kIdxI32:
        case kIdxF32:
            return 4;
        case kIdxF64:
            return 8;
        default:
            return 0;
    }
}

const char* idx_type_name(std::uint8_t type) {
    switch (type) {
        case kIdxU8:
            return "ubyte";
        case kIdxI8:
            return "sbyte";
        case kIdxI16:
            return "short";
        case kIdxI32:
            return "int";
        case kIdxF32:
            return "float";
        case kIdxF64:
            return "double";
        default:
            return "unknown";
    }
}

std::size_t idx_header_size(const std::uint8_t* data, std::size_t size, const std::string& what) {
    if (size == 0)
        throw bad_idx(what, "file is empty");
    if (size < 4)
        throw bad_idx(what, "truncated: " + std::to_string(size) +
                                " bytes, shorter than the 4-byte IDX magic number");
    if (data[0] != 0 || data[1] != 0) {
        std::string problem = "wrong magic number: starts with " + hex_byte(data[0]) + " " +
                              hex_byte(data[1]) + ", IDX files start with 0x00 0x00";
        // A gzip file handed to the in-memory parser is a caller mistake worth naming.
        if (data[0] == 0x1f && data[1] == 0x8b)
            problem += " (this is gzip data; decompress it first)";
        throw bad_idx(what, problem);
    }
    if (idx_element_size(data[2]) == 0)
        throw bad_idx(what, "wrong magic number: unknown element type code " + hex_byte(data[2]) +
                                " (IDX defines 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)");
    if (data[3] == 0)
        throw bad_idx(what, "wrong magic number: the header declares 0 dimensions");
    return 4 + 4 * std::size_t(data[3]);
}

IdxHeader parse_idx_header(const std::uint8_t* data, std::size_t size, const std::string& what) {
    IdxHeader h;
    h.header_bytes = idx_header_size(data, size, what);
    h.type = data[2];
    const std::size_t ndims = data[3];
    if (size < h.header_bytes)
        throw bad_idx(what, "truncated header: " + std::to_string(ndims) + " dimensions need " +
                                std::to_string(h.header_bytes) + " bytes, only " +
                                std::to_string(size) + " present");
    h.dims.resize(ndims);
    bool has_zero = false;
    for (std::size_t i = 0; i < ndims; ++i) {
        h.dims[i] = read_be32(data + 4 + 4 * i);
        has_zero = has_zero || h.dims[i] == 0;
    }
    const std::size_t esize = idx_element_size(h.type);
    std::size_t count = has_zero ? 0 : 1;
    // Every product is checked: ndims can be 255, so u32 dims overflow 64 bits quickly.
    bool overflow = false;
    for (std::size_t i = 0; i < ndims && count != 0; ++i) {
        if (count > kMaxSize / h.dims[i]) {
            overflow = true;
            break;
        }
        count *= h.dims[i];
    }
    overflow = overflow || count > (kMaxSize - h.header_bytes) / esize;
    if (overflow)
        throw bad_idx(what, "dimensions " + dims_text(h.dims) + " of " + idx_type_name(h.type) +
                                " overflow: the payload size does not fit in 64 bits");
    h.payload_bytes = count * esize;
    return h;
}

void check_idx_size(const IdxHeader& h, std::size_t file_size, const std::string& what) {
    const std::size_t present = file_size > h.header_bytes ? file_size - h.header_bytes : 0;
    if (present < h.payload_bytes)
        throw bad_idx(what, "truncated: the header promises " + std::to_string(h.payload_bytes) +
                                " payload bytes (" + dims_text(h.dims) + " " +
                                idx_type_name(h.type) + "), only " + std::to_string(present) +
                                " present");
    if (present > h.payload_bytes)
        throw bad_idx(what, std::to_string(present - h.payload_bytes) +
                                " trailing bytes after the " + std::to_string(h.payload_bytes) +
                                "-byte payload the header promises");
}

IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& what) {
    IdxHeader h = parse_idx_header(data, size, what);
    check_idx_size(h, size, what);
    IdxArray a;
    a.type = h.type;
    a.dims = std::move(h.dims);
    a.bytes.resize(h.payload_bytes);
    idx_to_host_order(a.type, data + h.header_bytes, a.bytes.data(),
                      h.payload_bytes / idx_element_size(a.type));
    return a;
}

void idx_to_host_order(std::uint8_t type,
                       const std::uint8_t* src,
                       std::uint8_t* dst,
                       std::size_t count) {
    switch (idx_element_size(type)) {
        case 1:
            if (src != dst && count != 0)
                std::memmove(dst, src, count);
            break;
        case 2:
            from_big_endian<std::uint16_t>(src, dst, count);
            break;
        case 4:
            from_big_endian<std::uint32_t>(src, dst, count);
            break;
        case 8:
            from_big_endian<std::uint64_t>(src, dst, count);
            break;
        default:
            break;  // unknown codes never get past idx_header_size
    }
}

}  // namespace ds::data
