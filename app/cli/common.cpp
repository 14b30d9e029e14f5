#include "app/cli/common.h"

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/engine/hashing.h"
#include "core/engine/image.h"
#include "core/engine/recipe.h"

namespace cli {

namespace {
// A stop signal sets the running request's cancel token (a lock-free atomic: safe in a handler);
// a second one exits at once.
ds::CancelToken* g_cancel = nullptr;
volatile std::sig_atomic_t g_interrupts = 0;
volatile std::sig_atomic_t g_first_signal = 0;
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

void on_stop_signal(int signo) {
    if (++g_interrupts > 1) _exit(128 + signo);
    g_first_signal = signo;
    if (g_cancel) g_cancel->request(ds::CancelMode::Now);
}

void set_handlers(void (*handler)(int)) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    for (int s : kStopSignals) sigaction(s, &sa, nullptr);
}
}  // namespace

InterruptScope::InterruptScope(ds::CancelToken& token) {
    g_cancel = &token;
    g_interrupts = 0;
    g_first_signal = 0;
    set_handlers(on_stop_signal);
}

InterruptScope::~InterruptScope() {
    set_handlers(SIG_DFL);
    g_cancel = nullptr;
}

int InterruptScope::exit_code() { return g_first_signal ? 128 + g_first_signal : 130; }

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


void check_output_folder(const std::string& path) {
    if (std::filesystem::is_directory(path))
        throw ds::IoError("cannot write '" + path + "': it is a folder; give a file name");
    auto dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = ".";
    if (!std::filesystem::is_directory(dir))
        throw ds::IoError("cannot write '" + path + "': folder '" + dir.string() + "' does not exist");
    if (::access(dir.c_str(), W_OK) != 0)
        throw ds::IoError("cannot write '" + path + "': folder '" + dir.string() + "' is not writable");
}

std::string sidecar_path(const std::string& png) { return ds::recipe_sidecar_path(png); }

void write_figure(const std::string& command, const std::vector<std::string>& raw,
                  const std::string& recipe_json, const ds::Image& figure, const std::string& out) {
    ds::save_result_png(figure, out, recipe_json, command, raw);
}

}  // namespace cli
