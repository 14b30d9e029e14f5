#pragma once
// IDX files (LeCun's MNIST format): magic 00 00 <type> <ndims>, then ndims big-endian u32 dims,
// then the payload in big-endian order. Files may be gzip-compressed.
//
// The parsing half (idx_parse.cpp) needs neither torch nor zlib so the fuzzer can link it alone;
// file reading and gunzip live in idx.cpp.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::data {

// Element type codes from the IDX specification.
inline constexpr std::uint8_t kIdxU8 = 0x08;
inline constexpr std::uint8_t kIdxI8 = 0x09;
inline constexpr std::uint8_t kIdxI16 = 0x0B;
inline constexpr std::uint8_t kIdxI32 = 0x0C;
inline constexpr std::uint8_t kIdxF32 = 0x0D;
inline constexpr std::uint8_t kIdxF64 = 0x0E;

// Largest payload read_idx_file accepts (plain or after gunzip), checked from the file size and
// the header before anything is allocated: MNIST's training images are 47 MB.
inline constexpr std::size_t kMaxIdxPayloadBytes = std::size_t(128) << 20;

struct IdxArray {
    std::uint8_t type = kIdxU8;       // one of the kIdx* codes
    std::vector<std::uint32_t> dims;  // outermost first, e.g. {N, H, W}
    std::vector<std::uint8_t> bytes;  // raw payload; multi-byte types already in host order
    std::size_t count() const;        // number of elements (product of dims)
};

// What the header declares, checked for consistency but not yet against the payload.
struct IdxHeader {
    std::uint8_t type = kIdxU8;
    std::vector<std::uint32_t> dims;
    std::size_t header_bytes = 0;   // 4 + 4 * ndims
    std::size_t payload_bytes = 0;  // product(dims) * element size, overflow-checked
};

// A whole IDX file in memory (gunzipped), payload still big-endian. Lets loaders decode the
// payload straight into their own buffers without an intermediate copy.
struct IdxFile {
    IdxHeader header;
    std::vector<std::uint8_t> bytes;  // header + payload, exactly header_bytes + payload_bytes
    const std::uint8_t* payload() const { return bytes.data() + header.header_bytes; }
};

// Bytes per element for a type code; 0 for codes the format does not define.
std::size_t idx_element_size(std::uint8_t type);
// Human-readable name of a type code ("ubyte", "float", ...; "unknown" otherwise).
const char* idx_type_name(std::uint8_t type);

// Checks the 4-byte magic and returns the header size it implies (4 + 4 * ndims). Throws
// DataError naming `what` when the magic is short or invalid.
std::size_t idx_header_size(const std::uint8_t* data, std::size_t size, const std::string& what);
// Parses magic and dims from the first bytes of `data` (the payload need not be present).
IdxHeader parse_idx_header(const std::uint8_t* data, std::size_t size, const std::string& what);
// Throws DataError unless `file_size` is exactly header + promised payload (truncated file or
// trailing bytes).
void check_idx_size(const IdxHeader& header, std::size_t file_size, const std::string& what);
// Validates a whole in-memory IDX file: header, then exactly the promised payload, no more.
// `what` names the source in error messages.
IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& what);
// Converts `count` big-endian elements of `type` at `src` to host order at `dst`. Works in
// place and for overlapping ranges with dst <= src (it copies forwards, like memmove).
void idx_to_host_order(std::uint8_t type,
                       const std::uint8_t* src,
                       std::uint8_t* dst,
                       std::size_t count);

// Reads and validates a plain or gzip-compressed IDX file (detected by the 1f 8b magic, not by
// the name). Throws IoError when the OS cannot read it, DataError when the content is bad.
IdxFile read_idx_file(const std::string& path, std::size_t max_payload = kMaxIdxPayloadBytes);
// The same over bytes already in memory (`what` names them in errors); torch-free, zlib only.
IdxFile decode_idx_file(std::vector<std::uint8_t> bytes, const std::string& what,
                        std::size_t max_payload = kMaxIdxPayloadBytes);
// read_idx_file + conversion of the payload to host order.
IdxArray read_idx(const std::string& path);

}  // namespace ds::data
