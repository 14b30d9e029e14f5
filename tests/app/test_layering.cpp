// The include rules of docs/architecture.md, checked over the source tree.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {
std::vector<std::string> offenders(const std::string& folder, const std::regex& forbidden) {
    std::vector<std::string> bad;
    for (const auto& e : fs::recursive_directory_iterator(fs::path(DS_SOURCE_DIR) / folder)) {
        const auto ext = e.path().extension();
        if (ext != ".h" && ext != ".cpp") continue;
        std::ifstream in(e.path());
        for (std::string line; std::getline(in, line);)
            if (std::regex_search(line, forbidden)) bad.push_back(e.path().string() + ": " + line);
    }
    return bad;
}
}  // namespace

TEST_CASE("layering: core is Qt-free, ui never includes torch/OpenCV, the CLI sees only the facade",
          "[layering]") {
    CHECK(offenders("core", std::regex(R"(#include\s*[<"]Q)")).empty());
    CHECK(offenders("ui", std::regex(R"(#include\s*[<"](torch/|ATen/|c10/|opencv2/))")).empty());
    CHECK(offenders("ui", std::regex(R"(#include\s*"core/(?!engine/))")).empty());
    CHECK(offenders("app/cli", std::regex(R"(#include\s*[<"](torch/|ATen/|opencv2/|Q))")).empty());
    // ... and, for `dstudio bench` and `dstudio debug`, the diagnostics beside it (core/bench).
    CHECK(offenders("app/cli", std::regex(R"(#include\s*"core/(?!engine/|bench/diagnostics\.h"))")).empty());
    // Engine headers include only the standard library and each other.
    std::vector<std::string> bad;
    for (const auto& e : fs::directory_iterator(fs::path(DS_SOURCE_DIR) / "core" / "engine")) {
        if (e.path().extension() != ".h") continue;
        std::ifstream in(e.path());
        for (std::string line; std::getline(in, line);)
            if (std::regex_search(line, std::regex(R"(#include\s*"(?!core/engine/))")) ||
                std::regex_search(line, std::regex(R"(#include\s*<(torch|ATen|c10|opencv2|Q|nlohmann))")))
                bad.push_back(e.path().string() + ": " + line);
    }
    CHECK(bad.empty());
}

TEST_CASE("no include cycles between core/ folders (core/engine, the facade's headers, at the bottom)",
          "[layering]") {
    // folder -> folders its files include, with one file per edge for the message.
    std::map<std::string, std::map<std::string, std::string>> edges;
    const std::regex include(R"(#include\s*"core/([a-z_]+)/)");
    const fs::path core = fs::path(DS_SOURCE_DIR) / "core";
    for (const auto& e : fs::recursive_directory_iterator(core)) {
        const auto ext = e.path().extension();
        if (ext != ".h" && ext != ".cpp") continue;
        const std::string from = fs::relative(e.path(), core).begin()->string();
        std::ifstream in(e.path());
        for (std::string line; std::getline(in, line);) {
            std::smatch m;
            if (std::regex_search(line, m, include) && m[1] != from)
                edges[from].emplace(m[1], fs::relative(e.path(), DS_SOURCE_DIR).string());
        }
    }
    REQUIRE(edges.size() >= 6);  // the walk saw the folders
    CHECK(edges.count("engine") == 0);  // the facade's headers include no other folder
    // Depth-first search for a cycle; the message names the folders and a file per step.
    std::map<std::string, int> state;  // 0 new, 1 on the stack, 2 done
    std::vector<std::string> stack;
    std::string cycle;
    std::function<bool(const std::string&)> visit = [&](const std::string& f) {
        state[f] = 1;
        stack.push_back(f);
        for (const auto& [to, file] : edges[f]) {
            if (state[to] == 1) {
                for (auto it = std::find(stack.begin(), stack.end(), to); it != stack.end(); ++it) cycle += *it + " -> ";
                cycle += to + " (e.g. " + file + ")";
                return true;
            }
            if (state[to] == 0 && visit(to)) return true;
        }
        stack.pop_back();
        state[f] = 2;
        return false;
    };
    std::vector<std::string> folders;
    for (const auto& entry : edges) folders.push_back(entry.first);
    for (const auto& f : folders)
        if (state[f] == 0 && visit(f)) break;
    INFO(cycle);
    CHECK(cycle.empty());
}
