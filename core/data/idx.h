#pragma once
// IDX files (LeCun's MNIST format): big-endian magic 00 00 <type> <ndims>, ndims u32 dims, data.
// Plain or gzip-compressed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::data {

struct IdxArray {
    std::uint8_t type = 0x08;            // 08 u8, 09 i8, 0B i16, 0C i32, 0D f32, 0E f64
    std::vector<std::uint32_t> dims;
    std::vector<std::uint8_t> bytes;     // payload; multi-byte types converted to host order
    std::size_t count() const;           // number of elements
};

// Validating parser (torch-free; used by the fuzzer). `what` names the source in errors.
IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& what);
// Reads a file, gunzipping it when it starts with the gzip magic (1f 8b).
IdxArray read_idx(const std::string& path);

}  // namespace ds::data
