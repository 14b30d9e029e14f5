#pragma once
// `dstudio bench` and `dstudio debug`: benchmarks and diagnostics, outside the production facade
// (core/bench/diagnostics.h).
#include <map>
#include <string>

#include "app/cli/part_a_commands.h"

namespace cli {

std::map<std::string, CommandFn> diagnostic_commands();

}  // namespace cli
