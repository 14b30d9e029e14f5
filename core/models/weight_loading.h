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

// The first of `candidates` (file names inside `dir`) that exists; throws ModelLoadError
// naming `what` when none does.
std::string find_weight_file(const std::string& dir, const std::vector<std::string>& candidates,
                             const std::string& what);

// Loads exactly `expected` from `file` as `dtype`. Every missing, unexpected (unless in
// `ignored`) or mis-shaped tensor is reported by name in one ModelLoadError; refuses before
// reading when the weights would not fit in memory.
std::map<std::string, torch::Tensor> load_weights(const std::string& file, const WeightShapes& expected,
                                                  torch::ScalarType dtype, const std::string& what,
                                                  const std::set<std::string>& ignored = {});

}  // namespace ds::models
