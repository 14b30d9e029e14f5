#pragma once
// What --dtype means on this machine, per model family. With --dtype auto the first call
// measures (about a second, once per machine; cached), later calls read the cache.
#include <string>
#include <vector>

#include "core/engine/engine.h"

namespace ds {

struct FamilyPrecision {
    std::string family;  // "MNIST UNet", "DeepFloyd IF"
    std::string dtype;   // what runs: fp32, bf16, fp16 or fp32-w16 (never "auto")
    std::string reason;  // e.g. "auto: bf16 for the MNIST UNet (bf16 1.48x the speed of fp32 on AMD EPYC, ...)"
};

std::vector<FamilyPrecision> describe_precision(const EngineOptions& options);

}  // namespace ds
