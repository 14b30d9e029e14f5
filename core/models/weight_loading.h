#pragma once
// Loading a name -> tensor weight map (the IF UNet, T5) out of a safetensors file or sharded set:
// pick the file, check memory, validate every name and shape against what the config implies,
// and copy each tensor out of the mapping in the requested dtype.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

namespace ds::models {

using WeightShapes = std::map<std::string, std::vector<std::int64_t>>;

std::int64_t count_parameters(const WeightShapes& shapes);
// Bytes a loaded weight map takes in memory.
std::int64_t weight_bytes(const std::map<std::string, torch::Tensor>& weights);

// How DeepFloyd IF weights are held in memory, what the arithmetic runs in (`--dtype`) and on
// which device (`--device`):
//   "fp32"      weights and arithmetic in float32;
//   "bf16"      both in bfloat16 (fast only on CPUs with AVX-512, and on recent GPUs);
//   "fp16"      both in float16: GPUs only (a CUDA LibTorch), as diffusers runs IF there;
//   "fp32-w16"  weights kept in 16 bits (fp16/bf16 tensors as the file stores them, float32 ones
//               rounded to bfloat16) and widened to float32 where they are used: half the memory
//               of "fp32", with float32 arithmetic.
// Implicit from a ScalarType: weights and arithmetic in that type, on the CPU.
// The models take CPU tensors in and give CPU float32 tensors back whatever the device: samplers,
// noise (the CPU generator: one seed, one image on any device) and images stay on the CPU.
struct Precision {
    torch::ScalarType compute = torch::kFloat32;
    bool weights16 = false;
    torch::Device device = torch::kCPU;
    Precision() = default;
    Precision(torch::ScalarType c) : compute(c) {}  // NOLINT: implicit on purpose
    static Precision fp32_w16() {
        Precision p;
        p.weights16 = true;
        return p;
    }
    Precision on(torch::Device d) const {
        Precision p = *this;
        p.device = d;
        return p;
    }
    // The names parse() accepts: "fp32", "bf16", "fp16", "fp32-w16".
    static const std::vector<std::string>& names();
    // One of names(); throws InvalidRequest naming the choices.
    static Precision parse(const std::string& name);
    // "cpu", "cuda" or "cuda:N". Throws InvalidRequest when the name is none of these, when this
    // build's LibTorch has no CUDA or sees no GPU, or when N is not one of its GPUs.
    static torch::Device parse_device(const std::string& name);
    // Throws InvalidRequest when the dtype cannot run on the device (fp16 on the CPU).
    void check_device() const;
    // The arithmetic of the models that always run on the CPU (the MNIST ones): fp16 -> fp32.
    torch::ScalarType cpu_compute() const { return compute == torch::kFloat16 ? torch::kFloat32 : compute; }
    std::string name() const;
    // Bytes per weight element in memory.
    int bytes_per_weight() const;
    // The in-memory dtype of a weight stored in the file as `file_dtype`.
    torch::ScalarType storage_for(torch::ScalarType file_dtype) const;
    // A weight ready for arithmetic: itself, or a compute-dtype copy when held in 16 bits (a fresh
    // tensor each use; large ones land on huge pages, core/io/huge_pages.h, so the first touch is
    // cheap: widening 1e8 bf16 values 0.42 s on 4 KB pages, 0.10-0.12 s on 2 MB pages).
    torch::Tensor use(const torch::Tensor& stored) const;
};

// A model output back on the host (the CPU) as contiguous float32. Meta tensors (shape-only
// runs in tests, which catch tensors left on the wrong device) stay where they are.
torch::Tensor to_host_float(const torch::Tensor& t);

// `t` on `device` (itself on the CPU). A failed move (out of GPU memory) becomes a ModelLoadError
// naming `what` and the `bytes` all its weights need.
torch::Tensor to_device(const torch::Tensor& t, torch::Device device, const std::string& what, std::int64_t bytes);

// N(0, stddev^2) float32 values for random-weight benchmarks, on `device`: drawn from `gen` on the
// CPU; on another device drawn there, unseeded (the CPU generator is single-threaded: 46 s for
// IF-I-XL's 4.3e9 weights, and a speed benchmark needs no seed).
torch::Tensor random_normal(const std::vector<std::int64_t>& shape, double stddev, at::Generator& gen,
                            torch::Device device);

// Called after each tensor a load copies: bytes of the weights loaded so far and in all. It may
// throw (a cancelled load) to stop loading; nothing is kept.
using LoadProgress = std::function<void(std::int64_t done, std::int64_t total)>;

// The first of `candidates` (file names inside `dir`) that exists; throws ModelLoadError
// naming `what` when none does.
std::string find_weight_file(const std::string& dir, const std::vector<std::string>& candidates,
                             const std::string& what);

// Loads exactly `expected` from `file`, each tensor held as `precision.storage_for` its file
// dtype on `precision.device` (moved one tensor at a time: no second copy in host memory). Every
// missing, unexpected (unless in `ignored`) or mis-shaped tensor is reported by name in one
// ModelLoadError. Refuses before reading when the weights cannot fit: on the CPU in the memory
// available now, on a GPU in its total memory (io/memory.h); on a GPU, an allocation failure
// while loading becomes a ModelLoadError with the size of the weights.
std::map<std::string, torch::Tensor> load_weights(const std::string& file, const WeightShapes& expected,
                                                  const Precision& precision, const std::string& what,
                                                  const std::set<std::string>& ignored = {},
                                                  const LoadProgress& progress = {});

}  // namespace ds::models
