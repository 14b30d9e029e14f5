// Smoke tests of the dstudio binary: help, usage errors and exit codes.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

namespace {
struct Run {
    int code;
    std::string out;
};
Run run_shell(const std::string& command_line) {
    const std::string cmd = command_line + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf{};
    while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
Run run(const std::string& args) { return run_shell(std::string(DS_CLI_PATH) + " " + args); }
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
    CHECK(run("train --out /tmp/ds_cli_no_kind").code == 2);  // a new run needs --kind
    // --resume alone takes the kind from the run; an empty folder has nothing to resume.
    auto resume = run("train --out /tmp/ds_cli_nothing_to_resume --resume");
    CHECK(resume.code == 2);  // an invalid request, like a usage error
    CHECK(resume.out.find("nothing to resume") != std::string::npos);
    std::filesystem::remove_all("/tmp/ds_cli_nothing_to_resume");
    CHECK(run("train --kind nope --out /tmp/x").code == 2);
    CHECK(run("sample --model x --out y --steps abc").code == 2);
    CHECK(run("sample --model x --out y --bogus 1").code == 2);
    CHECK(run("--threads -3 models").code == 2);
}

TEST_CASE("dstudio reports missing models and data with exit code 1", "[cli]") {
    auto r = run("sample --model no-such-model --out /tmp/ds_cli_x.png");
    CHECK(r.code == 1);
    CHECK(r.out.find("unknown model 'no-such-model'") != std::string::npos);
    // An empty folder given as a model says what a model folder would hold.
    std::filesystem::create_directories("/tmp/ds_cli_empty_model");
    r = run("sample --model /tmp/ds_cli_empty_model --out /tmp/ds_cli_x.png");
    CHECK(r.code == 1);
    CHECK(r.out.find("an empty folder, neither a training run") != std::string::npos);
    CHECK(r.out.find("unet/config.json") != std::string::npos);
    std::filesystem::remove_all("/tmp/ds_cli_empty_model");
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

TEST_CASE("dstudio denoise on an image: figure, recipe, replay, the sweep kept", "[cli][part-a]") {
    const auto dir = std::filesystem::temp_directory_path() / "ds_cli_denoise";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string src = DS_SOURCE_DIR;
    const std::string out = (dir / "d.png").string();
    auto r = run("denoise --input " + src + "/assets/images/drawn-3.png --sigma 0.6 --sweep 0,0.5,1 --seed 2 --out " + out);
    REQUIRE(r.code == 0);
    std::ifstream side(dir / "d.json");
    const auto recipe = nlohmann::json::parse(side);
    CHECK(recipe["technique"] == "denoise");
    CHECK(recipe["command"] == "denoise");
    CHECK(recipe["sigma"] == 0.6);
    CHECK(recipe["sweep"].size() == 3);
    auto again = run("replay " + (dir / "d.json").string() + " --out " + (dir / "again.png").string() + " --check");
    CHECK(again.code == 0);
    CHECK(again.out.find("identical bytes") != std::string::npos);
    auto pure = run("denoise --pure-noise --count 3 --out " + (dir / "p.png").string());
    CHECK(pure.code == 0);
    CHECK(run("denoise --pure-noise --input x.png --out " + out).code == 2);
    auto wrong = run("denoise --model mnist-class-ddpm --input " + src + "/assets/images/drawn-3.png --out " + out);
    CHECK(wrong.code == 2);
    CHECK(wrong.out.find("single-step denoiser") != std::string::npos);
    // Without --input it is still the course's test-digit sweep (no recipe).
    CHECK(run("denoise --model mnist-denoiser --index 0 --sigmas 0.5 --out " + (dir / "s.png").string()).code == 0);
    CHECK(run("denoise --help").out.find("--pure-noise") != std::string::npos);
}

TEST_CASE("a GIF's frame spacing stays out of recipes, and older recipes with it still replay", "[cli][part-a]") {
    const auto dir = std::filesystem::temp_directory_path() / "ds_cli_gif_every";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string src = DS_SOURCE_DIR;
    const std::string out = (dir / "s.png").string();
    auto r = run("sdedit --input " + src + "/assets/images/drawn-7.png --i-start 30 --count 1 --seed 3 --out " + out +
                 " --gif " + (dir / "s.gif").string() + " --gif-every 2");
    REQUIRE(r.code == 0);
    nlohmann::json recipe;
    {
        std::ifstream side(dir / "s.json");
        recipe = nlohmann::json::parse(side);
    }
    for (const auto& a : recipe["argv"]) CHECK(a.get<std::string>().rfind("--gif", 0) != 0);
    // A recipe written before (argv with --gif-every and --gif-x0) is replayed without them.
    recipe["argv"].push_back("--gif-every");
    recipe["argv"].push_back("2");
    recipe["argv"].push_back("--gif-x0");
    {
        std::ofstream side(dir / "s.json");
        side << recipe.dump(2);
    }
    auto again = run("replay " + (dir / "s.json").string() + " --out " + (dir / "again.png").string() + " --check");
    CHECK(again.code == 0);
    CHECK(again.out.find("identical bytes") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("Part A subcommands: help, outputs with recipes, replay gives identical bytes", "[cli][part-a]") {
    for (auto cmd : {"forward", "blur", "one-step", "explore", "iterate", "sdedit", "inpaint", "anagram",
                     "hybrid", "replay", "generate", "prompts", "debug"}) {
        INFO(cmd);
        auto r = run(std::string(cmd) + " --help");
        CHECK(r.code == 0);
        CHECK(r.out.find("usage: dstudio") != std::string::npos);
    }
    const auto dir = std::filesystem::temp_directory_path() / "ds_cli_part_a";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string src = DS_SOURCE_DIR;
    const std::string out = (dir / "strip.png").string();
    auto r = run("sdedit --input " + src + "/assets/images/drawn-7.png --prompt 1 --i-start 3,10 --seed 4 --out " +
                 out + " --gif " + (dir / "t.gif").string());
    REQUIRE(r.code == 0);
    CHECK(r.out.find("inverted the image") != std::string::npos);
    CHECK(std::filesystem::exists(dir / "strip.json"));
    CHECK(std::filesystem::exists(dir / "t.gif"));
    auto again = run("replay " + (dir / "strip.json").string() + " --out " + (dir / "again.png").string() + " --check");
    CHECK(again.code == 0);
    CHECK(again.out.find("identical bytes") != std::string::npos);
    // The PNG itself carries the recipe.
    auto from_png = run("replay " + out + " --check");
    CHECK(from_png.code == 0);
    CHECK(std::filesystem::exists(dir / "strip.replay.png"));

    // Usage errors exit 2, missing files 1.
    CHECK(run("sdedit --out " + out).code == 2);
    CHECK(run("sdedit --input x.png --out " + out + " --timesteps 5:10:1").code == 2);
    CHECK(run("anagram --prompts 6,9 --views identity,sideways --out " + out).code == 2);
    CHECK(run("inpaint --input " + src + "/assets/images/drawn-7.png --out " + out).code == 2);
    auto missing = run("sdedit --input /nonexistent.png --out " + out);
    CHECK(missing.code == 1);
    CHECK(missing.out.find("/nonexistent.png") != std::string::npos);
    CHECK(run("replay /nonexistent.json").code == 1);
}

TEST_CASE("dstudio bench runs only the named benchmark and refuses bad names and outputs up front", "[cli]") {
    const std::string out = "/tmp/ds_cli_bench.json";
    std::filesystem::remove(out);
    auto r = run("--threads 1 bench --quick --only train-class-ddpm --out " + out);
    REQUIRE(r.code == 0);
    std::ifstream in(out);
    REQUIRE(in.good());
    auto j = nlohmann::json::parse(in);
    REQUIRE(j["train"].size() == 1);
    CHECK(j["train"][0]["model"] == "class-ddpm");
    CHECK(j["train"][0]["img_per_s"].get<double>() > 0);
    CHECK_FALSE(j.contains("sample_cfg_40"));
    CHECK_FALSE(j.contains("forward_batch1"));
    CHECK_FALSE(std::filesystem::exists(out + ".tmp"));

    r = run("bench --only trian");
    CHECK(r.code == 2);
    CHECK(r.out.find("unknown benchmark 'trian'") != std::string::npos);
    CHECK(r.out.find("train-class-ddpm") != std::string::npos);  // the known names are listed
    r = run("bench --only if-ii-l");  // the multi-GB IF benchmarks need their full name
    CHECK(r.code == 2);
    r = run("bench --quick --only forward --out /nonexistent-dir/b.json");
    CHECK(r.code == 1);
    CHECK(r.out.find("does not exist") != std::string::npos);
    CHECK(r.out.find("forward_batch1") == std::string::npos);  // refused before running
    std::filesystem::remove(out);
}

TEST_CASE("replay treats recipes as data: crafted recipes are refused and touch no file", "[cli][robust-cli]") {
    namespace fs = std::filesystem;
    const auto dir = fs::temp_directory_path() / "ds_cli_hostile_recipe";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path victim = dir / "victim.txt";
    std::ofstream(victim) << "precious";
    auto write = [&](const std::string& name, const nlohmann::json& j) {
        std::ofstream(dir / name) << j.dump();
        return (dir / name).string();
    };
    const nlohmann::json base = {{"format", "ds.recipe/1"}, {"technique", "iterate"}, {"command", "iterate"},
                                 {"argv", {"--count", "1", "--seed", "1"}}};
    auto gif = base;
    gif["argv"].push_back("--gif");
    gif["argv"].push_back(victim.string());
    auto r = run("replay " + write("gif.json", gif) + " --out " + (dir / "o.png").string());
    CHECK(r.code == 1);
    CHECK(r.out.find("output files come only from your own command line") != std::string::npos);
    auto self = base;
    self["command"] = "replay";
    self["argv"] = {(dir / "self.json").string()};
    r = run("replay " + write("self.json", self));  // used to recurse until SIGSEGV
    CHECK(r.code == 1);
    CHECK(r.out.find("cannot be replayed") != std::string::npos);
    auto train = base;
    train["command"] = "train";
    train["argv"] = {"--kind", "class-ddpm", "--out", (dir / "run").string()};
    r = run("replay " + write("train.json", train));
    CHECK(r.code == 1);
    CHECK_FALSE(fs::exists(dir / "run"));
    std::ifstream in(victim);
    std::string content;
    std::getline(in, content);
    CHECK(content == "precious");
    CHECK_FALSE(fs::exists(dir / "o.png"));
    // --out may not overwrite the recipe it replays (the figure or its .json sidecar).
    r = run("replay " + write("r.json", base) + " --out " + (dir / "r.png").string());
    CHECK(r.code == 2);
    CHECK(r.out.find("would overwrite the recipe") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("outputs are checked before the work starts and small input messages are clear", "[cli]") {
    auto r = run("sample --model mnist-class-ddpm --out /nonexistent-dir/x.png");
    CHECK(r.code == 1);
    CHECK(r.out.find("does not exist") != std::string::npos);
    CHECK(r.out.find("sample ") == std::string::npos);  // no progress line: nothing was sampled
    r = run("sample --model mnist-class-ddpm --out /tmp/ds_cli_ok.png --gif /nonexistent-dir/x.gif");
    CHECK(r.code == 1);
    CHECK_FALSE(std::filesystem::exists("/tmp/ds_cli_ok.png"));
    r = run("iterate --count 1 --out /nonexistent-dir/x.png");
    CHECK(r.code == 1);
    CHECK(r.out.find("does not exist") != std::string::npos);
    r = run("sdedit --input mnist:test:abc --out /tmp/ds_cli_x.png");
    CHECK(r.code == 2);
    CHECK(r.out.find("DATASET:SPLIT:INDEX") != std::string::npos);
    r = run("iterate --count 1 --prompt " + std::string(10000, 'x') + " --out /tmp/ds_cli_x.png");
    CHECK(r.code == 2);
    CHECK(r.out.find("unknown prompt") != std::string::npos);
    CHECK(r.out.size() < 2000);  // the prompt is quoted cut short, not echoed whole
}

TEST_CASE("SIGTERM stops training like Ctrl+C: checkpoint saved, exit 143, resumable", "[cli]") {
    namespace fs = std::filesystem;
    const auto dir = fs::temp_directory_path() / "ds_cli_sigterm";
    fs::remove_all(dir);
    // The signal is sent once the run has logged a step (not after a fixed delay, which a slow or
    // busy machine could reach before the handler is installed); one epoch of 60,000 images at
    // batch 16 is still running then.
    auto r = run_shell("sh -c '" + std::string(DS_CLI_PATH) +
                       " --threads 1 train --kind time-fm --hidden 4 --batch 16 --epochs 1 --no-grids --out " +
                       dir.string() + " & pid=$!; i=0; while [ ! -s " + (dir / "metrics.jsonl").string() +
                       " ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; kill -TERM $pid; wait $pid; echo rc=$?'");
    CHECK(r.out.find("rc=143") != std::string::npos);
    CHECK(r.out.find("checkpoint saved") != std::string::npos);
    REQUIRE(fs::exists(dir / "checkpoint.safetensors"));
    for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
    fs::remove_all(dir);
}
