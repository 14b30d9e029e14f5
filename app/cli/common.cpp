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

namespace {
// Options that name output files: left out of the recipe, so a replay to another file writes
// identical bytes.
// The GIF's frame spacing is left out too: it only shapes a file named on the command line.
const std::set<std::string> kOutputOptions = {"out", "gif", "raw", "gif-every"};
const std::set<std::string> kOutputFlags = {"gif-x0"};

std::vector<std::string> recipe_argv(const std::vector<std::string>& raw) {
    std::vector<std::string> out;
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i].rfind("--", 0) == 0 && kOutputFlags.count(raw[i].substr(2))) continue;
        if (raw[i].rfind("--", 0) == 0 && kOutputOptions.count(raw[i].substr(2))) {
            ++i;  // skip its value
            continue;
        }
        out.push_back(raw[i]);
    }
    return out;
}

}  // namespace

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

std::string sidecar_path(const std::string& png) {
    return std::filesystem::path(png).replace_extension(".json").string();
}

void write_figure(const std::string& command, const std::vector<std::string>& raw,
                  const std::string& recipe_json, const ds::Image& figure, const std::string& out) {
    auto recipe = nlohmann::json::parse(recipe_json);
    recipe["command"] = command;
    recipe["argv"] = recipe_argv(raw);
    ds::write_png(figure, out, {{"ds.recipe", recipe.dump(2)}});
    recipe["output"] = {{"file", std::filesystem::path(out).filename().string()},
                        {"sha256", ds::sha256_file(out)}};
    ds::write_text_file(sidecar_path(out), recipe.dump(2) + "\n");
}

}  // namespace cli
