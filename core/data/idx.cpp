// Reading IDX files from disk, plain or gzip-compressed. Parsing itself is in idx_parse.cpp.
#include "core/data/idx.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "core/engine/errors.h"

namespace ds::data {

namespace {

// deflate cannot expand data by more than ~1032:1, so a gzip file whose IDX header promises
// more than this is truncated for certain. Checking first means a forged header cannot make us
// allocate gigabytes.
constexpr std::size_t kMaxDeflateRatio = 1032;
// zlib's avail_in/avail_out are 32-bit; larger buffers are handed over in slices of this size.
constexpr std::size_t kZlibSlice = std::size_t(1) << 30;
// read(2) slice size: Linux returns at most ~2 GiB per call anyway.
constexpr std::size_t kReadSlice = std::size_t(1) << 30;

const char* const kRefetchHint = "Delete it and fetch it again (scripts/setup.sh fetches MNIST)";

IoError os_error(const std::string& action, const std::string& path, int err) {
    return IoError("cannot " + action + " IDX file '" + path + "': " + std::strerror(err) +
                   ". Check the path, or run scripts/setup.sh to fetch MNIST into data/mnist");
}

class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() { ::close(fd_); }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

std::vector<std::uint8_t> read_file(const std::string& path, std::size_t max_bytes) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw os_error("open", path, errno);
    FileDescriptor file(fd);
    struct stat st {};
    if (::fstat(file.get(), &st) != 0)
        throw os_error("stat", path, errno);
    if (!S_ISREG(st.st_mode))
        throw os_error("read", path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
        throw DataError(path + ": " + std::to_string(st.st_size) + " bytes, more than the " +
                        std::to_string(max_bytes) + " an IDX file may hold here (MNIST's largest is 47 MB)");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < bytes.size()) {
        const ssize_t n =
            ::read(file.get(), bytes.data() + got, std::min(bytes.size() - got, kReadSlice));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw os_error("read", path, errno);
        if (n == 0)
            break;  // the file shrank under us; the size checks below report it as truncated
        got += static_cast<std::size_t>(n);
    }
    bytes.resize(got);
    return bytes;
}

// One gzip member inflated from memory on demand, so the caller decides how much output it
// accepts. Every zlib failure becomes a DataError naming the file.
class Gunzip {
public:
    Gunzip(const std::vector<std::uint8_t>& in, const std::string& path)
        : next_(in.data()), left_(in.size()), path_(path) {
        // 16 + MAX_WBITS: accept only the gzip wrapper, and check its CRC and length trailer.
        if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK)
            throw std::bad_alloc();
    }
    ~Gunzip() { inflateEnd(&zs_); }
    Gunzip(const Gunzip&) = delete;
    Gunzip& operator=(const Gunzip&) = delete;

    // Fills `dst` with up to `n` bytes; returns fewer only when the gzip stream has ended.
    std::size_t read(std::uint8_t* dst, std::size_t n) {
        std::size_t done = 0;
        while (done < n && !ended_) {
            if (zs_.avail_in == 0 && left_ > 0) {
                const std::size_t slice = std::min(left_, kZlibSlice);
                zs_.next_in = const_cast<Bytef*>(next_);
                zs_.avail_in = static_cast<uInt>(slice);
                next_ += slice;
                left_ -= slice;
            }
            const std::size_t slice = std::min(n - done, kZlibSlice);
            zs_.next_out = dst + done;
            zs_.avail_out = static_cast<uInt>(slice);
            const int rc = inflate(&zs_, Z_NO_FLUSH);
            done += slice - zs_.avail_out;
            if (rc == Z_STREAM_END)
                ended_ = true;
            else if (rc == Z_MEM_ERROR)
                throw std::bad_alloc();
            else if (rc == Z_BUF_ERROR && zs_.avail_in == 0 && left_ == 0)
                throw DataError(path_ +
                                ": truncated gzip data (the compressed stream ends "
                                "early). " +
                                kRefetchHint);
            else if (rc != Z_OK)
                throw DataError(path_ + ": corrupt gzip data (" +
                                (zs_.msg ? zs_.msg : "zlib error " + std::to_string(rc)) + "). " +
                                kRefetchHint);
        }
        return done;
    }

    bool ended() const { return ended_; }
    // Compressed bytes left over after the end of the gzip member.
    std::size_t unused_input() const { return zs_.avail_in + left_; }

private:
    z_stream zs_{};
    const std::uint8_t* next_;  // input not yet handed to zlib
    std::size_t left_;
    const std::string& path_;
    bool ended_ = false;
};

// Inflates straight into a buffer sized from the IDX header, so the output is capped at what the
// header promises; more output or leftover input is rejected rather than silently dropped.
IdxFile gunzip_idx(const std::vector<std::uint8_t>& compressed, const std::string& path, std::size_t max_payload) {
    const std::string what = path + " (after gunzip)";
    Gunzip gz(compressed, path);
    IdxFile f;
    f.bytes.resize(4);
    std::size_t got = gz.read(f.bytes.data(), 4);
    const std::size_t header_bytes = idx_header_size(f.bytes.data(), got, what);
    f.bytes.resize(header_bytes);
    got += gz.read(f.bytes.data() + got, header_bytes - got);
    f.header = parse_idx_header(f.bytes.data(), got, what);

    const std::size_t payload = f.header.payload_bytes;
    if (payload > max_payload)
        throw DataError(what + ": the header promises " + std::to_string(payload) + " payload bytes, more than the " +
                        std::to_string(max_payload) + " an IDX file may hold here (MNIST's largest is 47 MB)");
    if (payload / kMaxDeflateRatio > compressed.size())
        throw DataError(what + ": truncated: the header promises " + std::to_string(payload) +
                        " payload bytes, more than a " + std::to_string(compressed.size()) +
                        "-byte gzip file can hold. " + kRefetchHint);
    f.bytes.resize(header_bytes + payload);
    got += gz.read(f.bytes.data() + header_bytes, payload);
    check_idx_size(f.header, got, what);  // reports a payload that ends early
    // Reading one byte past the payload also makes zlib verify the CRC and length trailer.
    std::uint8_t extra = 0;
    if (gz.read(&extra, 1) != 0)
        throw DataError(what + ": trailing bytes: decompresses to more than the " +
                        std::to_string(payload) + "-byte payload the header promises. " +
                        kRefetchHint);
    if (gz.unused_input() != 0)
        throw DataError(path + ": " + std::to_string(gz.unused_input()) +
                        " bytes of trailing garbage after the gzip stream. " + kRefetchHint);
    return f;
}

}  // namespace

IdxFile decode_idx_file(std::vector<std::uint8_t> bytes, const std::string& what, std::size_t max_payload) {
    if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
        return gunzip_idx(bytes, what, max_payload);
    IdxFile f;
    f.header = parse_idx_header(bytes.data(), bytes.size(), what);
    if (f.header.payload_bytes > max_payload)
        throw DataError(what + ": the header promises " + std::to_string(f.header.payload_bytes) +
                        " payload bytes, more than the " + std::to_string(max_payload) +
                        " an IDX file may hold here (MNIST's largest is 47 MB)");
    check_idx_size(f.header, bytes.size(), what);
    f.bytes = std::move(bytes);
    return f;
}

IdxFile read_idx_file(const std::string& path, std::size_t max_payload) {
    return decode_idx_file(read_file(path, max_payload + 4 + 4 * 255), path, max_payload);
}

IdxArray read_idx(const std::string& path) {
    IdxFile f = read_idx_file(path);
    IdxArray a;
    a.type = f.header.type;
    a.dims = f.header.dims;
    // Shift the payload down over the header in place instead of copying it to a new buffer.
    const std::size_t payload = f.header.payload_bytes;
    idx_to_host_order(a.type, f.payload(), f.bytes.data(), payload / idx_element_size(a.type));
    f.bytes.resize(payload);
    a.bytes = std::move(f.bytes);
    return a;
}

}  // namespace ds::data
