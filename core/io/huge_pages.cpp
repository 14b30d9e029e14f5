#include "core/io/huge_pages.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

// LibTorch 2.3 changed c10::Allocator: allocate() is no longer const, and copy_data() is a new
// pure virtual (Debian's 1.13 has the old interface, the PyTorch wheels of GPU builds the new).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define DS_ALLOCATOR_2_3 1
#endif

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace ds::io {
namespace {

constexpr std::size_t kHugePage = std::size_t(2) << 20;
constexpr std::size_t kAlignment = 64;                  // torch's CPU alignment (c10::gAlignment)
constexpr std::size_t kMinCached = std::size_t(64) << 10;  // glibc's bins serve smaller blocks well
constexpr std::size_t kMaxCachedBlock = std::size_t(1) << 30;

std::size_t env_mb(const char* name, std::size_t fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(v, &end, 10);
    return end && *end == '\0' ? std::size_t(mb) << 20 : fallback;
}

std::size_t default_cache_cap() {
    std::size_t phys = std::size_t(8) << 30;
#ifdef __linux__
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) phys = std::size_t(pages) * std::size_t(page);
#endif
    return std::min(std::size_t(4) << 30, phys / 8);
}

// Freed blocks of 64 KB and more are kept (up to a cap) and handed out again for requests of the
// same size or up to 25 % smaller, so the activations of one training or sampling step reuse the
// memory of the previous one instead of faulting in fresh pages.
class BlockCache {
public:
    void* allocate(std::size_t n) {
        if (n < kMinCached) return fresh(n, kAlignment);
        const std::size_t size = round_up(n);
        std::vector<void*> evicted;
        void* p = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = free_.lower_bound(size);
            if (it != free_.end() && it->first <= size + size / 4) {
                p = it->second;
                live_[p] = it->first;
                cached_ -= it->first;
                free_.erase(it);
                ++hits_;
                return p;
            }
            ++misses_;
            evict_until(cap_ > size ? cap_ - size : 0, evicted);
        }
        for (void* e : evicted) std::free(e);
        p = fresh(size, size >= kHugePage ? kHugePage : kAlignment, /*may_fail=*/true);
        if (!p) {  // give everything cached back and try once more
            trim();
            p = fresh(size, size >= kHugePage ? kHugePage : kAlignment);
        }
        std::lock_guard<std::mutex> lock(mutex_);
        live_[p] = size;
        return p;
    }

    void release(void* p) {
        if (!p) return;
        std::vector<void*> evicted;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = live_.find(p);
            if (it == live_.end()) {  // a small block
                std::free(p);
                return;
            }
            const std::size_t size = it->second;
            live_.erase(it);
            if (size <= kMaxCachedBlock && size <= cap_) {
                evict_until(cap_ - size, evicted);
                free_.emplace(size, p);
                cached_ += size;
                p = nullptr;
            }
        }
        for (void* e : evicted) std::free(e);
        if (p) std::free(p);
    }

    void trim() {
        std::vector<void*> evicted;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            evict_until(0, evicted);
        }
        for (void* e : evicted) std::free(e);
    }

    void set_cap(std::size_t cap) {
        std::vector<void*> evicted;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            cap_ = cap;
            evict_until(cap, evicted);
        }
        for (void* e : evicted) std::free(e);
    }

    CpuAllocatorStats stats() {
        std::lock_guard<std::mutex> lock(mutex_);
        return {cached_, cap_, hits_, misses_};
    }

private:
    static std::size_t round_up(std::size_t n) {
        const std::size_t unit = n >= kHugePage ? kHugePage : kMinCached;
        return (n + unit - 1) / unit * unit;
    }

    static void* fresh(std::size_t n, std::size_t alignment, bool may_fail = false) {
        void* p = nullptr;
        const int err = posix_memalign(&p, alignment, n);
        if (may_fail && (err != 0 || !p)) return nullptr;
        TORCH_CHECK(err == 0 && p, "not enough memory: tried to allocate ", n, " bytes (", n / 1073741824.0,
                    " GB)");
#ifdef MADV_HUGEPAGE
        if (n >= kHugePage) madvise(p, n, MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
#endif
        return p;
    }

    // Drops the largest cached blocks until at most `keep` bytes stay cached (lock held).
    void evict_until(std::size_t keep, std::vector<void*>& out) {
        while (cached_ > keep && !free_.empty()) {
            auto last = std::prev(free_.end());
            cached_ -= last->first;
            out.push_back(last->second);
            free_.erase(last);
        }
    }

    std::mutex mutex_;
    std::multimap<std::size_t, void*> free_;      // cached blocks by size
    std::unordered_map<void*, std::size_t> live_;  // handed-out blocks of kMinCached and more
    std::size_t cached_ = 0;
    std::size_t cap_ = env_mb("DS_ALLOC_CACHE_MB", default_cache_cap());
    std::uint64_t hits_ = 0, misses_ = 0;
};

BlockCache& cache() {
    static BlockCache* c = new BlockCache();  // never destroyed: tensors may outlive static teardown
    return *c;
}

void release(void* p) { cache().release(p); }

struct CachingCpuAllocator final : c10::Allocator {
#ifdef DS_ALLOCATOR_2_3
    c10::DataPtr allocate(std::size_t n) override {
#else
    c10::DataPtr allocate(std::size_t n) const override {
#endif
        const c10::Device cpu(c10::DeviceType::CPU);
        if (n == 0) return {nullptr, nullptr, &release, cpu};
        void* p = cache().allocate(n);
        return {p, p, &release, cpu};
    }
    c10::DeleterFnPtr raw_deleter() const override { return &release; }
#ifdef DS_ALLOCATOR_2_3
    void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
#endif
};

std::atomic<bool> g_installed{false};

}  // namespace

void install_huge_page_allocator() {
#ifdef __linux__
    static std::once_flag once;
    std::call_once(once, [] {
        const char* env = std::getenv("DS_HUGE_PAGES");
        if (env && std::strcmp(env, "0") == 0) return;
        static CachingCpuAllocator allocator;  // static lifetime, as SetCPUAllocator requires
        c10::SetCPUAllocator(&allocator, /*priority=*/1);
        g_installed = c10::GetCPUAllocator() == &allocator;
    });
#endif
}

bool huge_page_allocator_installed() { return g_installed; }

CpuAllocatorStats cpu_allocator_stats() { return cache().stats(); }

void release_cached_cpu_memory() { cache().trim(); }

void set_cpu_cache_limit(std::size_t bytes) { cache().set_cap(bytes); }

}  // namespace ds::io
