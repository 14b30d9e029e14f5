#pragma once
// Speed benchmarks behind `dstudio bench` (targets and results: docs/performance.md).
#include <string>

#include "core/engine/requests.h"

namespace ds::bench {

// Runs the selected benchmarks and returns one JSON object (text).
std::string run_benchmarks(const BenchRequest& request, int threads);

}  // namespace ds::bench
