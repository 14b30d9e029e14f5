// Data-parallel training (issue 25), loopback only: synchronised BatchNorm, ranks as threads of
// this process talking through c10d/Gloo, and `dstudio train --nproc` as real processes.
// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <sys/wait.h>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "core/engine/errors.h"
#include "core/io/safetensors.h"
#include "core/models/sync_batchnorm.h"
#include "core/train/collective.h"
#include "core/train/launcher.h"

namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const std::string& name) {
    auto d = fs::temp_directory_path() / ("ds_test_dist_" + name);
    fs::remove_all(d);
    return d;
}

ds::DistributedConfig rank_config(int rank, int world, int port) {
    ds::DistributedConfig c;
    c.rank = rank;
    c.world = world;
    c.master_addr = "127.0.0.1";
    c.master_port = port;
    c.timeout_s = 60;
    return c;
}

// Class-conditioned DDPM on 256 digits, global batch 128: 2 steps per epoch.
ds::TrainRequest small_run(const fs::path& out, int epochs) {
    ds::TrainRequest r;
    r.kind = ds::ModelKind::ClassDdpm;
    r.out_dir = out.string();
    r.epochs = epochs;
    r.batch_size = 128;
    r.hidden = 4;
    r.limit = 256;
    r.timesteps = 20;
    r.seed = 11;
    r.epoch_grids = 0;
    return r;
}

// Runs rank 0 on this thread and ranks 1..world-1 on their own threads; returns rank 0's result.
ds::TrainResult train_ranks(ds::TrainRequest r0, int world, const fs::path& worker_dir) {
    const int port = ds::train::free_loopback_port();
    std::vector<std::future<ds::TrainResult>> workers;
    for (int k = 1; k < world; ++k) {
        auto rk = r0;
        rk.out_dir = (worker_dir / ("rank" + std::to_string(k))).string();
        rk.callbacks = {};
        rk.cancel = ds::CancelToken();
        rk.dist = rank_config(k, world, port);
        workers.push_back(std::async(std::launch::async, [rk]() mutable {
            ds::Engine engine({1});
            return engine.train(rk);
        }));
    }
    r0.dist = rank_config(0, world, port);
    ds::Engine engine({1});
    auto result = engine.train(r0);
    for (auto& w : workers) w.get();
    return result;
}

// A convolution's bias followed by BatchNorm (and that BatchNorm's running mean, which follows
// it): BatchNorm removes any per-channel constant, so the bias's exact gradient is 0 and what
// backward() computes is rounding noise, which Adam (m / sqrt(v)) turns into steps of +-lr. Two
// runs whose sums are merely ordered differently move these by up to lr per step in either
// direction, with no effect on the model's output in training.
bool bn_cancelled(const std::string& name, const ds::io::SafetensorsFile& f) {
    for (const char* suffix : {"conv.bias", "bn.running_mean"}) {
        const std::string s = suffix;
        const auto at = name.rfind(s);
        if (at == std::string::npos || at + s.size() != name.size()) continue;
        auto base = name.substr(0, at);  // "...X." (with optimizer prefixes "train.adam.m." kept)
        for (const char* prefix : {"train.adam.m.", "train.adam.v."})
            if (base.rfind(prefix, 0) == 0) base = base.substr(std::string(prefix).size());
        return f.contains(base + "bn.weight");
    }
    return false;
}

// Largest |a - b| over the tensors of a (all present in b), apart from BatchNorm-cancelled
// biases, which must agree to `cancelled_tolerance`.
double max_weight_difference(const fs::path& a, const fs::path& b, bool same_step = true,
                             double cancelled_tolerance = 1e-2) {
    auto fa = ds::io::SafetensorsFile::open(a.string());
    auto fb = ds::io::SafetensorsFile::open(b.string());
    double worst = 0, worst_cancelled = 0;
    std::string where;
    int cancelled = 0;
    for (const auto& t : fa.tensors()) {
        auto x = fa.tensor(t.name), y = fb.tensor(t.name);
        if (!x.is_floating_point()) {  // BatchNorm's batch counts
            INFO(t.name);
            if (same_step) CHECK(torch::equal(x, y));
            continue;
        }
        const double d = (x.to(torch::kFloat64) - y.to(torch::kFloat64)).abs().max().item<double>();
        if (bn_cancelled(t.name, fa)) {
            ++cancelled;
            worst_cancelled = std::max(worst_cancelled, d);
        } else if (d > worst) {
            worst = d, where = t.name;
        }
    }
    CHECK(cancelled >= 20);  // the UNet's conv -> BatchNorm pairs were recognised
    if (same_step) CHECK(worst_cancelled <= cancelled_tolerance);
    UNSCOPED_INFO("largest difference " << worst << " in " << where);
    return worst;
}

std::vector<double> losses(const fs::path& metrics) {
    std::vector<double> out;
    std::ifstream in(metrics);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
    return out;
}

struct Shell {
    int code;
    std::string out;
    double seconds;
};
Shell run_cli(const std::string& args) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string cmd = std::string(DS_CLI_PATH) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf{};
    while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    const int status = pclose(p);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, s};
}
}  // namespace

TEST_CASE("synchronised BatchNorm over ranks equals BatchNorm of the whole batch", "[train][dist]") {
    if (!ds::train::distributed_available()) {
        WARN("this build has no c10d Gloo backend");
        return;
    }
    torch::manual_seed(5);
    const auto x = torch::randn({7, 3, 4, 5}) * 3 + 2;  // rows split 3 + 4 over the ranks
    const auto w = torch::randn({7, 3, 4, 5});         // loss = sum(w * bn(x))
    torch::nn::BatchNorm2d ref(torch::nn::BatchNorm2dOptions(3).momentum(0.3));
    {
        torch::NoGradGuard g;
        ref->weight.uniform_(0.5, 1.5);
        ref->bias.uniform_(-0.5, 0.5);
    }
    std::vector<torch::nn::BatchNorm2d> ranks;
    for (int k = 0; k < 2; ++k) {
        ranks.push_back(torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(3).momentum(0.3)));
        torch::NoGradGuard g;
        ranks.back()->weight.copy_(ref->weight);
        ranks.back()->bias.copy_(ref->bias);
    }
    auto xr = x.clone().requires_grad_(true);
    auto yr = ref(xr);
    (yr * w).sum().backward();

    const int port = ds::train::free_loopback_port();
    const std::array<std::int64_t, 3> rows{0, 3, 7};
    std::array<torch::Tensor, 2> y, dx;
    auto rank_main = [&](int k) {
        ds::train::Collective coll(rank_config(k, 2, port));
        ds::models::SyncBatchNormScope scope([&](std::vector<torch::Tensor>& t) { coll.allreduce_sum(t, "bn"); });
        auto& bn = ranks[k];
        auto xk = x.narrow(0, rows[k], rows[k + 1] - rows[k]).clone().requires_grad_(true);
        y[k] = ds::models::batch_norm(bn, xk);
        (y[k] * w.narrow(0, rows[k], rows[k + 1] - rows[k])).sum().backward();
        dx[k] = xk.grad();
        coll.allreduce_sum({bn->weight.grad(), bn->bias.grad()}, "parameter gradients");
    };
    auto other = std::async(std::launch::async, rank_main, 1);
    rank_main(0);
    other.get();

    CHECK(torch::allclose(torch::cat({y[0], y[1]}), yr.detach(), 1e-5, 1e-5));
    CHECK(torch::allclose(torch::cat({dx[0], dx[1]}), xr.grad(), 1e-4, 1e-5));
    for (int k = 0; k < 2; ++k) {
        CHECK(torch::allclose(ranks[k]->weight.grad(), ref->weight.grad(), 1e-4, 1e-4));
        CHECK(torch::allclose(ranks[k]->bias.grad(), ref->bias.grad(), 1e-4, 1e-4));
        CHECK(torch::allclose(ranks[k]->running_mean, ref->running_mean, 1e-5, 1e-5));
        CHECK(torch::allclose(ranks[k]->running_var, ref->running_var, 1e-5, 1e-5));
        CHECK(ranks[k]->num_batches_tracked.item<std::int64_t>() == 1);
    }
    // A rank's own statistics would differ: the test can tell local from global normalisation.
    torch::nn::BatchNorm2d local(3);
    CHECK_FALSE(torch::allclose(local(x.narrow(0, 0, 3)), yr.narrow(0, 0, 3).detach(), 1e-3, 1e-3));

    // Outside a scope, or in eval mode, it is the module's own forward.
    auto plain = torch::nn::BatchNorm2d(3);
    CHECK(torch::equal(ds::models::batch_norm(plain, x), torch::nn::BatchNorm2d(3)(x)));
}

TEST_CASE("2 ranks of batch 64 reproduce 1 process of batch 128, and any world size resumes", "[train][dist]") {
    if (!ds::train::distributed_available()) {
        WARN("this build has no c10d Gloo backend");
        return;
    }
    const int threads = at::get_num_threads();
    auto single = fresh_dir("single"), pair = fresh_dir("pair"), workers = fresh_dir("workers");
    {
        ds::Engine engine({1});
        auto r = small_run(single, 2);
        CHECK(engine.train(r).outcome == ds::Outcome::Completed);
    }
    auto r = small_run(pair, 2);
    int progress = 0;
    r.callbacks.on_progress = [&](const ds::ProgressEvent&) { ++progress; };
    auto res = train_ranks(r, 2, workers);
    CHECK(res.outcome == ds::Outcome::Completed);
    CHECK(res.steps_done == 4);
    CHECK(progress == 4);
    // Same data order, same noise, averaged gradients, global BatchNorm: the same weights.
    const double diff = max_weight_difference(single / "checkpoint.safetensors", pair / "checkpoint.safetensors");
    CHECK(diff < 2e-5);
    const auto la = losses(single / "metrics.jsonl"), lb = losses(pair / "metrics.jsonl");
    REQUIRE(la.size() == 4);
    REQUIRE(lb.size() == 4);
    for (size_t i = 0; i < la.size(); ++i) CHECK(lb[i] == Approx(la[i]).epsilon(1e-4));
    // Rank 0 alone writes: the workers' folders were never created.
    CHECK_FALSE(fs::exists(workers / "rank1"));

    // The tolerance means something: one epoch (2 steps) moves the weights far more.
    CHECK(max_weight_difference(single / "epochs" / "epoch_001.safetensors", single / "checkpoint.safetensors", false) > 1e-3);

    // Stopped mid-epoch on 2 ranks (step 3 of 4), resumed in 1 process: the uninterrupted weights.
    auto split = fresh_dir("split");
    auto rs = small_run(split, 2);
    rs.callbacks.on_progress = [&](const ds::ProgressEvent& e) {
        if (e.step == 3) rs.cancel.request(ds::CancelMode::Now);
    };
    auto part = train_ranks(rs, 2, workers);
    CHECK(part.outcome == ds::Outcome::Cancelled);
    CHECK(part.steps_done == 3);
    {
        auto rest = small_run(split, 2);
        rest.resume = true;
        ds::Engine engine({1});
        auto done = engine.train(rest);
        CHECK(done.outcome == ds::Outcome::Completed);
        CHECK(done.steps_done == 4);
    }
    CHECK(max_weight_difference(single / "checkpoint.safetensors", split / "checkpoint.safetensors") < 2e-5);
    CHECK(losses(split / "metrics.jsonl").size() == 4);

    // And a 1-process checkpoint continues on 2 ranks.
    auto grow = fresh_dir("grow");
    {
        ds::Engine engine({1});
        auto first = small_run(grow, 2);
        first.callbacks.on_progress = [&](const ds::ProgressEvent& e) {
            if (e.step == 1) first.cancel.request(ds::CancelMode::Now);
        };
        CHECK(engine.train(first).steps_done == 1);
    }
    auto more = small_run(grow, 2);
    more.resume = true;
    CHECK(train_ranks(more, 2, workers).steps_done == 4);
    CHECK(max_weight_difference(single / "checkpoint.safetensors", grow / "checkpoint.safetensors") < 2e-5);
    at::set_num_threads(threads);
}

TEST_CASE("data-parallel requests that cannot work are refused before any rank starts", "[train][dist]") {
    ds::Engine engine({1});
    auto d = fresh_dir("refused");
    auto r = small_run(d, 1);
    r.nproc = 0;
    CHECK_THROWS_AS(engine.train(r), ds::InvalidRequest);
    r.nproc = 65;
    CHECK_THROWS_AS(engine.train(r), ds::InvalidRequest);
    r.nproc = 2;
    r.dist.world = 2;  // torchrun's rendezvous and --nproc together
    CHECK_THROWS_AS(engine.train(r), ds::InvalidRequest);
    if (ds::train::distributed_available()) {
        // More ranks than rows in a batch: some rank would have nothing to do.
        auto tiny = small_run(d, 1);
        tiny.batch_size = 4;
        tiny.limit = 8;
        tiny.nproc = 5;
        CHECK_THROWS_AS(engine.train(tiny), ds::InvalidRequest);
    }
    CHECK_FALSE(fs::exists(d / "checkpoint.safetensors"));
}

TEST_CASE("environment rendezvous: torchrun's variables, malformed values refused", "[train][dist]") {
    auto set = [](const char* k, const char* v) { ::setenv(k, v, 1); };
    set("RANK", "1");
    set("WORLD_SIZE", "4");
    set("LOCAL_RANK", "1");
    set("MASTER_ADDR", "10.0.0.2");
    set("MASTER_PORT", "29511");
    auto c = ds::train::distributed_from_env();
    CHECK(c.rank == 1);
    CHECK(c.world == 4);
    CHECK(c.local_rank == 1);
    CHECK(c.master_addr == "10.0.0.2");
    CHECK(c.master_port == 29511);
    set("RANK", "4");  // rank must be below the world size
    CHECK_THROWS_AS(ds::train::distributed_from_env(), ds::InvalidRequest);
    set("RANK", "x1");
    CHECK_THROWS_AS(ds::train::distributed_from_env(), ds::InvalidRequest);
    set("RANK", "1");
    set("MASTER_PORT", "70000");
    CHECK_THROWS_AS(ds::train::distributed_from_env(), ds::InvalidRequest);
    for (auto k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(k);
    CHECK(ds::train::distributed_from_env().world == 1);
}

TEST_CASE("dstudio train --nproc 2: runs, and a rank that dies or hangs stops the run", "[train][dist][cli]") {
    if (!ds::train::distributed_available()) {
        WARN("this build has no c10d Gloo backend");
        return;
    }
    const std::string common =
        "--threads 1 train --kind class-ddpm --nproc 2 --batch 64 --limit 256 --hidden 4 --timesteps 20 "
        "--epochs 1 --no-grids --out ";
    auto ok = fresh_dir("cli_ok");
    auto r = run_cli(common + ok.string());
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("data-parallel over 2 ranks") != std::string::npos);
    CHECK(fs::exists(ok / "checkpoint.safetensors"));
    CHECK(fs::exists(ok / "workers" / "rank-1.log"));
    CHECK(losses(ok / "metrics.jsonl").size() == 4);

    // Rank 1 dies before step 3: rank 0 names it and exits, its last checkpoint intact.
    auto died = fresh_dir("cli_died");
    auto d = run_cli(common + died.string() + " --debug-exit-at-step 3");
    INFO(d.out);
    CHECK(d.code == 1);
    CHECK(d.out.find("rank 1") != std::string::npos);
    CHECK(d.seconds < 120);
    for (const auto& e : fs::directory_iterator(died))  // no half-written file left behind
        CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);

    // Rank 1 stops answering: the others give up after --dist-timeout.
    auto hung = fresh_dir("cli_hung");
    auto h = run_cli(common + hung.string() + " --debug-hang-at-step 2 --dist-timeout 5");
    INFO(h.out);
    CHECK(h.code == 1);
    CHECK(h.out.find("rank") != std::string::npos);
    CHECK(h.seconds < 90);
}
