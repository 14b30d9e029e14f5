#pragma once
// The torch CPU allocator the engine installs: huge pages for large tensors and a cache of freed
// blocks.
//
// A fresh multi-megabyte allocation is first touched one 4 KB page fault at a time: writing 400 MB
// into new memory took 0.42-0.48 s on the 2-vCPU EPYC, 0.06 s into memory already touched. Debian
// sets THP to "madvise", so nothing gets huge pages unless it asks. install_huge_page_allocator()
// replaces torch's CPU allocator with one that aligns blocks of 2 MB or more to 2 MB and marks them
// MADV_HUGEPAGE (0.10-0.12 s for the same 400 MB), and that keeps freed blocks of 64 KB and more
// (up to a cap: min(4 GB, RAM / 8), or $DS_ALLOC_CACHE_MB) to hand out again, so each training or
// sampling step reuses the previous step's memory instead of faulting in fresh pages (class-ddpm
// training 62 -> 108+ img/s on the Zen 5 VM; docs/performance.md). Smaller blocks are allocated as
// torch's default allocator does (64-byte aligned). Idempotent; does nothing when DS_HUGE_PAGES=0
// (to measure the difference) or on non-Linux systems.
#include <cstddef>
#include <cstdint>

namespace ds::io {

void install_huge_page_allocator();
// Whether tensors allocated from now on use it.
bool huge_page_allocator_installed();

struct CpuAllocatorStats {
    std::size_t cached_bytes = 0;  // freed blocks held for reuse
    std::size_t cache_limit = 0;
    std::uint64_t hits = 0, misses = 0;  // requests of 64 KB and more served from the cache / fresh
};
CpuAllocatorStats cpu_allocator_stats();
// Gives every cached block back to the system (before loading a large model, say).
void release_cached_cpu_memory();
// Changes the cap (0 = cache nothing), dropping cached blocks above it.
void set_cpu_cache_limit(std::size_t bytes);

}  // namespace ds::io
