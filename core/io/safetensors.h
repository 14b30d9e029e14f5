#pragma once
// safetensors: [u64 LE header length N][N bytes JSON header][raw little-endian data].
// The reader memory-maps the file (64-bit offsets; multi-GB checkpoints are never copied whole)
// and validates every entry before handing out a byte; the writer is atomic.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace ds::io {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };
std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;  // absolute byte offsets in the file / buffer
    std::int64_t numel() const;
};

struct ParsedHeader {
    std::vector<TensorInfo> tensors;  // in file (header) order
    std::map<std::string, std::string> metadata;
    std::uint64_t data_start = 0;
};

// Validating parser over a byte range (torch-free; the fuzz target calls it). `what` names the
// source in error messages. Throws ds::DataError.
ParsedHeader parse_safetensors(const std::uint8_t* data, std::uint64_t size, const std::string& what);

class SafetensorsFile {
public:
    static SafetensorsFile open(const std::string& path);  // IoError / DataError
    SafetensorsFile(SafetensorsFile&&) noexcept;
    SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
    ~SafetensorsFile();

    const std::string& path() const { return path_; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
    bool contains(const std::string& name) const { return index_.count(name) > 0; }
    const TensorInfo& info(const std::string& name) const;
    const std::uint8_t* data(const TensorInfo& t) const { return base_ + t.begin; }

    // A fresh CPU tensor (copied out of the mapping) of the stored dtype, or converted to `as`.
    at::Tensor tensor(const std::string& name) const;
    at::Tensor tensor(const std::string& name, c10::ScalarType as) const;

private:
    SafetensorsFile() = default;
    std::string path_;
    const std::uint8_t* base_ = nullptr;
    std::uint64_t size_ = 0;
    ParsedHeader header_;
    std::map<std::string, std::size_t> index_;
};

// A sharded checkpoint (`*.safetensors.index.json`, also `model.safetensors.index.fp16.json`) or a
// single file, behind one lookup.
class SafetensorsSet {
public:
    static SafetensorsSet open(const std::string& path_to_file_or_index);
    std::vector<std::string> names() const;
    bool contains(const std::string& name) const { return where_.count(name) > 0; }
    const TensorInfo& info(const std::string& name) const;
    at::Tensor tensor(const std::string& name) const;
    at::Tensor tensor(const std::string& name, c10::ScalarType as) const;
    const SafetensorsFile& file_of(const std::string& name) const;

private:
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, std::size_t> where_;
};

// Writes tensors (made contiguous, CPU) atomically, sorted by name, header padded to 8 bytes.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ds::io
