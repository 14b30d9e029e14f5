#include "app/cli/common.h"

#include <unistd.h>

#include <csignal>
#include <iostream>

namespace cli {

namespace {
// SIGINT sets the running request's cancel token (a lock-free atomic: safe in a handler);
// a second SIGINT exits at once.
ds::CancelToken* g_cancel = nullptr;
volatile std::sig_atomic_t g_interrupts = 0;

void on_sigint(int) {
    if (++g_interrupts > 1) _exit(130);
    if (g_cancel) g_cancel->request(ds::CancelMode::Now);
}
}  // namespace

SigintScope::SigintScope(ds::CancelToken& token) {
    g_cancel = &token;
    std::signal(SIGINT, on_sigint);
}

SigintScope::~SigintScope() {
    std::signal(SIGINT, SIG_DFL);
    g_cancel = nullptr;
}

void log_line(ds::LogLevel level, const std::string& msg) {
    const char* tag = level == ds::LogLevel::Warning ? "warning: "
                      : level == ds::LogLevel::Error ? "error: "
                                                     : "";
    if (isatty(2)) std::cerr << "\r\033[K";
    std::cerr << tag << msg << "\n";
}

bool wants_help(const std::vector<std::string>& a) {
    for (const auto& s : a)
        if (s == "--help" || s == "-h") return true;
    return false;
}

std::vector<std::string> split_list(const std::string& text, char sep) {
    std::vector<std::string> out;
    for (size_t p = 0; !text.empty();) {
        auto q = text.find(sep, p);
        out.push_back(text.substr(p, q - p));
        if (q == std::string::npos) break;
        p = q + 1;
    }
    return out;
}

}  // namespace cli
