// The include rules of docs/architecture.md, checked over the source tree.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

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
