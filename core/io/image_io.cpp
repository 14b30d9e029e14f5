// Image files: decoding through OpenCV; PNG writing with text chunks (recipes) and reading those
// chunks through libpng (core/io/png_text).
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
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
#include "core/io/png_text.h"

namespace ds {
namespace {

// Largest width or height read_image accepts; bigger files are rejected before decoding where
// the header can be sniffed, so a hostile file cannot make us allocate gigabytes.
constexpr long kMaxImageSide = 16384;
// Largest decoded size (width x height x channels x bytes per channel) read_image accepts, checked
// from the header of PNG, JPEG and BMP files before decoding: a 48-megapixel RGB photo (144 MB)
// fits; a 2 MB PNG that inflates to 16384 x 16384 RGBA16 (2 GiB) does not.
constexpr std::uint64_t kMaxDecodedBytes = 192ull << 20;
// Other formats (WebP, TIFF, PPM, ...) cannot be sniffed here: OpenCV refuses more pixels than
// this before decoding them (its OPENCV_IO_MAX_IMAGE_PIXELS, default 2^30).
constexpr std::uint64_t kMaxUnsniffedPixels = 16ull << 20;

const unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

using TextPairs = std::vector<std::pair<std::string, std::string>>;

// Image files larger than this are refused before reading (no photo a user brings comes close).
constexpr long long kMaxImageFileBytes = 256ll << 20;

std::string read_file_bytes(const std::string& path, const char* what) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        throw IoError(std::string("cannot read ") + what + " '" + path +
                      "': " + std::system_category().message(errno));
    }
    struct stat st {};
    if (::fstat(::fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        const long long size = st.st_size;
        if (size > kMaxImageFileBytes) {
            std::fclose(f);
            throw DataError(std::string(what) + " '" + path + "' is " + std::to_string(size >> 20) +
                            " MiB; files over " + std::to_string(kMaxImageFileBytes >> 20) + " MiB are refused");
        }
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


bool has_png_signature(const std::string& bytes) {
    return bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0;
}

struct PeekedSize {
    long width = 0, height = 0;
    int bytes_per_pixel = 4;  // of the decoded image, all channels
};

// Width, height and decoded pixel size from the header of PNG, JPEG and BMP files (the formats
// users actually bring), without decoding. Anything else is checked after decoding.
std::optional<PeekedSize> peek_size(const std::string& s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    if (has_png_signature(s) && n >= 26) {
        // IHDR: bit depth, colour type (0 gray, 2 RGB, 3 palette -> RGB(A), 4 gray+alpha, 6 RGBA).
        const int depth_bytes = p[24] == 16 ? 2 : 1;
        const int channels = p[25] == 0 ? 1 : p[25] == 2 ? 3 : p[25] == 4 ? 2 : 4;
        return PeekedSize{long(be32(p + 16)), long(be32(p + 20)), channels * depth_bytes};
    }
    if (n >= 26 && p[0] == 'B' && p[1] == 'M') {
        auto le32 = [&](std::size_t i) {
            return std::int32_t(std::uint32_t(p[i]) | std::uint32_t(p[i + 1]) << 8 |
                                std::uint32_t(p[i + 2]) << 16 | std::uint32_t(p[i + 3]) << 24);
        };
        if (le32(14) < 40)
            return std::nullopt;  // old OS/2 header: 16-bit sizes, leave to OpenCV
        const long w = le32(18), h = le32(22);
        const int bpp = (p[28] | p[29] << 8) == 32 ? 4 : 3;
        return PeekedSize{w < 0 ? -w : w, h < 0 ? -h : h, bpp};
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
            if (sof)  // precision, height, width, components
                return PeekedSize{long(p[i + 7] << 8 | p[i + 8]), long(p[i + 5] << 8 | p[i + 6]),
                                  std::max(1, int(p[i + 9])) * (p[i + 4] > 8 ? 2 : 1)};
            i += 2 + (std::size_t(p[i + 2]) << 8 | p[i + 3]);
        }
    }
    return std::nullopt;
}

void check_size(long width, long height, int bytes_per_pixel, const std::string& path) {
    if (width > kMaxImageSide || height > kMaxImageSide) {
        throw DataError("image '" + path + "' is " + std::to_string(width) + "x" +
                        std::to_string(height) + " px; the largest side accepted is " +
                        std::to_string(kMaxImageSide) + " px: downscale it first");
    }
    const std::uint64_t bytes = std::uint64_t(width) * std::uint64_t(height) * std::uint64_t(bytes_per_pixel);
    if (bytes > kMaxDecodedBytes) {
        throw DataError("image '" + path + "' is " + std::to_string(width) + "x" + std::to_string(height) +
                        " px, " + std::to_string(bytes >> 20) + " MiB decoded; the limit is " +
                        std::to_string(kMaxDecodedBytes >> 20) + " MiB: downscale it first");
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


}  // namespace

Image read_image(const std::string& path, int channels) {
    if (channels != 0 && channels != 1 && channels != 3 && channels != 4) {
        throw InvalidRequest("read_image: channels must be 0 (keep), 1, 3 or 4, got " +
                             std::to_string(channels));
    }
    const std::string bytes = read_file_bytes(path, "image");
    if (bytes.empty())
        throw DataError("'" + path + "' is empty, not an image");
    const auto peeked = peek_size(bytes);
    if (peeked)
        check_size(peeked->width, peeked->height, peeked->bytes_per_pixel, path);
    static const bool pixel_limit_set = [] {  // read by OpenCV once, at its first decode
        ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(kMaxUnsniffedPixels).c_str(), 0);
        return true;
    }();
    (void)pixel_limit_set;
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
    check_size(decoded.cols, decoded.rows, int(decoded.elemSize()), path);
    return mat_to_image(decoded, channels);
}

void write_png(const Image& image, const std::string& path, const TextPairs& text) {
    io::validate_image(image, "write_png");
    io::write_file_atomic(path, io::encode_png(image.width, image.height, image.channels, image.pixels.data(), text));
}

TextPairs read_png_text(const std::string& path) {
    const std::string bytes = read_file_bytes(path, "PNG");
    return io::parse_png_text(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), path);
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
