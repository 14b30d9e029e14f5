// Figure layout on ds::Image: grids of tiles, nearest-neighbour upscaling, caption strips and
// row labels. Text is drawn with OpenCV's Hershey font (ASCII only).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/engine/errors.h"
#include "core/io/image_check.h"
#include "core/engine/image.h"

namespace ds {
namespace {

// Border between grid tiles: mid-gray separates both black (MNIST) and white backgrounds.
constexpr std::uint8_t kGridBorder = 128;
// Refuse layouts above 1 GiB: a typo in `scale` should not exhaust memory.
constexpr std::size_t kMaxLayoutBytes = std::size_t(1) << 30;
// Upscaling limit: 28 px MNIST digits need ~10x; this only keeps size arithmetic in range.
constexpr int kMaxScale = 1024;
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
// Caption font scale (~11 px capitals): readable on figures 256 px and wider.
constexpr double kCaptionScale = 0.5;
// Smaller scales are tried before giving up on wrapping; below 0.3 Hershey text turns to mush.
constexpr double kCaptionScales[] = {0.5, 0.4, 0.3};
// Wrapped captions longer than this are squeezed onto one line instead.
constexpr int kMaxCaptionLines = 3;
// Row-label font scale when rows are tall enough.
constexpr double kLabelScale = 0.45;
// Space around text, in pixels.
constexpr int kTextMargin = 6;


Image blank(long width, long height, int channels, std::uint8_t value, const char* what) {
    // Each side is checked first so that the product cannot overflow.
    const auto w = std::size_t(width), h = std::size_t(height);
    if (w > kMaxLayoutBytes || h > kMaxLayoutBytes || w * h * channels > kMaxLayoutBytes) {
        throw InvalidRequest(std::string(what) + ": result of " + std::to_string(width) + "x" +
                             std::to_string(height) + " px is too large; lower scale or tiles");
    }
    Image out(int(width), int(height), channels);
    std::fill(out.pixels.begin(), out.pixels.end(), value);
    if (channels == 4) {  // fills are opaque
        for (std::size_t i = 3; i < out.pixels.size(); i += 4)
            out.pixels[i] = 255;
    }
    return out;
}

// Copies `src`, each pixel repeated scale x scale, into `dst` with its top-left at (x0, y0).
void blit_scaled(const Image& src, int scale, Image& dst, int x0, int y0) {
    const int c = src.channels;
    const std::size_t row_bytes = std::size_t(src.width) * scale * c;
    for (int sy = 0; sy < src.height; ++sy) {
        std::uint8_t* first = dst.at(x0, y0 + sy * scale);
        const std::uint8_t* s = src.at(0, sy);
        if (scale == 1) {
            std::memcpy(first, s, row_bytes);
        } else {
            std::uint8_t* d = first;
            for (int sx = 0; sx < src.width; ++sx, s += c) {
                for (int k = 0; k < scale; ++k, d += c)
                    std::memcpy(d, s, c);
            }
        }
        for (int k = 1; k < scale; ++k)
            std::memcpy(dst.at(x0, y0 + sy * scale + k), first, row_bytes);
    }
}

cv::Mat as_mat(Image& image) {
    return cv::Mat(image.height, image.width, CV_8UC(image.channels), image.pixels.data());
}

// Hershey fonts have glyphs for printable ASCII only.
std::string printable_ascii(const std::string& s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        out += (c == '\t' || c == '\n' || c == '\r') ? ' ' : (c < 32 || c > 126) ? '?' : ch;
    }
    const auto first = out.find_first_not_of(' ');
    if (first == std::string::npos)
        return {};
    return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

int text_width(const std::string& text, double scale) {
    int baseline = 0;
    return cv::getTextSize(text, kFont, scale, 1, &baseline).width;
}

struct TextBlock {
    std::vector<std::string> lines;
    double scale = kCaptionScale;
};

// Greedy word wrap; empty when a single word is wider than `width`.
std::vector<std::string> wrap(const std::string& text, double scale, int width) {
    std::vector<std::string> lines;
    std::string line, word;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto space = text.find(' ', pos);
        word = text.substr(pos, space == std::string::npos ? std::string::npos : space - pos);
        pos = space == std::string::npos ? text.size() : space + 1;
        if (word.empty())
            continue;
        if (text_width(word, scale) > width)
            return {};
        const std::string joined = line.empty() ? word : line + ' ' + word;
        if (text_width(joined, scale) <= width) {
            line = joined;
        } else {
            lines.push_back(line);
            line = word;
        }
    }
    if (!line.empty())
        lines.push_back(line);
    return lines;
}

// One line at the normal size if it fits, else wrapped at decreasing sizes; failing that
// (narrow image, long caption) about kMaxCaptionLines lines shrunk to the width: small, but
// nothing is cut off.
TextBlock fit_caption(const std::string& text, int width) {
    for (const double scale : kCaptionScales) {
        auto lines = wrap(text, scale, width);
        if (!lines.empty() && int(lines.size()) <= kMaxCaptionLines)
            return {lines, scale};
    }
    const int full = std::max(1, text_width(text, kCaptionScale));
    auto lines = wrap(text, kCaptionScale, full / kMaxCaptionLines + full / 10);
    if (lines.empty())
        lines = {text};  // a single word longer than a third of the text
    int widest = 1;
    for (const auto& line : lines)
        widest = std::max(widest, text_width(line, kCaptionScale));
    return {lines, kCaptionScale * width / widest};
}

}  // namespace

Image scale_nearest(const Image& image, int factor) {
    io::validate_image(image, "scale_nearest");
    if (factor < 1 || factor > kMaxScale) {
        throw InvalidRequest("scale_nearest: factor must be 1.." + std::to_string(kMaxScale) +
                             ", got " + std::to_string(factor));
    }
    Image out = blank(long(image.width) * factor, long(image.height) * factor, image.channels, 0,
                      "scale_nearest");
    blit_scaled(image, factor, out, 0, 0);
    return out;
}

Image make_grid(const std::vector<Image>& tiles, int columns, int padding, int scale) {
    if (tiles.empty())
        throw InvalidRequest("make_grid: no tiles");
    if (padding < 0 || padding > kMaxScale || scale < 1 || scale > kMaxScale) {
        throw InvalidRequest("make_grid: need padding 0.." + std::to_string(kMaxScale) +
                             " and scale 1.." + std::to_string(kMaxScale) + ", got padding " +
                             std::to_string(padding) + ", scale " + std::to_string(scale));
    }
    const Image& first = tiles.front();
    for (std::size_t i = 0; i < tiles.size(); ++i) {
        io::validate_image(tiles[i], "make_grid");
        const Image& t = tiles[i];
        if (t.width != first.width || t.height != first.height || t.channels != first.channels) {
            throw InvalidRequest("make_grid: tile " + std::to_string(i) + " is " +
                                 std::to_string(t.width) + "x" + std::to_string(t.height) + "x" +
                                 std::to_string(t.channels) + " but tile 0 is " +
                                 std::to_string(first.width) + "x" + std::to_string(first.height) +
                                 "x" + std::to_string(first.channels) + "; all tiles must match");
        }
    }
    const long count = long(tiles.size());
    const long cols = columns <= 0 ? count : std::min<long>(columns, count);  // 0 = one row
    const long rows = (count + cols - 1) / cols;
    const long tile_w = long(first.width) * scale, tile_h = long(first.height) * scale;
    Image grid = blank(cols * tile_w + (cols + 1) * padding, rows * tile_h + (rows + 1) * padding,
                       first.channels, kGridBorder, "make_grid");
    for (long i = 0; i < count; ++i) {
        const long x = padding + (i % cols) * (tile_w + padding);
        const long y = padding + (i / cols) * (tile_h + padding);
        blit_scaled(tiles[i], scale, grid, int(x), int(y));
    }
    return grid;
}

Image add_caption(const Image& image, const std::string& caption) {
    io::validate_image(image, "add_caption");
    const std::string text = printable_ascii(caption);
    if (text.empty())
        return image;
    const TextBlock block = fit_caption(text, std::max(1, image.width - 2 * kTextMargin));
    int baseline = 0;
    const cv::Size glyph = cv::getTextSize("Ag", kFont, block.scale, 1, &baseline);
    const int line_h = glyph.height + baseline + std::max(2, glyph.height / 3);
    const int strip_h = int(block.lines.size()) * line_h + kTextMargin;
    Image out =
        blank(image.width, long(image.height) + strip_h, image.channels, 255, "add_caption");
    blit_scaled(image, 1, out, 0, strip_h);
    cv::Mat mat = as_mat(out);
    for (std::size_t i = 0; i < block.lines.size(); ++i) {
        const int w = text_width(block.lines[i], block.scale);
        const int x = std::max(0, (image.width - w) / 2);  // centred
        const int y = kTextMargin / 2 + int(i) * line_h + glyph.height + std::max(1, line_h / 8);
        cv::putText(mat, block.lines[i], {x, y}, kFont, block.scale, cv::Scalar(0, 0, 0, 255), 1,
                    cv::LINE_AA);
    }
    return out;
}

Image add_row_labels(const Image& grid, const std::vector<std::string>& labels) {
    io::validate_image(grid, "add_row_labels");
    if (labels.empty())
        return grid;
    if (int(labels.size()) > grid.height) {
        throw InvalidRequest("add_row_labels: " + std::to_string(labels.size()) +
                             " labels for an image only " + std::to_string(grid.height) +
                             " px tall");
    }
    const double row_h = double(grid.height) / labels.size();
    int baseline = 0;
    const cv::Size unit = cv::getTextSize("Ag", kFont, 1.0, 1, &baseline);
    // Text (with descenders) takes at most 80% of a row.
    const double scale = std::min(kLabelScale, 0.8 * row_h / (unit.height + baseline));
    std::vector<std::string> texts;
    int widest = 0;
    for (const auto& label : labels) {
        texts.push_back(printable_ascii(label));
        widest = std::max(widest, text_width(texts.back(), scale));
    }
    const int margin = widest + 2 * kTextMargin;
    Image out = blank(long(grid.width) + margin, grid.height, grid.channels, 255, "add_row_labels");
    blit_scaled(grid, 1, out, margin, 0);
    cv::Mat mat = as_mat(out);
    const cv::Size glyph = cv::getTextSize("Ag", kFont, scale, 1, &baseline);
    for (std::size_t i = 0; i < texts.size(); ++i) {
        // Right-aligned against the grid, vertically centred on the row.
        const int x = margin - kTextMargin - text_width(texts[i], scale);
        const int y = int((i + 0.5) * row_h + glyph.height / 2.0);
        cv::putText(mat, texts[i], {x, y}, kFont, scale, cv::Scalar(0, 0, 0, 255), 1, cv::LINE_AA);
    }
    return out;
}

}  // namespace ds

namespace ds {

Image stack_vertical(const std::vector<Image>& parts, int gap) {
    if (parts.empty()) throw InvalidRequest("stack_vertical: no images");
    if (gap < 0 || gap > 1000) throw InvalidRequest("stack_vertical: gap must be in 0..1000");
    long width = 0, height = 0;
    int channels = 1;
    for (const auto& p : parts) {
        io::validate_image(p, "stack_vertical");
        width = std::max<long>(width, p.width);
        height += p.height;
        channels = std::max(channels, p.channels == 4 ? 3 : p.channels);
    }
    height += long(gap) * (long(parts.size()) - 1);
    Image out = blank(width, height, channels, 255, "stack_vertical");
    int y = 0;
    for (const auto& p : parts) {
        const int x0 = int((width - p.width) / 2);
        for (int r = 0; r < p.height; ++r)
            for (int c = 0; c < p.width; ++c) {
                const std::uint8_t* s = p.at(c, r);
                std::uint8_t* d = out.at(x0 + c, y + r);
                for (int k = 0; k < channels; ++k) d[k] = s[p.channels == 1 ? 0 : std::min(k, 2)];
            }
        y += p.height + gap;
    }
    return out;
}

}  // namespace ds
