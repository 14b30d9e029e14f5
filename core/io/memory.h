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

// Total memory of GPU `index` (the current one when < 0), asked of the CUDA runtime that a CUDA
// LibTorch loads into the process (found at run time: nothing links against CUDA here); -1 when
// there is none. $DS_DEVICE_MEMORY_GB overrides it (tests; a share of a GPU).
std::int64_t device_total_memory_bytes(int index);
// Throws ModelLoadError ("needs X GB in <dtype>, the GPU has Y GB") before loading `what` onto
// `device` (its name, as "cuda:0") when `needed` bytes exceed the device's total memory: a load
// that can never fit. Memory other programs hold is not counted: their use changes, and a load
// that runs out reports the size of the weights (models::to_device).
void check_device_memory(std::int64_t needed, const std::string& what, const std::string& dtype,
                         const std::string& device, int index);

}  // namespace ds::io
