#pragma once
// Loading a name -> tensor weight map (the IF UNet, T5) out of a safetensors file or sharded set:
// pick the file, check memory, validate every name and shape against what the config implies,
// and copy each tensor out of the mapping in the requested dtype.
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

// How DeepFloyd IF weights are held in memory and what the arithmetic runs in (`--dtype`):
//   "fp32"      weights and arithmetic in float32;
//   "bf16"      both in bfloat16 (fast only on CPUs with AVX-512);
//   "fp32-w16"  weights kept in 16 bits (fp16/bf16 tensors as the file stores them, float32 ones
//               rounded to bfloat16) and widened to float32 where they are used: half the memory
//               of "fp32", with float32 arithmetic.
// Implicit from a ScalarType: weights and arithmetic in that type.
struct Precision {
    torch::ScalarType compute = torch::kFloat32;
    bool weights16 = false;
    Precision() = default;
    Precision(torch::ScalarType c) : compute(c) {}  // NOLINT: implicit on purpose
    static Precision fp32_w16() {
        Precision p;
        p.weights16 = true;
        return p;
    }
    // The names parse() accepts: "fp32", "bf16", "fp32-w16".
    static const std::vector<std::string>& names();
    // One of names(); throws InvalidRequest naming the choices.
    static Precision parse(const std::string& name);
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

// The first of `candidates` (file names inside `dir`) that exists; throws ModelLoadError
// naming `what` when none does.
std::string find_weight_file(const std::string& dir, const std::vector<std::string>& candidates,
                             const std::string& what);

// Loads exactly `expected` from `file`, each tensor held as `precision.storage_for` its file dtype. Every missing, unexpected (unless in
// `ignored`) or mis-shaped tensor is reported by name in one ModelLoadError; refuses before
// reading when the weights would not fit in memory.
std::map<std::string, torch::Tensor> load_weights(const std::string& file, const WeightShapes& expected,
                                                  const Precision& precision, const std::string& what,
                                                  const std::set<std::string>& ignored = {});

}  // namespace ds::models
