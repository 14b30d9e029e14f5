#include "core/bench/benchmarks.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "core/diffusion/generate.h"
#include "core/engine/errors.h"
#include "core/diffusion/iterative.h"
#include "core/diffusion/mnist_predictor.h"
#include "core/diffusion/techniques.h"
#include "core/io/atomic_file.h"
#include "core/io/cpu_info.h"
#include "core/io/huge_pages.h"
#include "core/models/if_unet.h"
#include "core/models/model_store.h"
#include "core/models/t5_encoder.h"
#include "core/train/adam.h"
#include "core/train/trainer.h"

using json = nlohmann::json;

namespace ds::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool selected(const BenchRequest& r, const std::string& name) {
    if (r.only.empty()) return true;
    for (const auto& o : r.only)
        if (name.rfind(o, 0) == 0) return true;
    return false;
}

// Training throughput on random data (speed does not depend on the data) at a batch size.
json bench_train(ModelKind kind, int batch, int steps, int warmup, bool bf16 = false) {
    torch::manual_seed(0);
    auto spec = models::ModelSpec::defaults(kind);
    auto model = models::build_model(spec);
    auto& unet = model.unet;
    unet->train();
    std::vector<std::pair<std::string, torch::Tensor>> params;
    for (auto& p : unet->named_parameters(true)) params.emplace_back(p.key(), p.value());
    train::Adam adam(params, 1e-3);
    auto x = torch::rand({batch, 1, 28, 28});
    auto t = torch::rand({batch});
    torch::Tensor c;
    if (spec.is_class_conditioned())
        c = torch::one_hot(torch::randint(0, 10, {batch}, torch::kLong), 10).to(torch::kFloat32);
    auto one = [&] {
        adam.zero_grad();
        torch::Tensor out;
        {
            train::AutocastBf16 autocast(bf16);  // as dstudio train --precision bf16
            out = kind == ModelKind::Denoiser ? unet->forward(x) : unet->forward(x, t, c);
        }
        auto loss = torch::mse_loss(out, x);
        loss.backward();
        adam.step();
    };
    for (int i = 0; i < warmup; ++i) one();
    auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i) one();
    const double s = seconds_since(t0);
    if (const char* trace = std::getenv("DS_BENCH_TRACE")) {  // one more step, op by op
        const std::string trace_file(trace);
        torch::autograd::profiler::RecordProfile guard(trace_file);
        one();
    }
    return {{"model", to_string(kind)}, {"hidden", spec.hidden}, {"batch", batch},
            {"steps", steps}, {"seconds", s}, {"img_per_s", batch * steps / s},
            {"precision", bf16 ? "bf16" : "fp32"}};
}

// Sampler overhead: a 34-step strided CFG run of iterative_denoise against the same number of raw
// predictor calls (the model forward with its batched CFG). Reps alternate; the fastest of each
// counts, so background noise does not land on one side only.
json bench_sampler(int batch, int reps) {
    torch::manual_seed(0);
    diffusion::MnistNoisePredictor model(models::build_model(models::ModelSpec::defaults(ModelKind::ClassDdpm)));
    c10::InferenceMode guard;
    const auto ts = diffusion::default_strided_timesteps(model.num_timesteps());
    diffusion::Conditioning cond;
    cond.labels.assign(batch, 3);
    auto x = torch::randn({batch, 1, 28, 28});
    diffusion::IterativeOptions o;
    o.timesteps = ts;
    o.guidance = 5.0;
    o.variance = diffusion::VarianceMode::Posterior;
    o.generator = at::make_generator<at::CPUGeneratorImpl>(0);
    const int steps = static_cast<int>(ts.size());
    double raw = 1e30, sampler = 1e30;
    for (int r = 0; r < reps + 1; ++r) {
        auto t0 = Clock::now();
        for (auto t : ts) model.predict(x, t, cond, 5.0);
        const double a = seconds_since(t0);
        t0 = Clock::now();
        diffusion::iterative_denoise(model, x, cond, o);
        const double b = seconds_since(t0);
        if (r > 0) {  // the first round warms up
            raw = std::min(raw, a);
            sampler = std::min(sampler, b);
        }
    }
    return {{"model", "class-ddpm"}, {"batch", batch}, {"steps", steps}, {"guidance", 5.0},
            {"raw_ms_per_step", 1000 * raw / steps}, {"sampler_ms_per_step", 1000 * sampler / steps},
            {"overhead_percent", 100.0 * (sampler - raw) / raw}};
}

double rss_gb(const char* field) {  // VmRSS / VmHWM of this process, GB
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field) + 1)) / (1024.0 * 1024.0);
    return -1;
}

// The CPU the numbers come from: model name and the vector ISA that decides oneDNN's kernels
// (AVX2 vs AVX-512, bf16 and AMX support). Numbers from different CPUs are not comparable.
json cpu_info() {
    return {{"model", io::cpu_model()}, {"isa", io::cpu_isa()}, {"logical_cpus", std::thread::hardware_concurrency()}};
}

std::string config_path(const std::string& name) {
    return std::string(DS_SOURCE_DIR) + "/assets/configs/" + name;
}

// One IF UNet denoising step at real scale with random weights: batch 2 with CFG (4 samples
// through the UNet), as a stage I / II pipeline step does it.
json bench_if_unet(const std::string& config_file, const std::string& dtype_name, const std::string& device, int reps) {
    const auto dtype = models::Precision::parse(dtype_name).on(models::Precision::parse_device(device));
    auto cfg = models::IfUNetConfig::from_json_file(config_path(config_file));
    auto t0 = Clock::now();
    auto unet = models::IfUNet::random(cfg, dtype, 0);
    const double build = seconds_since(t0);
    const double rss_loaded = rss_gb("VmRSS:");
    const int s = cfg.sample_size;
    auto x = torch::randn({4, cfg.in_channels, s, s});
    auto text = torch::randn({4, 77, cfg.encoder_hid_dim});
    auto t = torch::full({4}, 500L);
    auto labels = cfg.class_embedding ? torch::full({4}, 250L) : torch::Tensor();
    // The first step packs the convolution weights (oneDNN builds): timed on its own.
    t0 = Clock::now();
    unet.forward(x, t, text, labels);
    const double first = seconds_since(t0);
    double best = 1e30;
    unet.reset_macs();
    for (int r = 0; r < reps; ++r) {
        t0 = Clock::now();
        unet.forward(x, t, text, labels);
        best = std::min(best, seconds_since(t0));
    }
    const double gflop = 2.0 * double(unet.macs_counted()) / reps / 1e9;
    if (const char* trace = std::getenv("DS_BENCH_TRACE")) {  // one more step, op by op
        const std::string trace_file(trace);
        torch::autograd::profiler::RecordProfile guard(trace_file);
        unet.forward(x, t, text, labels);
    }
    if (const char* shapes = std::getenv("DS_BENCH_SHAPES")) {  // the op shapes of one step
        std::vector<std::string> log;
        unet.set_shape_log(&log);
        unet.forward(x, t, text, labels);
        unet.set_shape_log(nullptr);
        std::string text_out;
        for (const auto& l : log) text_out += l + "\n";
        io::write_file_atomic(shapes, text_out);
    }
    return {{"config", config_file}, {"dtype", dtype_name}, {"device", device}, {"parameters", unet.parameter_count()},
            {"batch", "2 x CFG (4 UNet samples)"}, {"size", s}, {"seconds_per_step", best},
            {"first_step_seconds", first},
            {"conv_attention_gflop_per_step", gflop}, {"achieved_gflops", gflop / best},
            {"random_weights_seconds", build}, {"weights_gb", unet.weight_bytes() / 1e9},
            {"rss_after_load_gb", rss_loaded}, {"peak_rss_gb", rss_gb("VmHWM:")}};
}

json bench_t5(const std::string& dtype_name, const std::string& device, int reps) {
    const auto dtype = models::Precision::parse(dtype_name).on(models::Precision::parse_device(device));
    auto cfg = models::T5Config::from_json_file(config_path("t5-v1_1-xxl.json"));
    auto enc = models::T5Encoder::random(cfg, dtype, 0);
    const double rss_loaded = rss_gb("VmRSS:");
    auto ids = torch::randint(1, 32000, {1, 77}, torch::kLong);
    auto mask = torch::ones({1, 77}, torch::kLong);
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        auto t0 = Clock::now();
        enc.forward(ids, mask);
        best = std::min(best, seconds_since(t0));
    }
    return {{"config", "t5-v1_1-xxl"}, {"dtype", dtype_name}, {"device", device}, {"parameters", enc.parameter_count()},
            {"seconds_per_prompt", best}, {"weights_gb", enc.weight_bytes() / 1e9}, {"rss_after_load_gb", rss_loaded}, {"peak_rss_gb", rss_gb("VmHWM:")}};
}

// The IF benchmarks allocate gigabytes: they run only when named (--only if-ii-l-fp32, ...).
bool named(const BenchRequest& r, const std::string& name) {
    for (const auto& o : r.only)
        if (o == name) return true;
    return false;
}

// Every benchmark name --only accepts (a prefix selects several; the IF and T5 ones only by full name).
std::vector<std::string> benchmark_names() {
    std::vector<std::string> names;
    for (auto kind : {ModelKind::ClassDdpm, ModelKind::TimeDdpm, ModelKind::ClassFm, ModelKind::TimeFm,
                      ModelKind::Denoiser})
        names.push_back("train-" + to_string(kind));
    names.emplace_back("train-class-ddpm-bf16");
    for (const char* n : {"sample", "sample-bf16", "forward", "forward-bf16", "sampler"}) names.emplace_back(n);
    for (const char* m : {"if-i-xl", "if-ii-l", "t5-xxl"})
        for (const char* dt : {"fp32", "bf16", "fp16", "fp32-w16"}) names.push_back(std::string(m) + "-" + dt);
    return names;
}

void check_names(const BenchRequest& r) {
    const auto names = benchmark_names();
    for (const auto& o : r.only) {
        bool known = false;
        for (const auto& n : names) {
            const bool exact_only = n.rfind("if-", 0) == 0 || n.rfind("t5-", 0) == 0;
            known = known || n == o || (!exact_only && !o.empty() && n.rfind(o, 0) == 0);
        }
        if (!known) {
            std::string list;
            for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
            throw InvalidRequest("bench: unknown benchmark '" + o + "' in --only; known: " + list);
        }
    }
}

}  // namespace

std::string run_benchmarks(const BenchRequest& r, int threads) {
    check_names(r);
    const auto device = models::Precision::parse_device(r.device);  // before any work
    for (const auto& o : r.only)
        if (o.size() > 5 && o.compare(o.size() - 5, 5, "-fp16") == 0)
            models::Precision(torch::kFloat16).on(device).check_device();
    json out;
    out["threads"] = threads;
    out["torch"] = TORCH_VERSION;
    out["cpu"] = cpu_info();
    out["huge_page_allocator"] = io::huge_page_allocator_installed();
    out["quick"] = r.quick;
    const int steps = r.quick ? 2 : 20;
    const int warmup = r.quick ? 1 : 3;

    {  // "train" selects every model, "train-class-ddpm" one of them; --quick only class-ddpm
        const std::pair<ModelKind, int> runs[] = {{ModelKind::ClassDdpm, 128}, {ModelKind::TimeDdpm, 128},
                                                  {ModelKind::ClassFm, 64}, {ModelKind::TimeFm, 64},
                                                  {ModelKind::Denoiser, 256}};
        json list = json::array();
        for (const auto& [kind, batch] : runs) {
            if (!selected(r, "train-" + to_string(kind)) || (r.quick && kind != ModelKind::ClassDdpm))
                continue;
            const bool slow = kind == ModelKind::Denoiser;
            list.push_back(bench_train(kind, batch, slow ? steps / 2 : steps, slow ? 1 : warmup));
        }
        if (selected(r, "train-class-ddpm-bf16") && (!r.quick || named(r, "train-class-ddpm-bf16")))
            list.push_back(bench_train(ModelKind::ClassDdpm, 128, steps, warmup, true));
        if (!list.empty()) out["train"] = list;
    }
    // fp32 and, as "-bf16", the bf16 inference copy (models::with_compute_dtype).
    for (const bool bf16 : {false, true}) {
        const std::string suffix = bf16 ? "-bf16" : "";
        const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
        const std::string key_suffix = bf16 ? "_bf16" : "";
        if (selected(r, "sample" + suffix)) {  // "--only sample" selects both, "sample-bf16" one
            torch::manual_seed(0);
            auto model = models::with_compute_dtype(
                models::build_model(models::ModelSpec::defaults(ModelKind::ClassDdpm)), dtype);
            diffusion::GenerateOptions g;
            for (int k = 0; k < 4; ++k)
                for (int c = 0; c < 10; ++c) g.labels.push_back(c);
            g.guidance = 5.0;
            g.steps = r.quick ? 10 : 0;
            auto t0 = Clock::now();
            diffusion::generate(model, g);
            const double s = seconds_since(t0);
            if (const char* trace = std::getenv("DS_BENCH_TRACE")) {  // three more steps, op by op
                torch::autograd::profiler::RecordProfile guard(std::string(trace) + ".sample" + suffix + ".json");
                g.steps = 3;
                diffusion::generate(model, g);
            }
            out["sample_cfg_40" + key_suffix] = {{"model", "class-ddpm"}, {"samples", 40},
                                                 {"steps", r.quick ? 10 : 300}, {"seconds", s},
                                                 {"dtype", bf16 ? "bf16" : "fp32"}};
        }
        if (selected(r, "forward" + suffix)) {
            torch::manual_seed(0);
            auto model = models::with_compute_dtype(
                models::build_model(models::ModelSpec::defaults(ModelKind::ClassDdpm)), dtype);
            model.unet->eval();
            c10::InferenceMode guard;
            auto x = torch::rand({1, 1, 28, 28});
            auto t = torch::rand({1});
            auto c = torch::zeros({1, 10});
            const int reps = r.quick ? 5 : 200;
            for (int i = 0; i < 5; ++i) model.unet->forward(x, t, c);
            // Each call timed on its own as well: this host's vCPUs stall now and then for a few
            // ms, which moves the mean of 200 calls but not the median.
            std::vector<double> each(reps);
            auto t0 = Clock::now();
            for (int i = 0; i < reps; ++i) {
                const auto s0 = Clock::now();
                model.unet->forward(x, t, c);
                each[i] = 1000.0 * seconds_since(s0);
            }
            const double mean = 1000.0 * seconds_since(t0) / reps;
            std::sort(each.begin(), each.end());
            out["forward_batch1" + key_suffix] = {{"model", "class-ddpm"}, {"reps", reps},
                                                  {"ms", mean},
                                                  {"median_ms", each[reps / 2]},
                                                  {"min_ms", each.front()},
                                                  {"p90_ms", each[reps * 9 / 10]},
                                                  {"dtype", bf16 ? "bf16" : "fp32"}};
            if (const char* trace = std::getenv("DS_BENCH_TRACE")) {  // one more, op by op
                torch::autograd::profiler::RecordProfile guard(std::string(trace) + ".forward" + suffix + ".json");
                model.unet->forward(x, t, c);
            }
        }
    }
    const int if_reps = r.quick ? 1 : 2;
    for (const auto& [name, file] : std::vector<std::pair<std::string, std::string>>{
             {"if-i-xl", "if-i-xl-unet.json"}, {"if-ii-l", "if-ii-l-unet.json"}})
        for (const char* dt : {"fp32", "bf16", "fp16", "fp32-w16"})
            if (named(r, name + "-" + dt)) out["if_unet"].push_back(bench_if_unet(file, dt, r.device, if_reps));
    for (const char* dt : {"fp32", "bf16", "fp16", "fp32-w16"})
        if (named(r, std::string("t5-xxl-") + dt)) out["t5"].push_back(bench_t5(dt, r.device, if_reps));
    if (selected(r, "sampler") && (r.only.empty() || named(r, "sampler"))) {
        const int reps = r.quick ? 1 : 7;
        out["sampler_overhead"] = json::array({bench_sampler(1, reps), bench_sampler(10, reps)});
    }
    return out.dump(2);
}

}  // namespace ds::bench
