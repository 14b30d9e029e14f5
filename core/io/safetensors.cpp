// Memory-mapped safetensors reader, sharded sets and the atomic writer. Validation lives in
// safetensors_parse.cpp (torch-free, fuzzed); this file only maps, copies and writes.
#include "core/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/io/bounded_json.h"
#include "core/io/atomic_file.h"

// Stored data is little-endian and is copied verbatim into tensors.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes little-endian");

namespace ds::io {
namespace {

// One row per supported type: the mapping in both directions.
constexpr std::pair<DType, c10::ScalarType> kScalarTypes[] = {
    {DType::F64, c10::ScalarType::Double}, {DType::F32, c10::ScalarType::Float},
    {DType::F16, c10::ScalarType::Half},   {DType::BF16, c10::ScalarType::BFloat16},
    {DType::I64, c10::ScalarType::Long},   {DType::I32, c10::ScalarType::Int},
    {DType::I16, c10::ScalarType::Short},  {DType::I8, c10::ScalarType::Char},
    {DType::U8, c10::ScalarType::Byte},    {DType::Bool, c10::ScalarType::Bool}};

}  // namespace

c10::ScalarType to_scalar_type(DType dtype) {
    for (const auto& [d, s] : kScalarTypes)
        if (d == dtype)
            return s;
    return c10::ScalarType::Float;  // unreachable: every DType has a row
}

namespace {

DType to_dtype(c10::ScalarType type, const std::string& name, const std::string& path) {
    for (const auto& [d, s] : kScalarTypes)
        if (s == type)
            return d;
    throw InvalidRequest("cannot write '" + path + "': tensor '" + name + "' has type " +
                         c10::toString(type) +
                         ", which safetensors cannot hold; convert it to a float, integer or "
                         "bool type first");
}

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ---- SafetensorsFile ------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    SafetensorsFile f;
    f.path_ = path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw IoError("cannot open '" + path + "': " + std::strerror(errno) +
                      "; check the path and its permissions");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw IoError("cannot open '" + path + "': not a regular file");
    }
    f.size_ = static_cast<std::uint64_t>(st.st_size);
    if (f.size_ > std::numeric_limits<std::size_t>::max()) {
        ::close(fd);
        throw IoError("cannot map '" + path + "': file is larger than the address space");
    }
    // An empty file cannot be mapped; the parser reports it as too short.
    if (f.size_ > 0) {
        void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            throw IoError("cannot map '" + path + "': " + std::strerror(err));
        }
        f.base_ = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);                                            // the mapping keeps the file open
    f.header_ = parse_safetensors(f.base_, f.size_, path);  // f unmaps if this throws
    for (std::size_t i = 0; i < f.header_.tensors.size(); ++i)
        f.index_.emplace(f.header_.tensors[i].name, i);
    return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept {
    *this = std::move(other);
}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
    if (this != &other) {
        unmap();
        path_ = std::move(other.path_);
        base_ = std::exchange(other.base_, nullptr);
        size_ = std::exchange(other.size_, 0);
        header_ = std::move(other.header_);
        index_ = std::move(other.index_);
    }
    return *this;
}

SafetensorsFile::~SafetensorsFile() {
    unmap();
}

void SafetensorsFile::unmap() noexcept {
    if (base_)
        ::munmap(const_cast<std::uint8_t*>(base_), size_);
    base_ = nullptr;
    size_ = 0;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end())
        throw DataError(path_ + ": no tensor named '" + name + "' (the file holds " +
                        std::to_string(header_.tensors.size()) +
                        "); is this the right checkpoint?");
    return header_.tensors[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
    const TensorInfo& t = info(name);
    // Bools travel as bytes: a file byte other than 0/1 must not become an invalid torch bool.
    const auto type = t.dtype == DType::Bool ? torch::kUInt8 : to_scalar_type(t.dtype);
    auto out = torch::empty(t.shape, torch::TensorOptions().dtype(type));
    if (t.end > t.begin)
        std::memcpy(out.data_ptr(), base_ + t.begin, t.end - t.begin);
    return t.dtype == DType::Bool ? out.ne(0) : out;
}

at::Tensor SafetensorsFile::tensor(const std::string& name, c10::ScalarType as) const {
    auto t = tensor(name);
    return t.scalar_type() == as ? t : t.to(as);
}

// ---- SafetensorsSet -------------------------------------------------------------------------

namespace {

nlohmann::json read_index(const std::string& path) {
    // Real indexes are ~100 KB (IF-I-XL: ~1,000 names); 16 MB leaves room for any model.
    nlohmann::json j;
    try {
        j = read_json_file(path, 16u << 20);
    } catch (const DataError& e) {
        throw DataError(std::string(e.what()) + " (a shard index); re-download the checkpoint");
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw DataError(path +
                        ": shard index has no \"weight_map\" object; is this a "
                        "*.safetensors.index.json file?");
    return j;
}

// Shards sit next to their index; anything that could point elsewhere is refused.
std::string shard_path(const std::string& index,
                       const std::string& key,
                       const nlohmann::json& value) {
    if (!value.is_string())
        throw DataError(index + ": weight_map entry '" + key + "' is not a file name");
    const auto& shard = value.get_ref<const std::string&>();
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos)
        throw DataError(index + ": weight_map entry '" + key + "' names '" + shard +
                        "', not a plain file name next to the index");
    return (std::filesystem::path(index).parent_path() / shard).string();
}

}  // namespace

SafetensorsSet SafetensorsSet::open(const std::string& path) {
    SafetensorsSet set;
    set.path_ = path;
    if (!ends_with(path, ".json")) {
        set.files_.push_back(SafetensorsFile::open(path));
        for (const auto& t : set.files_.front().tensors())
            set.where_.emplace(t.name, 0);
        return set;
    }
    const nlohmann::json index = read_index(path);
    std::map<std::string, std::size_t> opened;  // shard path -> position in files_
    for (const auto& [key, value] : index["weight_map"].items()) {
        const std::string shard = shard_path(path, key, value);
        auto it = opened.find(shard);
        if (it == opened.end()) {
            set.files_.push_back(SafetensorsFile::open(shard));
            it = opened.emplace(shard, set.files_.size() - 1).first;
        }
        if (!set.files_[it->second].contains(key))
            throw DataError(path + ": tensor '" + key + "' is mapped to '" + shard +
                            "', which does not hold it; the index and shards do not match");
        set.where_.emplace(key, it->second);
    }
    return set;
}

std::vector<std::string> SafetensorsSet::names() const {
    std::vector<std::string> out;
    out.reserve(where_.size());
    for (const auto& entry : where_)
        out.push_back(entry.first);
    return out;
}

const SafetensorsFile& SafetensorsSet::file_of(const std::string& name) const {
    const auto it = where_.find(name);
    if (it == where_.end())
        throw DataError(path_ + ": no tensor named '" + name + "' in this checkpoint (" +
                        std::to_string(where_.size()) + " tensors); is this the right model?");
    return files_[it->second];
}

const TensorInfo& SafetensorsSet::info(const std::string& name) const {
    return file_of(name).info(name);
}

at::Tensor SafetensorsSet::tensor(const std::string& name) const {
    return file_of(name).tensor(name);
}

at::Tensor SafetensorsSet::tensor(const std::string& name, c10::ScalarType as) const {
    return file_of(name).tensor(name, as);
}

// ---- writer ---------------------------------------------------------------------------------

namespace {

// Checks names and types before anything touches the disk, then returns CPU contiguous copies
// in sorted-name order (the order of the data section).
std::vector<std::pair<std::string, at::Tensor>> prepare_tensors(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
    std::vector<std::pair<std::string, at::Tensor>> out;
    std::set<std::string> seen;
    for (const auto& [name, t] : tensors) {
        if (name.empty() || name == "__metadata__")
            throw InvalidRequest("cannot write '" + path + "': invalid tensor name '" + name + "'");
        if (!seen.insert(name).second)
            throw InvalidRequest("cannot write '" + path + "': tensor name '" + name +
                                 "' is given twice");
        if (!t.defined())
            throw InvalidRequest("cannot write '" + path + "': tensor '" + name + "' is undefined");
        to_dtype(t.scalar_type(), name, path);
        out.emplace_back(name, t.detach().cpu().contiguous());
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

std::string make_header(const std::string& path,
                        const std::vector<std::pair<std::string, at::Tensor>>& sorted,
                        const std::map<std::string, std::string>& metadata) {
    nlohmann::json header = nlohmann::json::object();
    std::uint64_t offset = 0;
    for (const auto& [name, t] : sorted) {
        const std::uint64_t bytes = t.numel() * t.element_size();
        header[name] = {{"dtype", dtype_name(to_dtype(t.scalar_type(), name, path))},
                        {"shape", t.sizes().vec()},
                        {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) {
        throw InvalidRequest("cannot write '" + path +
                             "': a tensor name or metadata string is not valid UTF-8 (" + e.what() +
                             ")");
    }
    // Spaces are valid JSON whitespace; padding to 8 keeps the data section 8-byte aligned.
    text.append((8 - text.size() % 8) % 8, ' ');
    return text;
}

}  // namespace

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    const auto sorted = prepare_tensors(path, tensors);
    const std::string header = make_header(path, sorted, metadata);
    std::uint8_t length[8];
    for (int i = 0; i < 8; ++i)
        length[i] = static_cast<std::uint8_t>(std::uint64_t(header.size()) >> (8 * i));
    AtomicWriter writer(path);  // removes its temp file if anything below throws
    writer.write(length, sizeof length);
    writer.write(header);
    for (const auto& [name, t] : sorted)
        if (t.numel() > 0)
            writer.write(t.data_ptr(), t.numel() * t.element_size());
    writer.commit();
}

}  // namespace ds::io
