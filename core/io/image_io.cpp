// Image files: decoding through OpenCV, PNG writing with text chunks (recipes), and a
// bounds-checked PNG chunk reader for those chunks.
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/engine/errors.h"
#include "core/io/image_check.h"
#include "core/engine/image.h"
#include "core/io/atomic_file.h"

namespace ds {
namespace {

// Largest width or height read_image accepts; bigger files are rejected before decoding where
// the header can be sniffed, so a hostile file cannot make us allocate gigabytes.
constexpr long kMaxImageSide = 16384;
// Cap on an inflated zTXt/iTXt payload: recipes are kilobytes, this only stops zip bombs.
constexpr std::size_t kMaxInflatedText = 64u << 20;
// PNG's limit on a chunk's data length (2^31 - 1).
constexpr std::uint32_t kMaxChunkLength = 0x7fffffffu;
// The PNG keyword limit from the spec.
constexpr std::size_t kMaxKeywordLength = 79;

const unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

using TextPairs = std::vector<std::pair<std::string, std::string>>;

std::string read_file_bytes(const std::string& path, const char* what) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        throw IoError(std::string("cannot read ") + what + " '" + path +
                      "': " + std::system_category().message(errno));
    }
    std::string bytes;
    char buffer[1 << 16];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
        bytes.append(buffer, n);
    // Reading a folder "opens" fine on Linux and then fails here with EISDIR.
    const bool failed = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (failed) {
        throw IoError(std::string("cannot read ") + what + " '" + path +
                      "': " + std::system_category().message(err));
    }
    return bytes;
}

std::uint32_t be32(const unsigned char* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}

void put_be32(std::string& out, std::uint32_t v) {
    const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    out.append(b, 4);
}

bool has_png_signature(const std::string& bytes) {
    return bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0;
}

// Width and height from the header of PNG, JPEG and BMP files (the formats users actually
// bring), without decoding. Anything else is checked after decoding.
std::optional<std::pair<long, long>> peek_size(const std::string& s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    if (has_png_signature(s) && n >= 24)
        return std::make_pair(long(be32(p + 16)), long(be32(p + 20)));
    if (n >= 26 && p[0] == 'B' && p[1] == 'M') {
        auto le32 = [&](std::size_t i) {
            return std::int32_t(std::uint32_t(p[i]) | std::uint32_t(p[i + 1]) << 8 |
                                std::uint32_t(p[i + 2]) << 16 | std::uint32_t(p[i + 3]) << 24);
        };
        if (le32(14) < 40)
            return std::nullopt;  // old OS/2 header: 16-bit sizes, leave to OpenCV
        const long w = le32(18), h = le32(22);
        return std::make_pair(w < 0 ? -w : w, h < 0 ? -h : h);
    }
    if (n >= 4 && p[0] == 0xff && p[1] == 0xd8) {
        std::size_t i = 2;
        while (i + 9 < n) {
            if (p[i] != 0xff)
                return std::nullopt;
            const unsigned marker = p[i + 1];
            if (marker == 0xff) {  // fill byte
                ++i;
                continue;
            }
            const bool standalone = marker == 0x01 || (marker >= 0xd0 && marker <= 0xd9);
            if (standalone) {
                i += 2;
                continue;
            }
            const bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 &&
                             marker != 0xcc;
            if (sof)
                return std::make_pair(long(p[i + 7] << 8 | p[i + 8]),
                                      long(p[i + 5] << 8 | p[i + 6]));
            i += 2 + (std::size_t(p[i + 2]) << 8 | p[i + 3]);
        }
    }
    return std::nullopt;
}

void check_size(long width, long height, const std::string& path) {
    if (width > kMaxImageSide || height > kMaxImageSide) {
        throw DataError("image '" + path + "' is " + std::to_string(width) + "x" +
                        std::to_string(height) + " px; the largest side accepted is " +
                        std::to_string(kMaxImageSide) + " px: downscale it first");
    }
}

cv::Mat to_8bit(const cv::Mat& m) {
    if (m.depth() == CV_8U)
        return m;
    cv::Mat out;
    if (m.depth() == CV_16U) {
        m.convertTo(out, CV_8U, 1.0 / 257.0);
    } else if (m.depth() == CV_32F || m.depth() == CV_64F) {
        m.convertTo(out, CV_8U, 255.0);  // float formats (EXR, HDR) are nominally in [0, 1]
    } else {
        m.convertTo(out, CV_8U);
    }
    return out;
}

// Decoded BGR(A)/gray mat -> ds::Image with `channels` (0 = keep gray/colour/alpha).
Image mat_to_image(cv::Mat m, int channels) {
    m = to_8bit(m);
    if (m.channels() == 2) {  // gray + alpha from exotic decoders: keep the gray plane
        cv::Mat gray;
        cv::extractChannel(m, gray, 0);
        m = gray;
    }
    const int src = m.channels();
    const int dst = channels == 0 ? src : channels;
    cv::Mat out;
    if (src == 1) {
        if (dst == 1)
            out = m;
        else
            cv::cvtColor(m, out, dst == 3 ? cv::COLOR_GRAY2RGB : cv::COLOR_GRAY2RGBA);
    } else if (src == 3) {
        const int code = dst == 1   ? cv::COLOR_BGR2GRAY
                         : dst == 3 ? cv::COLOR_BGR2RGB
                                    : cv::COLOR_BGR2RGBA;
        cv::cvtColor(m, out, code);
    } else {
        const int code = dst == 1   ? cv::COLOR_BGRA2GRAY
                         : dst == 3 ? cv::COLOR_BGRA2RGB
                                    : cv::COLOR_BGRA2RGBA;
        cv::cvtColor(m, out, code);
    }
    if (!out.isContinuous())
        out = out.clone();
    Image image(out.cols, out.rows, out.channels());
    std::memcpy(image.pixels.data(), out.data, image.pixels.size());
    return image;
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
std::string make_text_chunk(const std::string& key, const std::string& value) {
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

Image read_image(const std::string& path, int channels) {
    if (channels != 0 && channels != 1 && channels != 3 && channels != 4) {
        throw InvalidRequest("read_image: channels must be 0 (keep), 1, 3 or 4, got " +
                             std::to_string(channels));
    }
    const std::string bytes = read_file_bytes(path, "image");
    if (bytes.empty())
        throw DataError("'" + path + "' is empty, not an image");
    if (const auto size = peek_size(bytes))
        check_size(size->first, size->second, path);
    const bool jpeg = bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0xff &&
                      static_cast<unsigned char>(bytes[1]) == 0xd8;
    // UNCHANGED keeps alpha and 16-bit depth but ignores EXIF orientation; JPEG has neither
    // alpha nor 16 bits, so it is decoded with ANYCOLOR, which honours the orientation tag.
    const int flags = jpeg ? cv::IMREAD_ANYCOLOR : cv::IMREAD_UNCHANGED;
    cv::Mat decoded;
    try {
        const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8U,
                          const_cast<char*>(bytes.data()));
        decoded = cv::imdecode(raw, flags);
    } catch (const cv::Exception& e) {
        throw DataError("'" + path + "' could not be decoded as an image: " + e.what());
    }
    if (decoded.empty()) {
        throw DataError("'" + path + "' is not an image OpenCV can read (PNG, JPEG, BMP, WebP, " +
                        "TIFF, PPM ...), or it is corrupt");
    }
    check_size(decoded.cols, decoded.rows, path);
    return mat_to_image(decoded, channels);
}

void write_png(const Image& image, const std::string& path, const TextPairs& text) {
    io::validate_image(image, "write_png");
    std::vector<std::string> chunks;
    for (const auto& [key, value] : text)
        chunks.push_back(make_text_chunk(key, value));

    const cv::Mat rgb(image.height, image.width, CV_8UC(image.channels),
                      const_cast<std::uint8_t*>(image.pixels.data()));
    // A fresh Mat for the swap: converting into a copy of `rgb`'s header would write into the
    // caller's pixels.
    cv::Mat bgr;
    if (image.channels == 1)
        bgr = rgb;
    if (image.channels == 3)
        cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    if (image.channels == 4)
        cv::cvtColor(rgb, bgr, cv::COLOR_RGBA2BGRA);
    std::vector<uchar> encoded;
    if (!cv::imencode(".png", bgr, encoded) || encoded.size() < 33) {
        throw IoError("cannot write '" + path + "': PNG encoding failed");
    }
    // The encoder always starts with the signature and IHDR (8 + 25 bytes); text goes right
    // after it so readers that stop early (at the first IDAT) still see the recipe.
    constexpr std::size_t kAfterIhdr = 8 + 4 + 4 + 13 + 4;
    std::string out(reinterpret_cast<const char*>(encoded.data()), kAfterIhdr);
    for (const auto& chunk : chunks)
        out += chunk;
    out.append(reinterpret_cast<const char*>(encoded.data()) + kAfterIhdr,
               encoded.size() - kAfterIhdr);
    io::write_file_atomic(path, out);
}

TextPairs read_png_text(const std::string& path) {
    const std::string bytes = read_file_bytes(path, "PNG");
    if (!has_png_signature(bytes))
        throw DataError("'" + path + "' is not a PNG file");
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t n = bytes.size();
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

namespace io {

void validate_image(const Image& image, const char* what) {
    const bool ok = image.width > 0 && image.height > 0 &&
                    (image.channels == 1 || image.channels == 3 || image.channels == 4) &&
                    image.pixels.size() == std::size_t(image.width) * image.height * image.channels;
    if (!ok) {
        throw InvalidRequest(std::string(what) + ": invalid image " + std::to_string(image.width) +
                             "x" + std::to_string(image.height) + "x" +
                             std::to_string(image.channels) + " with " +
                             std::to_string(image.pixels.size()) +
                             " bytes (need channels 1/3/4 and width*height*channels bytes)");
    }
}

}  // namespace io
}  // namespace ds
