#pragma once
// Transparent huge pages for large CPU tensors.
//
// A fresh multi-megabyte allocation is first touched one 4 KB page fault at a time: writing 400 MB
// into new memory took 0.42-0.48 s on the 2-vCPU EPYC, 0.06 s into memory already touched. Debian
// sets THP to "madvise", so nothing gets huge pages unless it asks. install_huge_page_allocator()
// replaces torch's CPU allocator with one that aligns blocks of 2 MB or more to 2 MB and marks them
// MADV_HUGEPAGE (0.10-0.12 s for the same 400 MB; measurements in docs/performance.md); smaller
// blocks are allocated as torch's default allocator does (64-byte aligned). Idempotent; does
// nothing when DS_HUGE_PAGES=0 (to measure the difference) or on non-Linux systems.
namespace ds::io {

void install_huge_page_allocator();
// Whether tensors allocated from now on use it.
bool huge_page_allocator_installed();

}  // namespace ds::io
