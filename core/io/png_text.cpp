#include "core/io/png_text.h"

#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>

#include "core/engine/errors.h"

namespace ds::io {
namespace {

using TextPairs = std::vector<std::pair<std::string, std::string>>;

// PNG's limit on a chunk's data length (2^31 - 1).
constexpr std::uint32_t kMaxChunkLength = 0x7fffffffu;
// Largest width or height the text reader walks past (it decodes the rows, one at a time, to
// reach text stored after the image data); the same bound read_image applies.
constexpr png_uint_32 kMaxSide = 16384;
// The PNG keyword limit from the spec.
constexpr std::size_t kMaxKeywordLength = 79;

// Decodes UTF-8 into code points; false on malformed input (overlongs, surrogates, > U+10FFFF).
bool decode_utf8(const std::string& s, std::vector<std::uint32_t>* out) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        const int extra = c < 0x80         ? 0
                          : (c >> 5) == 6  ? 1
                          : (c >> 4) == 14 ? 2
                          : (c >> 3) == 30 ? 3
                                           : -1;
        if (extra < 0 || s.size() - i <= std::size_t(extra))
            return false;
        std::uint32_t cp = extra == 0 ? c : c & (0x3f >> extra);
        for (int k = 1; k <= extra; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc >> 6) != 2)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        static const std::uint32_t kMinForLength[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < kMinForLength[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        if (out)
            out->push_back(cp);
        i += extra + 1;
    }
    return true;
}

std::string latin1_to_utf8(const std::string& s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            out += ch;
        } else {
            out += char(0xc0 | (c >> 6));
            out += char(0x80 | (c & 0x3f));
        }
    }
    return out;
}

// PNG keywords are Latin-1; callers pass UTF-8. Rules from the PNG spec, section 11.3.4.
std::string keyword_to_latin1(const std::string& key) {
    std::vector<std::uint32_t> cps;
    auto bad = [&](const std::string& why) {
        return InvalidRequest("PNG text key '" + key + "' " + why +
                              " (keys are 1-79 printable Latin-1 characters)");
    };
    if (!decode_utf8(key, &cps))
        throw bad("is not valid UTF-8");
    if (cps.empty() || cps.size() > kMaxKeywordLength)
        throw bad("has the wrong length");
    std::string out;
    for (std::size_t i = 0; i < cps.size(); ++i) {
        const std::uint32_t cp = cps[i];
        if (!((cp >= 32 && cp <= 126) || (cp >= 161 && cp <= 255))) {
            throw bad("contains a character that is not printable Latin-1");
        }
        if (cp == ' ' && (i == 0 || i + 1 == cps.size() || cps[i - 1] == ' ')) {
            throw bad("has leading, trailing or repeated spaces");
        }
        out += char(cp);
    }
    return out;
}

// tEXt/zTXt should be Latin-1, but some tools store UTF-8 there; valid UTF-8 is kept as is
// (a Latin-1 string with high bytes is almost never valid UTF-8 by accident).
std::string legacy_text_to_utf8(const std::string& s) {
    return decode_utf8(s, nullptr) ? s : latin1_to_utf8(s);
}

// libpng reports errors through a callback that must not return: the message is kept here and
// the callback longjmps back to the setjmp in encode_rows / read_chunks. Those functions hold
// no objects with destructors, so the jump skips nothing.
struct PngErrorSlot {
    char message[256] = "libpng error";
};

[[noreturn]] void on_png_error(png_structp png, png_const_charp msg) {
    auto* slot = static_cast<PngErrorSlot*>(png_get_error_ptr(png));
    std::snprintf(slot->message, sizeof slot->message, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}

void append_bytes(png_structp png, png_bytep data, png_size_t n) {
    try {
        static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
    } catch (...) {
        png_error(png, "out of memory");  // no C++ exception may cross libpng's C frames
    }
}
void flush_nothing(png_structp) {}

struct MemorySource {
    const std::uint8_t* data;
    std::size_t size;
    std::size_t pos;
};

void read_bytes(png_structp png, png_bytep out, png_size_t n) {
    auto* src = static_cast<MemorySource*>(png_get_io_ptr(png));
    if (src->size - src->pos < n) png_error(png, "the file is truncated");
    std::memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

// One text chunk as read, before conversion to UTF-8 (outside the setjmp region).
struct RawText {
    std::string key, value;
    bool itxt;
};

void collect_text(png_structp png, png_infop info, std::vector<RawText>* out) {
    png_textp text = nullptr;
    int count = 0;
    png_get_text(png, info, &text, &count);
    for (int i = 0; i < count; ++i) {
        const bool itxt = text[i].compression == PNG_ITXT_COMPRESSION_NONE || text[i].compression == PNG_ITXT_COMPRESSION_zTXt;
        out->push_back({text[i].key ? text[i].key : "", text[i].text ? text[i].text : "", itxt});
    }
    // Chunks read before the image data are not reported again with the end info.
    png_free_data(png, info, PNG_FREE_TEXT, -1);
}

// Encoder settings are OpenCV's (filter Sub, zlib level 1, RLE strategy), the encoder this
// project used before libpng: results written then and replayed now have the same bytes.
bool encode_rows(png_structp png, png_infop info, int width, int height, int color_type, const std::uint8_t* pixels,
                 std::size_t row_bytes, png_textp text, int text_count, std::string* out) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_set_write_fn(png, out, append_bytes, flush_nothing);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_compression_level(png, Z_BEST_SPEED);
    png_set_compression_strategy(png, Z_RLE);
    png_set_IHDR(png, info, png_uint_32(width), png_uint_32(height), 8, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    // Text goes right after IHDR, so readers that stop at the first IDAT still see the recipe.
    if (text_count > 0) png_set_text(png, info, text, text_count);
    png_write_info(png, info);
    for (int y = 0; y < height; ++y) png_write_row(png, pixels + std::size_t(y) * row_bytes);
    png_write_end(png, nullptr);
    return true;
}

bool read_chunks(png_structp png, png_infop info, png_infop end, MemorySource* src, std::vector<RawText>* out,
                 png_bytep* row) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_set_read_fn(png, src, read_bytes);
    png_set_user_limits(png, kMaxSide, kMaxSide);
    png_set_chunk_malloc_max(png, kMaxInflatedText + 4096);
    // A bad CRC is an error in any chunk (libpng's default silently drops ancillary ones).
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);
    collect_text(png, info, out);
    // Text may also follow the image data: read the rows, one at a time, to reach it.
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    *row = static_cast<png_bytep>(png_malloc(png, png_get_rowbytes(png, info)));
    const png_uint_32 height = png_get_image_height(png, info);
    for (int p = 0; p < passes; ++p)
        for (png_uint_32 y = 0; y < height; ++y) png_read_row(png, *row, nullptr);
    png_read_end(png, end);
    collect_text(png, end, out);
    return true;
}

}  // namespace

std::string encode_png(int width, int height, int channels, const std::uint8_t* pixels,
                       const std::vector<std::pair<std::string, std::string>>& text) {
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3 && channels != 4))
        throw InvalidRequest("encode_png: invalid image " + std::to_string(width) + "x" + std::to_string(height) + "x" +
                             std::to_string(channels));
    // Keys and values are checked here, with messages libpng would not give.
    std::vector<std::string> keys;
    std::vector<png_text> chunks(text.size());
    for (const auto& [key, value] : text) {
        keys.push_back(keyword_to_latin1(key));
        if (value.find('\0') != std::string::npos)
            throw InvalidRequest("PNG text value for key '" + key + "' contains a NUL byte");
        if (value.size() > kMaxChunkLength - 100)
            throw InvalidRequest("PNG text value for key '" + key + "' is too large");
        if (!decode_utf8(value, nullptr))
            throw InvalidRequest("PNG text value for key '" + key + "' is not valid UTF-8");
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        const std::string& value = text[i].second;
        bool ascii = true;
        for (const char c : value) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
        // tEXt for plain ASCII (readable by every tool), iTXt otherwise: tEXt is Latin-1, so
        // UTF-8 recipes (prompts with accents, emoji) would not survive other readers.
        png_text& t = chunks[i];
        t.compression = ascii ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
        t.key = const_cast<char*>(keys[i].c_str());
        t.text = const_cast<char*>(value.c_str());
        t.text_length = ascii ? value.size() : 0;
        t.itxt_length = ascii ? 0 : value.size();
        t.lang = nullptr;
        t.lang_key = nullptr;
    }
    PngErrorSlot error;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!info) {
        png_destroy_write_struct(&png, nullptr);
        throw IoError("PNG encoding failed: libpng could not start");
    }
    std::string out;
    const bool ok = encode_rows(png, info, width, height,
                                channels == 1 ? PNG_COLOR_TYPE_GRAY : channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGB_ALPHA,
                                pixels, std::size_t(width) * channels, chunks.data(), int(chunks.size()), &out);
    png_destroy_write_struct(&png, &info);
    if (!ok) throw IoError(std::string("PNG encoding failed (libpng: ") + error.message + ")");
    return out;
}

TextPairs parse_png_text(const std::uint8_t* p, std::size_t n, const std::string& path) {
    if (n < 8 || png_sig_cmp(const_cast<png_bytep>(p), 0, 8) != 0)
        throw DataError("'" + path + "' is not a PNG file");
    PngErrorSlot error;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    png_infop end = info ? png_create_info_struct(png) : nullptr;
    if (!end) {
        png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
        throw DataError("libpng could not start reading '" + path + "'");
    }
    MemorySource src{p, n, 0};
    std::vector<RawText> raw;
    png_bytep row = nullptr;
    bool ok = false;
    try {
        ok = read_chunks(png, info, end, &src, &raw, &row);
    } catch (...) {
        png_free(png, row);
        png_destroy_read_struct(&png, &info, &end);
        throw;
    }
    png_free(png, row);
    png_destroy_read_struct(&png, &info, &end);
    if (!ok) throw DataError("PNG '" + path + "' is corrupt or truncated (libpng: " + error.message + ")");
    TextPairs out;
    for (const auto& t : raw) {
        if (t.key.empty()) throw DataError("PNG '" + path + "' has a text chunk without a key");
        // Keys are Latin-1; values are UTF-8 in iTXt and Latin-1 (sometimes UTF-8) elsewhere.
        out.emplace_back(latin1_to_utf8(t.key), legacy_text_to_utf8(t.value));
    }
    return out;
}

}  // namespace ds::io
