#include "core/jobs/reporter.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include <torch/torch.h>

#include "core/engine/cancel.h"
#include "core/engine/errors.h"

namespace ds::jobs {

using Clock = std::chrono::steady_clock;

Reporter::Reporter(const Callbacks& callbacks, std::string phase, int total, Grid grid, Clock::time_point start)
    : cb_(callbacks), phase_(std::move(phase)), total_(total), grid_(std::move(grid)), start_(start) {}

void Reporter::step(int step, int steps, double t, const torch::Tensor& x, const torch::Tensor& x0) {
    ++done_;
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    if (cb_.on_progress) {
        ProgressEvent e;
        e.phase = phase_;
        e.step = total_ > 0 ? done_ : step;
        e.total = total_ > 0 ? std::max(total_, done_) : steps;
        e.items_per_sec = secs > 0 ? done_ / secs : 0;
        e.eta_seconds = secs / done_ * double(e.total - e.step);
        cb_.on_progress(e);
    }
    const int every = std::max(1, cb_.preview_interval);
    if (cb_.on_frame && grid_ && (step == steps || step % every == 0)) {
        FrameEvent f;
        f.step = step;
        f.total = steps;
        f.t = t;
        f.x_t = grid_(x);
        f.x0_hat = grid_(x0);
        if (views_)
            for (auto& [name, v] : views_(x0)) f.views.emplace_back(name, grid_(v));
        cb_.on_frame(f);
    }
}

std::string gb_text(std::int64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f GB", double(bytes) / 1073741824.0);
    return buf;
}

models::LoadProgress load_progress(const Callbacks* cb, const CancelToken* cancel, const std::string& phase) {
    auto start = std::make_shared<Clock::time_point>(Clock::now());
    auto last_percent = std::make_shared<std::int64_t>(-1);
    return [cb, cancel, phase, start, last_percent](std::int64_t done, std::int64_t total) {
        if (cancel && cancel->now()) throw Cancelled{};
        if (!cb || !cb->on_progress) return;
        const std::int64_t percent = total > 0 ? done * 100 / total : 100;  // at most 101 events a load
        if (percent == *last_percent) return;
        *last_percent = percent;
        ProgressEvent e;
        e.phase = phase + " (" + gb_text(total) + ")";
        e.step = percent;  // of 100
        e.total = 100;
        const double secs = std::chrono::duration<double>(Clock::now() - *start).count();
        e.items_per_sec = secs > 0 ? double(done) / 1048576.0 / secs : 0;  // MB/s
        e.eta_seconds = done > 0 ? secs * double(total - done) / double(done) : -1;
        cb->on_progress(e);
    };
}

}  // namespace ds::jobs
