#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include "core/engine/errors.h"
#include "core/engine/image.h"

namespace ds::io {
namespace {

// Retries for the unlikely case that a stale temp file of the same name exists.
constexpr int kTempNameAttempts = 16;

std::string folder_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos)
        return ".";
    if (slash == 0)
        return "/";
    return path.substr(0, slash);
}

// Hidden (dot-prefixed) so a half-written file never shows up in image folder listings; pid and
// a process-wide counter keep concurrent writers (threads or processes) apart.
std::string temp_name_for(const std::string& path) {
    static std::atomic<unsigned> counter{0};
    const auto slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    return dir + "." + base + ".tmp-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1));
}

// The rename is only durable once the directory entry is on disk; failure here is not fatal
// (some filesystems refuse fsync on directories), the data itself is already synced.
void sync_folder(const std::string& path) {
    const int dir_fd = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return;
    ::fsync(dir_fd);
    ::close(dir_fd);
}

}  // namespace

AtomicWriter::AtomicWriter(std::string path) : path_(std::move(path)) {
    if (path_.empty())
        throw IoError("cannot write file: empty path");
    if (path_.back() == '/')
        throw IoError("cannot write '" + path_ + "': path names a folder");
    for (int attempt = 0; attempt < kTempNameAttempts; ++attempt) {
        temp_path_ = temp_name_for(path_);
        // 0666 minus the umask: the same permissions a plain fopen() would give the target.
        fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd_ >= 0)
            return;
        if (errno != EEXIST)
            break;
    }
    const int err = errno;
    temp_path_.clear();
    fail("cannot create a temp file in '" + folder_of(path_) + "'", err);
}

AtomicWriter::~AtomicWriter() {
    if (!committed_)
        discard();
}

void AtomicWriter::write(const void* data, std::size_t size) {
    if (fd_ < 0)
        throw IoError("cannot write '" + path_ + "': writer already closed");
    const auto* bytes = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd_, bytes, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("write failed", errno);
        }
        bytes += n;
        size -= static_cast<std::size_t>(n);
    }
}

void AtomicWriter::commit() {
    if (fd_ < 0)
        throw IoError("cannot write '" + path_ + "': writer already closed");
    if (::fsync(fd_) != 0)
        fail("fsync failed", errno);
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0)
        fail("close failed", errno);
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
        fail("rename failed", errno);
    committed_ = true;
    temp_path_.clear();
    sync_folder(path_);
}

void AtomicWriter::discard() noexcept {
    if (fd_ >= 0)
        ::close(std::exchange(fd_, -1));
    if (!temp_path_.empty())
        ::unlink(temp_path_.c_str());
    temp_path_.clear();
}

int remove_stale_temp_files(const std::string& folder) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::directory_iterator it(folder, ec), end;
    if (ec) return 0;
    int removed = 0;
    for (; it != end; it.increment(ec)) {
        if (ec) break;
        // ".<name>.tmp-<pid>-<n>", as temp_name_for makes them.
        const std::string name = it->path().filename().string();
        const auto mark = name.rfind(".tmp-");
        if (name.empty() || name[0] != '.' || mark == std::string::npos || mark == 0) continue;
        const std::string rest = name.substr(mark + 5);
        const auto dash = rest.find('-');
        if (dash == std::string::npos || dash == 0 || dash > 9) continue;
        if (rest.find_first_not_of("0123456789", 0) != dash ||
            rest.find_first_not_of("0123456789", dash + 1) != std::string::npos || dash + 1 == rest.size())
            continue;
        const pid_t pid = static_cast<pid_t>(std::stol(rest.substr(0, dash)));
        const bool alive = pid == ::getpid() || ::kill(pid, 0) == 0 || errno == EPERM;
        if (alive || !it->is_regular_file(ec)) continue;
        if (fs::remove(it->path(), ec)) ++removed;
    }
    return removed;
}

void AtomicWriter::fail(const std::string& what, int err) {
    discard();
    throw IoError("cannot write '" + path_ + "': " + what + " (" +
                  std::system_category().message(err) +
                  "); check that the folder exists, is writable and has free space");
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
    AtomicWriter writer(path);
    writer.write(data, size);
    writer.commit();
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
    write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace ds::io

namespace ds {
void write_text_file(const std::string& path, const std::string& text) { io::write_file_atomic(path, text); }
}  // namespace ds
