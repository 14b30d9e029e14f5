#pragma once
// JSON from files a user may have been sent (recipes, model specs, safetensors headers, IF
// configs): size and nesting are checked before the parser runs, and every parse error becomes a
// ds::DataError that names the file.
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ds::io {

// Deepest nesting of arrays and objects accepted (our own files use at most 4 levels).
inline constexpr int kMaxJsonDepth = 64;

// Nesting depth of the arrays and objects in `text` (strings skipped), stopping early once it
// exceeds `limit`; linear in the text.
int json_depth(std::string_view text, int limit = kMaxJsonDepth);

// Parses `text` as JSON. Throws DataError ("<what>: ...") when it is longer than `max_bytes`,
// nested deeper than `max_depth`, or not valid JSON.
nlohmann::json parse_json_bounded(std::string_view text, const std::string& what, std::size_t max_bytes,
                                  int max_depth = kMaxJsonDepth);

// Reads and parses a JSON file; the size is checked before reading (IoError when unreadable,
// DataError when too large or invalid).
nlohmann::json read_json_file(const std::string& path, std::size_t max_bytes, int max_depth = kMaxJsonDepth);

}  // namespace ds::io
