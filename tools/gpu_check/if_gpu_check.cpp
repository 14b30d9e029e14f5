// DeepFloyd IF on a device, checked against the diffusers/transformers fixtures and timed at real
// scale; JSON on stdout. The same checks as tests/core/models/test_if_device.cpp's [.gpu] test
// and `dstudio bench --only if-*-fp16`, for machines that can only build LibTorch code.
//
//   if_gpu_check --device cuda [--fixtures tests/fixtures] [--bench] [--reps 3]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/io/safetensors.h"
#include "core/models/if_unet.h"
#include "core/models/t5_encoder.h"
#include "core/models/weight_loading.h"

using ds::models::Precision;
using json = nlohmann::json;

namespace {

double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
    auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
    return ((g - w).abs() / (w.abs() + 1.0)).max().item<double>();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// fp32: the parity bounds. 16-bit: fp16 keeps 11 significant bits, bf16 8 (on the CPU
// the tiny stage II UNet's bf16 output is up to 6.7e-2 off diffusers' fp32).
double tolerance(torch::ScalarType t, double fp32) {
    return t == torch::kFloat32 ? fp32 : t == torch::kFloat16 ? 5e-2 : 1e-1;
}

const char* dtype_name(torch::ScalarType t) {
    return t == torch::kFloat32 ? "fp32" : t == torch::kFloat16 ? "fp16" : "bf16";
}

// Every fixture case of a UNet; fp32 also compares every hook.
json check_unet(const std::string& dir, bool stage2, const Precision& p) {
    auto unet = ds::models::IfUNet::load(dir, p);
    auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
    double worst = 0, worst_hook = 0;
    int hooks_compared = 0;
    for (int i = 0; i < 3; ++i) {
        const std::string c = "case" + std::to_string(i) + ".";
        ds::models::Hooks hooks;
        auto out = unet.forward(f.tensor(c + "sample"), f.tensor(c + "timestep"), f.tensor(c + "encoder_hidden_states"),
                                stage2 ? f.tensor(c + "class_labels") : torch::Tensor(),
                                p.compute == torch::kFloat32 ? &hooks : nullptr);
        worst = std::max(worst, rel_err(out, f.tensor(c + "out")));
        for (const auto& [name, t] : hooks) {
            const std::string key = c + "hook." + name;
            bool present = false;
            for (const auto& info : f.tensors()) present = present || info.name == key;
            if (!present) continue;
            worst_hook = std::max(worst_hook, rel_err(t, f.tensor(key)));
            ++hooks_compared;
        }
    }
    const double limit = tolerance(p.compute, 1e-4);
    return {{"model", dir}, {"dtype", dtype_name(p.compute)}, {"max_rel_err_out", worst},
            {"max_rel_err_hooks", worst_hook}, {"hooks_compared", hooks_compared}, {"limit", limit},
            {"pass", worst < limit && worst_hook < limit}};
}

json check_t5(const std::string& dir, const Precision& p) {
    auto enc = ds::models::T5Encoder::load(dir, p);
    auto f = ds::io::SafetensorsFile::open(dir + "/cases.safetensors");
    auto out = enc.forward(f.tensor("input_ids"), f.tensor("attention_mask"));
    const double err = (out - f.tensor("last_hidden_state")).abs().max().item<double>();
    const double limit = tolerance(p.compute, 1e-5);
    return {{"model", dir}, {"dtype", dtype_name(p.compute)}, {"max_abs_err", err}, {"limit", limit},
            {"pass", err < limit}};
}

// One denoising step at real scale (batch 2 with CFG: 4 samples), random weights.
json bench_unet(const std::string& config, const Precision& p, int reps) {
    auto cfg = ds::models::IfUNetConfig::from_json_file(config);
    auto t0 = std::chrono::steady_clock::now();
    auto unet = ds::models::IfUNet::random(cfg, p, 0);
    const double build = seconds_since(t0);
    const int s = cfg.sample_size;
    auto x = torch::randn({4, cfg.in_channels, s, s});
    auto text = torch::randn({4, 77, cfg.encoder_hid_dim});
    auto t = torch::full({4}, 500L);
    auto labels = cfg.class_embedding ? torch::full({4}, 250L) : torch::Tensor();
    t0 = std::chrono::steady_clock::now();
    unet.forward(x, t, text, labels);  // the result comes back to the CPU: the step is complete
    const double first = seconds_since(t0);
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        t0 = std::chrono::steady_clock::now();
        unet.forward(x, t, text, labels);
        best = std::min(best, seconds_since(t0));
    }
    return {{"config", config}, {"dtype", dtype_name(p.compute)}, {"seconds_per_step", best},
            {"first_step_seconds", first}, {"random_weights_seconds", build}, {"weights_gb", unet.weight_bytes() / 1e9}};
}

json bench_t5(const std::string& config, const Precision& p, int reps) {
    auto enc = ds::models::T5Encoder::random(ds::models::T5Config::from_json_file(config), p, 0);
    auto ids = torch::randint(1, 32000, {1, 77}, torch::kLong);
    auto mask = torch::ones({1, 77}, torch::kLong);
    enc.forward(ids, mask);
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        enc.forward(ids, mask);
        best = std::min(best, seconds_since(t0));
    }
    return {{"config", config}, {"dtype", dtype_name(p.compute)}, {"seconds_per_prompt", best},
            {"weights_gb", enc.weight_bytes() / 1e9}};
}

}  // namespace

int main(int argc, char** argv) {
    std::string device_name = "cuda", fixtures = std::string(DS_SOURCE_DIR) + "/tests/fixtures";
    std::string configs = std::string(DS_SOURCE_DIR) + "/assets/configs";
    bool bench = false;
    int reps = 3;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--device") device_name = value();
        else if (a == "--fixtures") fixtures = value();
        else if (a == "--bench") bench = true;
        else if (a == "--reps") reps = std::stoi(value());
        else {
            std::cerr << "usage: if_gpu_check [--device cuda|cuda:N|cpu] [--fixtures DIR] [--bench] [--reps N]\n";
            return 2;
        }
    }
    try {
        const auto device = Precision::parse_device(device_name);
        // Full fp32 for the parity checks (cuDNN's default TF32 rounds to 10-bit mantissas).
        at::globalContext().setAllowTF32CuDNN(false);
        at::globalContext().setAllowTF32CuBLAS(false);
        json out = {{"device", device.str()}, {"torch", TORCH_VERSION}};
        if (device.is_cuda()) out["cuda_devices"] = torch::cuda::device_count();
        bool pass = true;
        std::vector<torch::ScalarType> dtypes = {torch::kFloat32, torch::kBFloat16};
        if (!device.is_cpu()) dtypes.push_back(torch::kFloat16);
        for (auto dt : dtypes) {
            const auto p = Precision(dt).on(device);
            for (auto [name, stage2] : {std::pair<const char*, bool>{"if_stage1_unet_tiny", false}, {"if_stage2_unet_tiny", true}}) {
                auto r = check_unet(fixtures + "/" + name, stage2, p);
                pass = pass && r["pass"].get<bool>();
                out["unet"].push_back(r);
            }
            auto r = check_t5(fixtures + "/t5_encoder_tiny", p);
            pass = pass && r["pass"].get<bool>();
            out["t5"].push_back(r);
        }
        out["pass"] = pass;
        std::cout << out.dump(2) << std::endl;  // the checks first: a bench that runs out of time loses only itself
        if (bench) {
            at::globalContext().setAllowTF32CuDNN(true);  // LibTorch's default, as a user runs fp32
            const auto half = device.is_cpu() ? torch::kBFloat16 : torch::kFloat16;
            json b;
            for (const char* c : {"if-i-xl-unet.json", "if-ii-l-unet.json"}) {
                b["if_unet"].push_back(bench_unet(configs + "/" + c, Precision(half).on(device), reps));
                std::cout << b.dump(2) << std::endl;
            }
            b["t5"].push_back(bench_t5(configs + "/t5-v1_1-xxl.json", Precision(half).on(device), reps));
            std::cout << b.dump(2) << std::endl;
        }
        return pass ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "if_gpu_check: " << e.what() << "\n";
        return 1;
    }
}
