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

void check_name(const std::string& path, const std::string& name, std::set<std::string>& seen) {
    if (name.empty() || name == "__metadata__")
        throw InvalidRequest("cannot write '" + path + "': invalid tensor name '" + name + "'");
    if (!seen.insert(name).second)
        throw InvalidRequest("cannot write '" + path + "': tensor name '" + name + "' is given twice");
}

std::uint64_t spec_bytes(const TensorSpec& s) {
    std::uint64_t n = dtype_size(s.dtype);
    for (auto d : s.shape) n *= std::uint64_t(d);
    return n;
}

}  // namespace

SafetensorsWriter::SafetensorsWriter(const std::string& path,
                                     std::vector<TensorSpec> tensors,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), order_(std::move(tensors)) {
    std::set<std::string> seen;
    for (const auto& t : order_) {
        check_name(path, t.name, seen);
        for (auto d : t.shape)
            if (d < 0)
                throw InvalidRequest("cannot write '" + path + "': tensor '" + t.name + "' has a negative dimension");
    }
    std::sort(order_.begin(), order_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    nlohmann::json header = nlohmann::json::object();
    std::uint64_t offset = 0;
    for (const auto& t : order_) {
        const std::uint64_t bytes = spec_bytes(t);
        header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    data_bytes_ = offset;
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) {
        throw InvalidRequest("cannot write '" + path + "': a tensor name or metadata string is not valid UTF-8 (" +
                             e.what() + ")");
    }
    // Spaces are valid JSON whitespace; padding to 8 keeps the data section 8-byte aligned.
    text.append((8 - text.size() % 8) % 8, ' ');
    std::uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(std::uint64_t(text.size()) >> (8 * i));
    writer_ = std::make_unique<AtomicWriter>(path);  // removes its temp file unless committed
    writer_->write(length, sizeof length);
    writer_->write(text);
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::write(const std::string& name, const at::Tensor& tensor) {
    if (next_ >= order_.size())
        throw InvalidRequest("cannot write '" + path_ + "': tensor '" + name + "' is not expected (all " +
                             std::to_string(order_.size()) + " are written)");
    const TensorSpec& want = order_[next_];
    if (name != want.name)
        throw InvalidRequest("cannot write '" + path_ + "': tensor '" + want.name + "' comes next, not '" + name + "'");
    if (!tensor.defined())
        throw InvalidRequest("cannot write '" + path_ + "': tensor '" + name + "' is undefined");
    if (to_dtype(tensor.scalar_type(), name, path_) != want.dtype || tensor.sizes().vec() != want.shape)
        throw InvalidRequest("cannot write '" + path_ + "': tensor '" + name +
                             "' differs in dtype or shape from the header");
    const auto t = tensor.detach().cpu().contiguous();
    if (t.numel() > 0) writer_->write(t.data_ptr(), t.numel() * t.element_size());
    ++next_;
}

void SafetensorsWriter::commit() {
    if (next_ != order_.size())
        throw InvalidRequest("cannot write '" + path_ + "': " + std::to_string(order_.size() - next_) +
                             " tensor(s) not written, the next is '" + order_[next_].name + "'");
    writer_->commit();
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    // Names and types are checked before anything touches the disk.
    std::vector<TensorSpec> specs;
    std::map<std::string, const at::Tensor*> by_name;
    std::set<std::string> seen;
    for (const auto& [name, t] : tensors) {
        check_name(path, name, seen);
        if (!t.defined())
            throw InvalidRequest("cannot write '" + path + "': tensor '" + name + "' is undefined");
        specs.push_back({name, to_dtype(t.scalar_type(), name, path), t.sizes().vec()});
        by_name[name] = &t;
    }
    SafetensorsWriter writer(path, std::move(specs), metadata);
    for (const auto& spec : writer.order()) writer.write(spec.name, *by_name.at(spec.name));
    writer.commit();
}

}  // namespace ds::io
