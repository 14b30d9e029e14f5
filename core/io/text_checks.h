#pragma once
// Checks and quoting for text that came from outside (file headers, prompts, recipes).
// Header-only and dependency-free: the fuzz targets include it too.
#include <cstddef>
#include <cstdint>
#include <string>

namespace ds::io {

// Offset of the first byte that breaks UTF-8 (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF), or `size` when the text is valid.
inline std::uint64_t first_invalid_utf8(const std::uint8_t* s, std::uint64_t size) {
    std::uint64_t i = 0;
    while (i < size) {
        const std::uint8_t c = s[i];
        int extra = 0;
        std::uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the first continuation byte
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
            return i;
        }
        if (size - i <= static_cast<std::uint64_t>(extra)) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (int k = 2; k <= extra; ++k)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf) return i;
        i += 1 + extra;
    }
    return size;
}

inline bool is_valid_utf8(const std::string& text) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
    return first_invalid_utf8(p, text.size()) == text.size();
}

// Quotes untrusted text for a message: control and non-ASCII bytes become '?', text longer
// than `max_chars` is cut and says how long it was.
inline std::string quoted(const std::string& text, std::size_t max_chars = 80) {
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < max_chars; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        out += (c < 0x20 || c >= 0x7f) ? '?' : static_cast<char>(c);
    }
    if (text.size() > max_chars) out += "...' (" + std::to_string(text.size()) + " bytes)";
    else out += "'";
    return out;
}

}  // namespace ds::io
