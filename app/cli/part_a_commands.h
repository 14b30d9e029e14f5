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

// `dstudio denoise --input IMAGE | --pure-noise ...`: the single-step denoiser on any image (the
// Studio's Denoise mode), with a recipe; `dstudio denoise` without them is the test-digit sweep.
int cmd_denoise_image(const std::vector<std::string>& args, const ds::EngineOptions& options);

}  // namespace cli
