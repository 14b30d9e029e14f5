#pragma once
// A cancel flag shared between the thread that asks and the worker that checks it.
#include <atomic>
#include <memory>

namespace ds {

enum class CancelMode : int {
    None = 0,
    AfterCurrent = 1,  // finish the current epoch / image, save, then stop
    Now = 2,           // stop at the next step or batch boundary
};

class CancelToken {
public:
    CancelToken() : state_(std::make_shared<std::atomic<int>>(0)) {}

    // Raises the level (None < AfterCurrent < Now); never lowers it. Safe from any thread.
    void request(CancelMode mode) const {
        int want = static_cast<int>(mode);
        int cur = state_->load();
        while (want > cur && !state_->compare_exchange_weak(cur, want)) {
        }
    }
    CancelMode mode() const { return static_cast<CancelMode>(state_->load()); }
    bool now() const { return state_->load() >= static_cast<int>(CancelMode::Now); }
    bool any() const { return state_->load() != 0; }
    void reset() const { state_->store(0); }

private:
    std::shared_ptr<std::atomic<int>> state_;
};

}  // namespace ds
