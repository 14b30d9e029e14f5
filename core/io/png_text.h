#pragma once
// PNG text chunks (tEXt, zTXt, iTXt): the recipes of saved results travel in them. Torch- and
// OpenCV-free (zlib only), so the fuzz target links this file alone. The reader walks the chunk
// list of untrusted bytes with every length, CRC and inflated size checked.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ds::io {

// Cap on an inflated zTXt/iTXt payload: recipes are kilobytes, this only stops zip bombs.
inline constexpr std::size_t kMaxInflatedText = 64u << 20;

// The key/value pairs of every text chunk of the PNG `data` (UTF-8), in file order. Throws
// DataError naming `what` for anything malformed (signature, lengths, CRCs, chunk order, text).
std::vector<std::pair<std::string, std::string>> parse_png_text(const std::uint8_t* data, std::size_t size,
                                                                const std::string& what);

// One complete chunk (length, type, data, CRC) holding key = value: tEXt for ASCII values, iTXt
// for other UTF-8. Throws InvalidRequest for keys that are not 1-79 printable Latin-1
// characters, NUL bytes or invalid UTF-8 in the value.
std::string make_png_text_chunk(const std::string& key, const std::string& value);

}  // namespace ds::io
