#include "core/io/huge_pages.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace ds::io {
namespace {

constexpr std::size_t kHugePage = std::size_t(2) << 20;
constexpr std::size_t kAlignment = 64;  // torch's CPU alignment (c10::gAlignment)

void release(void* p) { std::free(p); }

struct HugePageCpuAllocator final : c10::Allocator {
    c10::DataPtr allocate(std::size_t n) const override {
        const c10::Device cpu(c10::DeviceType::CPU);
        if (n == 0) return {nullptr, nullptr, &release, cpu};
        const bool huge = n >= kHugePage;
        void* p = nullptr;
        const int err = posix_memalign(&p, huge ? kHugePage : kAlignment, n);
        TORCH_CHECK(err == 0 && p, "not enough memory: tried to allocate ", n, " bytes (", n / 1073741824.0, " GB)");
#ifdef MADV_HUGEPAGE
        if (huge) madvise(p, n, MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
#endif
        return {p, p, &release, cpu};
    }
    c10::DeleterFnPtr raw_deleter() const override { return &release; }
};

std::atomic<bool> g_installed{false};

}  // namespace

void install_huge_page_allocator() {
#ifdef __linux__
    static std::once_flag once;
    std::call_once(once, [] {
        const char* env = std::getenv("DS_HUGE_PAGES");
        if (env && std::strcmp(env, "0") == 0) return;
        static HugePageCpuAllocator allocator;  // static lifetime, as SetCPUAllocator requires
        c10::SetCPUAllocator(&allocator, /*priority=*/1);
        g_installed = c10::GetCPUAllocator() == &allocator;
    });
#endif
}

bool huge_page_allocator_installed() { return g_installed; }

}  // namespace ds::io
