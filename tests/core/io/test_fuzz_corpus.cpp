// Replays the committed fuzz corpus (tests/fuzz/corpus/<target>/) through the fuzz targets'
// checks with the test build's compiler: every seed and every regression input of a past finding
// must be refused cleanly or accepted consistently (a broken invariant aborts the test binary).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"

namespace fs = std::filesystem;

TEST_CASE("the fuzz corpus of every parser replays cleanly", "[robust]") {
    const std::map<std::string, int (*)(const std::uint8_t*, std::size_t)> targets = {
        {"safetensors", ds::fuzz::safetensors}, {"idx", ds::fuzz::idx},       {"idx_file", ds::fuzz::idx_file},
        {"png_text", ds::fuzz::png_text},       {"recipe", ds::fuzz::recipe}, {"if_config", ds::fuzz::if_config}};
    const fs::path corpus = fs::path(DS_SOURCE_DIR) / "tests" / "fuzz" / "corpus";
    for (const auto& [name, fn] : targets) {
        const fs::path dir = corpus / name;
        REQUIRE(fs::is_directory(dir));
        int files = 0;
        for (const auto& e : fs::directory_iterator(dir)) {
            std::ifstream in(e.path(), std::ios::binary);
            const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            INFO(e.path().string());
            CHECK(fn(bytes.data(), bytes.size()) == 0);
            ++files;
        }
        INFO(name);
        CHECK(files >= 3);
    }
}
