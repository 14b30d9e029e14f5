#pragma once
// PNG files through libpng: encoding with text chunks (tEXt, iTXt; the recipes of saved results
// travel in them) and reading the text chunks (tEXt, zTXt, iTXt) of untrusted bytes, with every
// CRC checked and the image size and inflated text bounded. Torch- and OpenCV-free (libpng and
// zlib only), so the fuzz target links this file alone.
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

// A complete PNG file of 8-bit gray (1), RGB (3) or RGBA (4) rows, with `text` (key = value, in
// order) right after IHDR: tEXt for ASCII values, iTXt for other UTF-8. Throws InvalidRequest
// for keys that are not 1-79 printable Latin-1 characters, NUL bytes or invalid UTF-8 in a value,
// IoError when libpng fails.
std::string encode_png(int width, int height, int channels, const std::uint8_t* pixels,
                       const std::vector<std::pair<std::string, std::string>>& text);

}  // namespace ds::io
