#pragma once
// One function per fuzz target (see fuzz_targets.cpp): each takes one input and returns 0, or
// aborts on a broken invariant.
#include <cstddef>
#include <cstdint>

namespace ds::fuzz {

int safetensors(const std::uint8_t* data, std::size_t size);  // parse_safetensors
int idx(const std::uint8_t* data, std::size_t size);          // parse_idx
int idx_file(const std::uint8_t* data, std::size_t size);     // decode_idx_file: plain or gzip
int png_text(const std::uint8_t* data, std::size_t size);     // parse_png_text: tEXt, zTXt, iTXt
int recipe(const std::uint8_t* data, std::size_t size);       // parse_recipe
int if_config(const std::uint8_t* data, std::size_t size);    // IfUNetConfig::from_json_text

}  // namespace ds::fuzz
