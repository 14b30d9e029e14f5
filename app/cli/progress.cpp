#include "app/cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace cli {

namespace {
double now_s() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}
std::string hms(double s) {
    if (s < 0) return "--:--";
    const long t = static_cast<long>(s + 0.5);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
    return buf;
}
}  // namespace

void ProgressPrinter::update(const ds::ProgressEvent& e) {
    const bool tty = isatty(2);
    const double now = now_s();
    const bool last = e.step >= e.total;
    // Logs (stderr not a terminal) get a line at most every 10 s, or every DS_PROGRESS_INTERVAL
    // seconds (0: every event; scripts/if_real_scale.sh times stages with it).
    static const double log_interval = [] {
        const char* env = std::getenv("DS_PROGRESS_INTERVAL");
        return env && *env ? std::atof(env) : 10.0;
    }();
    if (!last && last_draw_ >= 0 && now - last_draw_ < (tty ? 0.1 : log_interval)) return;
    last_draw_ = now;
    const int width = 24;
    const double frac = e.total > 0 ? double(e.step) / e.total : 0;
    std::string bar(static_cast<size_t>(frac * width), '#');
    bar.resize(width, '.');
    char line[256];
    if (e.phase == "train") {
        std::snprintf(line, sizeof line, "[%s] epoch %d/%d step %lld/%lld loss %.4f lr %.2e %.0f img/s ETA %s",
                      bar.c_str(), e.epoch, e.epochs, (long long)e.step, (long long)e.total, e.loss, e.lr,
                      e.items_per_sec, hms(e.eta_seconds).c_str());
    } else if (e.phase.rfind("loading", 0) == 0) {  // step = percent; items_per_sec = MB/s
        std::snprintf(line, sizeof line, "[%s] %s %lld %% %.0f MB/s", bar.c_str(), e.phase.c_str(),
                      (long long)e.step, e.items_per_sec);
    } else {
        std::snprintf(line, sizeof line, "[%s] %s step %lld/%lld", bar.c_str(), e.phase.c_str(),
                      (long long)e.step, (long long)e.total);
    }
    if (tty) std::fprintf(stderr, "\r\033[K%s", line);
    else std::fprintf(stderr, "%s\n", line);
    drawn_ = tty;
}

void ProgressPrinter::clear() {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
    drawn_ = false;
}

}  // namespace cli
