#include "core/models/auto_precision.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/io/atomic_file.h"
#include "core/io/bounded_json.h"
#include "core/io/cpu_info.h"

namespace fs = std::filesystem;

namespace ds::models {
namespace {

using Clock = std::chrono::steady_clock;

// Median of `reps` timed runs of fn after two warm-ups, in milliseconds.
template <typename Fn>
double median_ms(Fn&& fn, int reps) {
    fn();
    fn();
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = Clock::now();
        fn();
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

// The work that dominates each family's step, in `dtype` end to end (weights and activations,
// as with_compute_dtype and the IF loaders run them): MNIST UNet convolutions at 28 and 14 px
// (batch 8: the Studio's 4 samples with CFG) and its widest matrix product; a 3x3 convolution of
// IF stage I's first level (320 channels, 64 px) and a 1280-wide matrix product.
double measure(Family family, torch::ScalarType dtype) {
    c10::InferenceMode guard;
    torch::manual_seed(0);
    auto o = torch::TensorOptions().dtype(dtype);
    if (family == Family::MnistUnet) {
        auto x28 = torch::randn({8, 64, 28, 28}, o), w28 = torch::randn({64, 64, 3, 3}, o) * 0.05;
        auto x14 = torch::randn({8, 128, 14, 14}, o), w14 = torch::randn({128, 128, 3, 3}, o) * 0.05;
        auto a = torch::randn({8 * 49, 256}, o), b = torch::randn({256, 256}, o);
        return median_ms([&] {
            for (int i = 0; i < 4; ++i) torch::conv2d(x28, w28, {}, 1, 1);
            for (int i = 0; i < 4; ++i) torch::conv2d(x14, w14, {}, 1, 1);
            torch::mm(a, b);
        }, 7);
    }
    auto x = torch::randn({1, 320, 64, 64}, o), w = torch::randn({320, 320, 3, 3}, o) * 0.02;
    auto a = torch::randn({1024, 1280}, o), b = torch::randn({1280, 1280}, o);
    return median_ms([&] {
        torch::conv2d(x, w, {}, 1, 1);
        torch::mm(a, b);
    }, 3);
}

std::string cache_key(Family family) {
    std::string isa;
    for (const auto& f : io::cpu_isa()) isa += (isa.empty() ? "" : ",") + f;
    return io::cpu_model() + " | " + isa + " | torch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
           std::to_string(TORCH_VERSION_MINOR) + " | threads " + std::to_string(at::get_num_threads()) + " | " +
           family_name(family);
}

std::string speed_text(double fp32_ms, double bf16_ms) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "bf16 %.2fx the speed of fp32", fp32_ms / std::max(bf16_ms, 1e-9));
    return buf;
}

std::mutex cache_mutex;

}  // namespace

const char* family_name(Family f) { return f == Family::MnistUnet ? "MNIST UNet" : "DeepFloyd IF"; }

std::string default_auto_cache_file() {
    if (const char* d = std::getenv("DS_CACHE_DIR"); d && *d) return (fs::path(d) / "precision-auto.json").string();
    const char* home = std::getenv("HOME");
    return (fs::path(home && *home ? home : "/tmp") / ".cache" / "diffusion-studio" / "precision-auto.json").string();
}

AutoPrecision resolve_precision(const std::string& requested, Family family, const std::string& device,
                                const std::string& cache_file) {
    if (requested != "auto") return {requested, "--dtype " + requested};
    if (device != "cpu") {
        if (family == Family::DeepFloydIf) return {"fp16", "auto: fp16 on the GPU"};
        return {"fp32", "auto: fp32 (the MNIST models run on the CPU)"};
    }
    if (!io::cpu_has("avx512_bf16") && !io::cpu_has("amx_bf16"))
        return {"fp32", "auto: fp32 (" + io::cpu_model() + " has no bf16 instructions)"};

    const std::string path = cache_file.empty() ? default_auto_cache_file() : cache_file;
    const std::string key = cache_key(family);
    std::lock_guard<std::mutex> lock(cache_mutex);
    nlohmann::json cache = nlohmann::json::object();
    try {
        if (fs::exists(path)) cache = io::read_json_file(path, 256 * 1024);
        if (!cache.is_object()) cache = nlohmann::json::object();
    } catch (const std::exception&) {
        cache = nlohmann::json::object();  // unreadable or hostile: measured again and rewritten
    }
    AutoPrecision out;
    const auto it = cache.find(key);
    bool cached = false;
    if (it != cache.end() && it->is_object()) {
        const auto& e = *it;
        if (e.contains("fp32_ms") && e.contains("bf16_ms") && e["fp32_ms"].is_number() && e["bf16_ms"].is_number()) {
            out.fp32_ms = e["fp32_ms"].get<double>();
            out.bf16_ms = e["bf16_ms"].get<double>();
            cached = out.fp32_ms > 0 && out.bf16_ms > 0 && std::isfinite(out.fp32_ms) && std::isfinite(out.bf16_ms);
        }
    }
    if (!cached) {
        out.fp32_ms = measure(family, torch::kFloat32);
        out.bf16_ms = measure(family, torch::kBFloat16);
        cache[key] = {{"fp32_ms", out.fp32_ms}, {"bf16_ms", out.bf16_ms}};
        try {
            fs::create_directories(fs::path(path).parent_path());
            io::write_file_atomic(path, cache.dump(2) + "\n");
        } catch (const std::exception&) {
            // A read-only cache folder costs a re-measurement next time, nothing else.
        }
    }
    const bool bf16 = out.fp32_ms >= kBf16MinSpeedup * out.bf16_ms;
    out.dtype = bf16 ? "bf16" : "fp32";
    out.reason = "auto: " + out.dtype + " for the " + family_name(family) + " (" + speed_text(out.fp32_ms, out.bf16_ms) +
                 " on " + io::cpu_model() + (cached ? ", measured earlier)" : ", measured now)");
    return out;
}

}  // namespace ds::models
