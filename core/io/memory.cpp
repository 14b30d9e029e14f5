#include "core/io/memory.h"

#include "core/io/huge_pages.h"

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

}  // namespace ds::io
