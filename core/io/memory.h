#pragma once
// How much memory a large model may still take: MemAvailable of /proc/meminfo (Linux).
#include <cstdint>
#include <string>

namespace ds::io {

// Bytes available for new allocations; -1 when unknown (non-Linux).
std::int64_t available_memory_bytes();
// Throws ModelLoadError ("needs X GB in <dtype>, Y GB available") before loading `what` when
// `needed` bytes do not fit. $DS_MEMORY_LIMIT_GB overrides what is considered available.
void check_memory(std::int64_t needed, const std::string& what, const std::string& dtype);

}  // namespace ds::io
