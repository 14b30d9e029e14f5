#pragma once
#include <string>
#include <vector>

#include "core/engine/engine.h"

namespace cli {

// Runs one subcommand; returns the process exit code. Throws UsageError / ds::Error.
int run_command(const std::string& command, const std::vector<std::string>& args,
                const ds::EngineOptions& options);

}  // namespace cli
