// Smoke tests of the dstudio binary: help, usage errors and exit codes.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>

namespace {
struct Run {
    int code;
    std::string out;
};
Run run(const std::string& args) {
    const std::string cmd = std::string(DS_CLI_PATH) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf{};
    while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
}  // namespace

TEST_CASE("dstudio help and usage errors", "[cli]") {
    auto help = run("--help");
    CHECK(help.code == 0);
    CHECK(help.out.find("train") != std::string::npos);
    for (auto cmd : {"train", "sample", "noise", "denoise", "plot", "eval", "models", "export", "bench"}) {
        INFO(cmd);
        auto r = run(std::string(cmd) + " --help");
        CHECK(r.code == 0);
        CHECK(r.out.find("usage: dstudio") != std::string::npos);
    }
    CHECK(run("").code == 2);
    CHECK(run("frobnicate").code == 2);
    CHECK(run("train --kind class-ddpm").code == 2);
    CHECK(run("train --kind nope --out /tmp/x").code == 2);
    CHECK(run("sample --model x --out y --steps abc").code == 2);
    CHECK(run("sample --model x --out y --bogus 1").code == 2);
    CHECK(run("--threads -3 models").code == 2);
}

TEST_CASE("dstudio reports missing models and data with exit code 1", "[cli]") {
    auto r = run("sample --model no-such-model --out /tmp/ds_cli_x.png");
    CHECK(r.code == 1);
    CHECK(r.out.find("unknown model 'no-such-model'") != std::string::npos);
    r = run("--data /nonexistent train --kind denoiser --out /tmp/ds_cli_run_nodata --epochs 1");
    CHECK(r.code == 1);
    CHECK(r.out.find("setup.sh") != std::string::npos);
    std::filesystem::remove_all("/tmp/ds_cli_run_nodata");
}

TEST_CASE("dstudio noise writes a figure", "[cli]") {
    const std::string out = "/tmp/ds_cli_noise.png";
    std::filesystem::remove(out);
    auto r = run("noise --out " + out + " --index 0,1 --sigmas 0,0.5,1");
    CHECK(r.code == 0);
    CHECK(std::filesystem::exists(out));
}
