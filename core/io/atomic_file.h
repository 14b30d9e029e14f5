#pragma once
// Crash-safe file writes: data goes to a temp file in the target's folder, is fsync'ed, and is
// renamed over the target only when complete. Readers see the old file or the new one, never a
// half-written one. Used for images, GIFs, JSON and checkpoints.
#include <cstddef>
#include <string>

namespace ds::io {

// Writes `size` bytes to `path` atomically. Throws ds::IoError (naming `path`) on failure; no
// temp file is left behind.
void write_file_atomic(const std::string& path, const void* data, std::size_t size);
void write_file_atomic(const std::string& path, const std::string& bytes);

// Streaming variant for large outputs (checkpoints). The temp file is created by the
// constructor; commit() flushes, fsyncs and renames it over `path`. Destroying an uncommitted
// writer (an exception mid-write, a cancelled save) removes the temp file and leaves any
// existing `path` untouched. Not copyable; not thread-safe.
// Removes the temp files that writers of processes no longer running left in `folder` (a process
// killed mid-save: the target itself is intact). Returns how many were removed; a missing folder
// gives 0. Temp files of live processes (another writer at work) are kept.
int remove_stale_temp_files(const std::string& folder);

class AtomicWriter {
public:
    explicit AtomicWriter(std::string path);
    ~AtomicWriter();
    AtomicWriter(const AtomicWriter&) = delete;
    AtomicWriter& operator=(const AtomicWriter&) = delete;

    void write(const void* data, std::size_t size);
    void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
    // Makes the data durable and visible at path(). Call at most once.
    void commit();
    // Removes the temp file without touching path(). Safe to call more than once.
    void discard() noexcept;

    const std::string& path() const { return path_; }
    const std::string& temp_path() const { return temp_path_; }
    bool committed() const { return committed_; }

private:
    [[noreturn]] void fail(const std::string& what, int err);

    std::string path_;
    std::string temp_path_;
    int fd_ = -1;
    bool committed_ = false;
};

}  // namespace ds::io
