#include "core/io/png_text.h"

#include <zlib.h>

#include <cstring>

#include "core/engine/errors.h"

namespace ds::io {
namespace {

using TextPairs = std::vector<std::pair<std::string, std::string>>;

const unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
// PNG's limit on a chunk's data length (2^31 - 1).
constexpr std::uint32_t kMaxChunkLength = 0x7fffffffu;
// The PNG keyword limit from the spec.
constexpr std::size_t kMaxKeywordLength = 79;

std::uint32_t be32(const unsigned char* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}

void put_be32(std::string& out, std::uint32_t v) {
    const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    out.append(b, 4);
}

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

std::string make_chunk(const char* type, const std::string& data) {
    std::string chunk;
    put_be32(chunk, static_cast<std::uint32_t>(data.size()));
    chunk.append(type, 4);
    chunk += data;
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(chunk.data() + 4), uInt(4 + data.size()));
    put_be32(chunk, static_cast<std::uint32_t>(crc));
    return chunk;
}

// tEXt for plain ASCII (readable by every tool), iTXt otherwise: tEXt is Latin-1, so UTF-8
// recipes (prompts with accents, emoji) would not survive other readers.
}  // namespace

std::string make_png_text_chunk(const std::string& key, const std::string& value) {
    const std::string keyword = keyword_to_latin1(key);
    if (value.find('\0') != std::string::npos) {
        throw InvalidRequest("PNG text value for key '" + key + "' contains a NUL byte");
    }
    if (value.size() > kMaxChunkLength - 100) {
        throw InvalidRequest("PNG text value for key '" + key + "' is too large");
    }
    bool ascii = true;
    for (const char c : value)
        ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii)
        return make_chunk("tEXt", keyword + '\0' + value);
    if (!decode_utf8(value, nullptr)) {
        throw InvalidRequest("PNG text value for key '" + key + "' is not valid UTF-8");
    }
    // keyword, NUL, compression flag 0, method 0, empty language tag, empty translated keyword.
    return make_chunk("iTXt", keyword + std::string(5, '\0') + value);
}

namespace {

std::string inflate_text(const unsigned char* data, std::size_t size, const std::string& path) {
    z_stream zs{};
    if (inflateInit(&zs) != Z_OK)
        throw DataError("zlib could not be initialised");
    zs.next_in = const_cast<Bytef*>(data);
    zs.avail_in = static_cast<uInt>(size);
    std::string out;
    char buffer[1 << 14];
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = reinterpret_cast<Bytef*>(buffer);
        zs.avail_out = sizeof buffer;
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buffer, sizeof buffer - zs.avail_out);
        if (out.size() > kMaxInflatedText)
            rc = Z_MEM_ERROR;
        if (rc == Z_BUF_ERROR && zs.avail_in == 0)
            rc = Z_DATA_ERROR;  // truncated stream
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        throw DataError("PNG '" + path + "' has a corrupt or oversized compressed text chunk");
    }
    return out;
}

// tEXt/zTXt should be Latin-1, but some tools store UTF-8 there; valid UTF-8 is kept as is
// (a Latin-1 string with high bytes is almost never valid UTF-8 by accident).
std::string legacy_text_to_utf8(const std::string& s) {
    return decode_utf8(s, nullptr) ? s : latin1_to_utf8(s);
}

// Appends the key/value of a text chunk; malformed text chunks are data errors.
void parse_text_chunk(const std::string& type,
                      const unsigned char* data,
                      std::size_t size,
                      const std::string& path,
                      TextPairs* out) {
    const auto* end = data + size;
    const auto* nul = static_cast<const unsigned char*>(std::memchr(data, 0, size));
    auto malformed = [&] {
        return DataError("PNG '" + path + "' has a malformed " + type + " chunk");
    };
    if (!nul || nul == data)
        throw malformed();
    const std::string key = latin1_to_utf8(std::string(data, nul));
    const unsigned char* rest = nul + 1;
    if (type == "tEXt") {
        out->emplace_back(key, legacy_text_to_utf8(std::string(rest, end)));
    } else if (type == "zTXt") {
        if (rest >= end || *rest != 0)
            throw malformed();  // method 0 = zlib is the only one
        out->emplace_back(key, legacy_text_to_utf8(inflate_text(rest + 1, end - rest - 1, path)));
    } else {  // iTXt
        if (end - rest < 2)
            throw malformed();
        const bool compressed = rest[0] != 0;
        if (compressed && rest[1] != 0)
            throw malformed();
        rest += 2;
        for (int skip = 0; skip < 2; ++skip) {  // language tag, translated keyword
            const auto* z = static_cast<const unsigned char*>(std::memchr(rest, 0, end - rest));
            if (!z)
                throw malformed();
            rest = z + 1;
        }
        out->emplace_back(
            key, compressed ? inflate_text(rest, end - rest, path) : std::string(rest, end));
    }
}


}  // namespace

TextPairs parse_png_text(const std::uint8_t* p, std::size_t n, const std::string& path) {
    if (n < 8 || std::memcmp(p, kPngSignature, 8) != 0)
        throw DataError("'" + path + "' is not a PNG file");
    TextPairs out;
    std::size_t pos = 8;
    while (true) {
        const std::string where = " at byte " + std::to_string(pos);
        if (n - pos < 12)
            throw DataError("PNG '" + path + "' is truncated" + where);
        const std::uint32_t length = be32(p + pos);
        if (length > kMaxChunkLength || n - pos - 12 < length) {
            throw DataError("PNG '" + path + "' is truncated or has a bad chunk length" + where);
        }
        const std::string type(reinterpret_cast<const char*>(p + pos + 4), 4);
        for (const char c : type) {
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
                throw DataError("PNG '" + path + "' has an invalid chunk type" + where);
            }
        }
        if (pos == 8 && type != "IHDR") {
            throw DataError("PNG '" + path + "' does not start with an IHDR chunk");
        }
        const unsigned char* data = p + pos + 8;
        const uLong crc = crc32(crc32(0L, Z_NULL, 0), p + pos + 4, uInt(4 + length));
        if (crc != be32(data + length)) {
            throw DataError("PNG '" + path + "' is corrupt: bad CRC in " + type + " chunk" + where);
        }
        if (type == "tEXt" || type == "zTXt" || type == "iTXt") {
            parse_text_chunk(type, data, length, path, &out);
        }
        pos += 12 + std::size_t(length);
        if (type == "IEND")
            return out;
    }
}


}  // namespace ds::io
