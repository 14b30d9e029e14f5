// The CPU allocator the engine installs: large tensors 2 MB-aligned on transparent huge pages.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/engine/engine.h"
#include "core/io/huge_pages.h"

namespace {
// AnonHugePages (kB) of the mapping of /proc/self/smaps that contains `p`; -1 if none does.
long anon_huge_kb(const void* p) {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    std::ifstream in("/proc/self/smaps");
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        std::uintptr_t lo = 0, hi = 0;
        char dash = 0;
        std::istringstream head(line);
        if (line.find('-') != std::string::npos && (head >> std::hex >> lo >> dash >> hi) && dash == '-') {
            inside = lo <= addr && addr < hi;
            continue;
        }
        if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::stol(line.substr(14));
    }
    return -1;
}

std::string thp_mode() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string s;
    std::getline(in, s);
    return s;
}
}  // namespace

TEST_CASE("the engine puts large CPU tensors on 2 MB-aligned huge pages and small ones as before", "[io]") {
    const char* env = std::getenv("DS_HUGE_PAGES");
    if (env && std::string(env) == "0") return;  // opted out for a comparison run
    ds::Engine engine({1});
    REQUIRE(ds::io::huge_page_allocator_installed());
    auto big = torch::empty({16, 1024, 1024});  // 64 MB
    CHECK(reinterpret_cast<std::uintptr_t>(big.data_ptr()) % (2u << 20) == 0);
    big.fill_(1.5f);
    CHECK(big.sum().item<double>() == 1.5 * 16 * 1024 * 1024);
    const auto mode = thp_mode();
    if (mode.find("[always]") != std::string::npos || mode.find("[madvise]") != std::string::npos)
        CHECK(anon_huge_kb(big.data_ptr()) >= 2048);
    auto small = torch::ones({100});
    CHECK(reinterpret_cast<std::uintptr_t>(small.data_ptr()) % 64 == 0);
    CHECK(small.sum().item<double>() == 100);
    auto none = torch::empty({0, 7});
    CHECK(none.numel() == 0);
    // Operators allocate through it too, and freeing returns the memory (no growth over repeats).
    for (int i = 0; i < 20; ++i) big = big * 2 - big;
    CHECK(big.max().item<double>() == 1.5);
}

TEST_CASE("the CPU allocator reuses freed blocks of similar size and gives them back on request", "[io]") {
    const char* env = std::getenv("DS_HUGE_PAGES");
    if (env && std::string(env) == "0") return;
    ds::Engine engine({1});
    REQUIRE(ds::io::huge_page_allocator_installed());
    ds::io::release_cached_cpu_memory();
    CHECK(ds::io::cpu_allocator_stats().cached_bytes == 0);
    const void* first = nullptr;
    {
        auto a = torch::empty({3, 1000, 1000});  // 12 MB: cached when freed
        first = a.data_ptr();
    }
    CHECK(ds::io::cpu_allocator_stats().cached_bytes >= std::size_t(12000000));
    const auto before = ds::io::cpu_allocator_stats();
    {
        auto b = torch::empty({2900, 1000});  // 11.6 MB: within 25 % of the cached block
        CHECK(b.data_ptr() == first);
        b.fill_(2.0f);
        CHECK(b.sum().item<double>() == 2.0 * 2900 * 1000);
        auto c = torch::empty({3, 1000, 1000});  // the block is taken: a fresh one
        CHECK(c.data_ptr() != first);
        auto tiny = torch::empty({4, 4});  // small blocks bypass the cache
        CHECK(reinterpret_cast<std::uintptr_t>(tiny.data_ptr()) % 64 == 0);
    }
    const auto after = ds::io::cpu_allocator_stats();
    CHECK(after.hits == before.hits + 1);
    CHECK(after.misses == before.misses + 1);
    {
        auto d = torch::empty({1000, 1000});  // 4 MB: less than 80 % of 12 MB, not served from it
        CHECK(d.data_ptr() != first);
    }
    CHECK(ds::io::cpu_allocator_stats().cached_bytes <= ds::io::cpu_allocator_stats().cache_limit);
    ds::io::release_cached_cpu_memory();
    CHECK(ds::io::cpu_allocator_stats().cached_bytes == 0);
    // A cap of zero caches nothing; the default comes back afterwards.
    const auto limit = after.cache_limit;
    ds::io::set_cpu_cache_limit(0);
    { auto e = torch::empty({3, 1000, 1000}); }
    CHECK(ds::io::cpu_allocator_stats().cached_bytes == 0);
    ds::io::set_cpu_cache_limit(limit);
    { auto f = torch::empty({3, 1000, 1000}); }
    CHECK(ds::io::cpu_allocator_stats().cached_bytes > 0);
}
