#pragma once
// Part A subcommands: forward, blur, one-step, explore, iterate, sdedit, inpaint, anagram,
// hybrid, and replay (re-run a recipe).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/engine/engine.h"

namespace cli {

using CommandFn = std::function<int(const std::vector<std::string>&, const ds::EngineOptions&)>;
std::map<std::string, CommandFn> part_a_commands();

}  // namespace cli
