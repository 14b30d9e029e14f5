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
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/engine/errors.h"
#include "core/io/atomic_file.h"

namespace ds::io {

namespace {

c10::ScalarType to_scalar(DType d) {
    switch (d) {
        case DType::F64: return torch::kFloat64;
        case DType::F32: return torch::kFloat32;
        case DType::F16: return torch::kFloat16;
        case DType::BF16: return torch::kBFloat16;
        case DType::I64: return torch::kInt64;
        case DType::I32: return torch::kInt32;
        case DType::I16: return torch::kInt16;
        case DType::I8: return torch::kInt8;
        case DType::U8: return torch::kUInt8;
        case DType::Bool: return torch::kBool;
    }
    return torch::kFloat32;
}

DType from_scalar(c10::ScalarType s, const std::string& name) {
    switch (s) {
        case torch::kFloat64: return DType::F64;
        case torch::kFloat32: return DType::F32;
        case torch::kFloat16: return DType::F16;
        case torch::kBFloat16: return DType::BF16;
        case torch::kInt64: return DType::I64;
        case torch::kInt32: return DType::I32;
        case torch::kInt16: return DType::I16;
        case torch::kInt8: return DType::I8;
        case torch::kUInt8: return DType::U8;
        case torch::kBool: return DType::Bool;
        default:
            throw InvalidRequest("cannot store tensor '" + name + "' of type " +
                                 std::string(c10::toString(s)) + " in safetensors");
    }
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    SafetensorsFile f;
    f.path_ = path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError("cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw IoError("'" + path + "' is not a regular file");
    }
    f.size_ = static_cast<std::uint64_t>(st.st_size);
    if (f.size_ > 0) {
        void* p = mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            ::close(fd);
            throw IoError("cannot map '" + path + "': " + std::strerror(errno));
        }
        f.base_ = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);  // the mapping stays valid
    f.header_ = parse_safetensors(f.base_, f.size_, path);
    for (std::size_t i = 0; i < f.header_.tensors.size(); ++i) f.index_[f.header_.tensors[i].name] = i;
    return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept { *this = std::move(o); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
    if (this != &o) {
        if (base_) munmap(const_cast<std::uint8_t*>(base_), size_);
        path_ = std::move(o.path_);
        base_ = o.base_;
        size_ = o.size_;
        header_ = std::move(o.header_);
        index_ = std::move(o.index_);
        o.base_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

SafetensorsFile::~SafetensorsFile() {
    if (base_) munmap(const_cast<std::uint8_t*>(base_), size_);
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) throw DataError(path_ + ": no tensor named '" + name + "'");
    return header_.tensors[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
    const auto& t = info(name);
    auto out = torch::empty(t.shape, torch::TensorOptions().dtype(to_scalar(t.dtype)));
    if (t.end > t.begin) std::memcpy(out.data_ptr(), base_ + t.begin, t.end - t.begin);
    return out;
}

at::Tensor SafetensorsFile::tensor(const std::string& name, c10::ScalarType as) const {
    auto t = tensor(name);
    return t.scalar_type() == as ? t : t.to(as);
}

SafetensorsSet SafetensorsSet::open(const std::string& path) {
    SafetensorsSet set;
    const std::string suffix = ".json";
    if (path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
        set.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(path)));
        for (const auto& t : set.files_[0]->tensors()) set.where_[t.name] = 0;
        return set;
    }
    std::ifstream in(path);
    if (!in) throw IoError("cannot open shard index '" + path + "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        throw DataError(path + ": shard index is not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw DataError(path + ": shard index has no \"weight_map\" object");
    const auto dir = std::filesystem::path(path).parent_path();
    std::map<std::string, std::size_t> shard_index;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it.value().is_string()) throw DataError(path + ": weight_map entry '" + it.key() + "' is not a file name");
        const std::string shard = it.value().get<std::string>();
        if (shard.find('/') != std::string::npos || shard == ".." )
            throw DataError(path + ": shard name '" + shard + "' must be a plain file name");
        auto s = shard_index.find(shard);
        if (s == shard_index.end()) {
            const auto shard_path = (dir / shard).string();
            if (!std::filesystem::exists(shard_path))
                throw IoError(path + ": shard '" + shard + "' is missing (needed for '" + it.key() + "')");
            set.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(shard_path)));
            s = shard_index.emplace(shard, set.files_.size() - 1).first;
        }
        if (!set.files_[s->second]->contains(it.key()))
            throw DataError(path + ": tensor '" + it.key() + "' is mapped to '" + shard + "' but is not in it");
        set.where_[it.key()] = s->second;
    }
    return set;
}

std::vector<std::string> SafetensorsSet::names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : where_) out.push_back(k);
    return out;
}

const SafetensorsFile& SafetensorsSet::file_of(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) throw DataError("no tensor named '" + name + "' in the checkpoint");
    return *files_[it->second];
}
const TensorInfo& SafetensorsSet::info(const std::string& n) const { return file_of(n).info(n); }
at::Tensor SafetensorsSet::tensor(const std::string& n) const { return file_of(n).tensor(n); }
at::Tensor SafetensorsSet::tensor(const std::string& n, c10::ScalarType as) const { return file_of(n).tensor(n, as); }

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    std::vector<std::pair<std::string, at::Tensor>> sorted;
    std::set<std::string> seen;
    for (const auto& [name, t] : tensors) {
        if (name.empty() || name == "__metadata__") throw InvalidRequest("invalid tensor name '" + name + "'");
        if (!seen.insert(name).second) throw InvalidRequest("tensor name '" + name + "' given twice");
        from_scalar(t.scalar_type(), name);  // validate before touching the disk
        sorted.emplace_back(name, t.detach().cpu().contiguous());
    }
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.first < b.first; });
    nlohmann::json header = nlohmann::json::object();
    std::uint64_t offset = 0;
    for (const auto& [name, t] : sorted) {
        const std::uint64_t bytes = t.numel() * t.element_size();
        header[name] = {{"dtype", dtype_name(from_scalar(t.scalar_type(), name))},
                        {"shape", t.sizes().vec()},
                        {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
    std::uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(std::uint64_t(text.size()) >> (8 * i));
    AtomicWriter w(path);
    w.write(len, 8);
    w.write(text);
    for (const auto& [name, t] : sorted) w.write(t.data_ptr(), t.numel() * t.element_size());
    w.commit();
}

}  // namespace ds::io
