#include "core/io/memory.h"

#include "core/io/huge_pages.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/engine/errors.h"

namespace ds::io {

std::int64_t available_memory_bytes() {
    if (const char* limit = std::getenv("DS_MEMORY_LIMIT_GB"); limit && *limit)
        return std::int64_t(std::atof(limit) * 1024.0 * 1024.0 * 1024.0);
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::int64_t kb = 0;
    std::string unit;
    while (in >> key >> kb >> unit)
        if (key == "MemAvailable:") return kb * 1024;
    return -1;
}

void check_memory(std::int64_t needed, const std::string& what, const std::string& dtype) {
    release_cached_cpu_memory();  // blocks the allocator keeps for reuse count as available
    const std::int64_t available = available_memory_bytes();
    if (available < 0 || needed <= available) return;
    char sizes[160];  // only numbers and the dtype go through snprintf; `what` may be a long path
    std::snprintf(sizes, sizeof sizes, " needs %.1f GB of weights in %s but only %.1f GB of memory is available; ",
                  needed / 1073741824.0, dtype.c_str(), available / 1073741824.0);
    const std::string hint = dtype == "fp32" ? "--dtype fp32-w16 (16-bit weights, fp32 arithmetic) halves it; or use "
                                               "a smaller model or free memory"
                                             : "use a smaller model or free memory";
    throw ModelLoadError(what + sizes + hint);
}

std::int64_t device_total_memory_bytes(int index) {
    if (const char* limit = std::getenv("DS_DEVICE_MEMORY_GB"); limit && *limit)
        return std::int64_t(std::atof(limit) * 1024.0 * 1024.0 * 1024.0);
    // The CUDA runtime's C API (cudaError_t is an int enum, 0 = success).
    using MemGetInfo = int (*)(std::size_t*, std::size_t*);
    using GetDevice = int (*)(int*);
    using SetDevice = int (*)(int);
    auto mem_get_info = reinterpret_cast<MemGetInfo>(dlsym(RTLD_DEFAULT, "cudaMemGetInfo"));
    auto get_device = reinterpret_cast<GetDevice>(dlsym(RTLD_DEFAULT, "cudaGetDevice"));
    auto set_device = reinterpret_cast<SetDevice>(dlsym(RTLD_DEFAULT, "cudaSetDevice"));
    if (!mem_get_info || !get_device || !set_device) return -1;
    int current = 0;
    if (get_device(&current) != 0) return -1;
    const bool other = index >= 0 && index != current;
    if (other && set_device(index) != 0) return -1;
    std::size_t free_bytes = 0, total_bytes = 0;
    const int rc = mem_get_info(&free_bytes, &total_bytes);
    if (other) set_device(current);
    return rc == 0 ? std::int64_t(total_bytes) : -1;
}

void check_device_memory(std::int64_t needed, const std::string& what, const std::string& dtype,
                         const std::string& device, int index) {
    const std::int64_t total = device_total_memory_bytes(index);
    if (total < 0 || needed <= total) return;
    char sizes[200];
    std::snprintf(sizes, sizeof sizes, " needs %.1f GB of weights in %s but %s has %.1f GB in all; ",
                  needed / 1073741824.0, dtype.c_str(), device.c_str(), total / 1073741824.0);
    const std::string hint = dtype == "fp32" ? "--dtype fp16 or bf16 halves it; or use a smaller model or --device cpu"
                                             : "use a smaller model or --device cpu";
    throw ModelLoadError(what + sizes + hint);
}

}  // namespace ds::io
