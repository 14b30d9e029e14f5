#pragma once
// safetensors: [u64 LE header length N][N bytes UTF-8 JSON header][raw little-endian data].
// The reader memory-maps the file (64-bit offsets: multi-GB checkpoints such as IF-I-XL are
// never copied whole) and validates every entry before handing out a byte; the writer is atomic.
//
// The header names torch types only by forward declaration so that the torch-free parser
// (safetensors_parse.cpp, also linked by the fuzz target) can include it without torch headers.
// Code that calls tensor() or write_safetensors() includes <torch/torch.h> itself.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}
namespace c10 {
enum class ScalarType : std::int8_t;
}

namespace ds::io {

// Element types of the safetensors format that Diffusion Studio reads and writes.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };
// Bytes per element (8, 4, 2, 1).
std::size_t dtype_size(DType dtype);
// The name used in the header: "F64", "F32", ..., "BOOL".
const char* dtype_name(DType dtype);
// The torch element type of a safetensors dtype.
c10::ScalarType to_scalar_type(DType dtype);

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;  // empty for a 0-d tensor
    std::uint64_t begin = 0;          // absolute byte offsets in the file / buffer, [begin, end)
    std::uint64_t end = 0;
    std::int64_t numel() const;  // 1 for a 0-d tensor, 0 if any dimension is 0
};

struct ParsedHeader {
    std::vector<TensorInfo> tensors;  // in header order
    std::map<std::string, std::string> metadata;
    std::uint64_t data_start = 0;  // 8 + header length
};

// Most entries (tensors plus __metadata__) one file's header may hold. Real checkpoints hold a
// few thousand (IF-I-XL ~1,000, T5-XXL shards ~200); a header of more is refused before its JSON is
// parsed, which bounds time and memory (the 100 MB header cap alone would allow ~1.7 M).
inline constexpr std::size_t kMaxSafetensorsEntries = 100000;

// Validating parser over bytes [data, data + size) (torch-free; the fuzz target calls it). After
// it returns, every tensor's [begin, end) lies inside the buffer, matches shape x dtype and
// overlaps no other tensor. `what` names the source in error messages. Throws ds::DataError.
ParsedHeader parse_safetensors(const std::uint8_t* data,
                               std::uint64_t size,
                               const std::string& what);

// A read-only memory mapping of one .safetensors file. Movable, not copyable; unmaps on
// destruction, so TensorInfo references and data() pointers live as long as the object.
class SafetensorsFile {
public:
    // Throws ds::IoError (cannot open or map) or ds::DataError (not a valid safetensors file).
    static SafetensorsFile open(const std::string& path);

    SafetensorsFile(SafetensorsFile&& other) noexcept;
    SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;
    ~SafetensorsFile();

    const std::string& path() const { return path_; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    const std::vector<TensorInfo>& tensors() const { return header_.tensors; }  // file order
    bool contains(const std::string& name) const { return index_.count(name) > 0; }
    // Throws ds::DataError naming the missing tensor and the file.
    const TensorInfo& info(const std::string& name) const;
    // The tensor's raw bytes inside the mapping; `t` must come from this file.
    const std::uint8_t* data(const TensorInfo& t) const { return base_ + t.begin; }

    // A fresh CPU tensor copied out of the mapping, of the stored dtype or converted to `as`.
    at::Tensor tensor(const std::string& name) const;
    at::Tensor tensor(const std::string& name, c10::ScalarType as) const;

private:
    SafetensorsFile() = default;
    void unmap() noexcept;

    std::string path_;
    const std::uint8_t* base_ = nullptr;
    std::uint64_t size_ = 0;
    ParsedHeader header_;
    std::map<std::string, std::size_t> index_;  // name -> position in header_.tensors
};

// A sharded checkpoint (`*.safetensors.index.json`, also `model.safetensors.index.fp16.json`:
// {"metadata": {...}, "weight_map": {"key": "shard file"}}) or a single .safetensors file,
// behind one lookup. Every shard is mapped, none is read until a tensor is asked for.
class SafetensorsSet {
public:
    // Throws ds::IoError (a file or shard cannot be opened) or ds::DataError (invalid index or
    // shard, or a key mapped to a shard that does not hold it).
    static SafetensorsSet open(const std::string& path_to_file_or_index);

    const std::string& path() const { return path_; }
    std::vector<std::string> names() const;  // sorted
    bool contains(const std::string& name) const { return where_.count(name) > 0; }
    const TensorInfo& info(const std::string& name) const;
    at::Tensor tensor(const std::string& name) const;
    at::Tensor tensor(const std::string& name, c10::ScalarType as) const;
    // Throws ds::DataError naming the missing tensor and the index.
    const SafetensorsFile& file_of(const std::string& name) const;

private:
    std::string path_;
    std::vector<SafetensorsFile> files_;
    std::map<std::string, std::size_t> where_;  // name -> position in files_
};

// The name, element type and shape of one tensor to be written.
struct TensorSpec {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
};

class AtomicWriter;

// A streaming, atomic writer for files larger than memory (a real-scale IF checkpoint): the header
// is written from the specs at construction, then each tensor in order() (sorted by name), then
// commit() fsyncs and renames the temp file over `path`. Destroying an uncommitted writer removes
// the temp file and leaves `path` as it was. Throws ds::InvalidRequest (bad or duplicate names, a
// tensor out of order or differing from its spec, commit before the last) or ds::IoError.
class SafetensorsWriter {
public:
    SafetensorsWriter(const std::string& path,
                      std::vector<TensorSpec> tensors,
                      const std::map<std::string, std::string>& metadata = {});
    ~SafetensorsWriter();
    SafetensorsWriter(const SafetensorsWriter&) = delete;
    SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

    const std::vector<TensorSpec>& order() const { return order_; }
    std::uint64_t data_bytes() const { return data_bytes_; }
    void write(const std::string& name, const at::Tensor& tensor);
    void commit();

private:
    std::string path_;
    std::vector<TensorSpec> order_;
    std::size_t next_ = 0;
    std::uint64_t data_bytes_ = 0;
    std::unique_ptr<AtomicWriter> writer_;
};

// Writes tensors (made contiguous, CPU) atomically: a temp file next to `path` is fsync'ed and
// renamed over it, and removed on any error, so `path` always holds the old or the new file.
// Data is stored in sorted-name order and the header padded with spaces to a multiple of 8.
// Supported: float, double, half, bfloat16, int64, int32, int16, int8, uint8, bool. Throws
// ds::InvalidRequest (bad name, duplicate, unsupported type; nothing is written) or ds::IoError.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ds::io
