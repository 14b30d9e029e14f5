// Animated GIF89a writer: one global 256-colour palette (exact grays, or median cut over all
// frames), LZW-compressed frames, loops forever. Self-contained: no GIF library needed.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/errors.h"
#include "core/engine/image.h"
#include "core/io/atomic_file.h"

namespace ds {
namespace {

constexpr int kPaletteSize = 256;
// Bits per channel in the median-cut histogram: 32^3 bins is fine enough to be invisible in
// the palette and small enough to cut and map quickly.
constexpr int kHistBits = 5;
constexpr int kHistSize = 1 << (3 * kHistBits);
// LZW parameters fixed by the GIF format for an 8-bit palette.
constexpr int kMinCodeSize = 8;
constexpr int kClearCode = 1 << kMinCodeSize;
constexpr int kEndCode = kClearCode + 1;
constexpr int kMaxCodeBits = 12;
// The table is reset before code 4095 is assigned, the same point giflib uses; every decoder
// agrees on this one.
constexpr int kResetAt = (1 << kMaxCodeBits) - 1;
// Open-addressing table for (prefix code, byte) -> code: twice the 4096 entries keeps probes short.
constexpr int kHashBits = 13;
// GIF sub-blocks carry at most 255 bytes.
constexpr int kMaxSubBlock = 255;

// Packs variable-width codes LSB-first into length-prefixed sub-blocks.
class CodeWriter {
public:
    explicit CodeWriter(std::string& out) : out_(out) {}

    void put(int code, int bits) {
        buffer_ |= std::uint32_t(code) << count_;
        count_ += bits;
        while (count_ >= 8) {
            put_byte(std::uint8_t(buffer_));
            buffer_ >>= 8;
            count_ -= 8;
        }
    }

    void finish() {
        if (count_ > 0)
            put_byte(std::uint8_t(buffer_));
        buffer_ = 0;
        count_ = 0;
        flush_block();
        out_ += '\0';  // block terminator
    }

private:
    void put_byte(std::uint8_t b) {
        block_[block_len_++] = b;
        if (block_len_ == kMaxSubBlock)
            flush_block();
    }

    void flush_block() {
        if (block_len_ == 0)
            return;
        out_ += char(block_len_);
        out_.append(reinterpret_cast<const char*>(block_.data()), block_len_);
        block_len_ = 0;
    }

    std::string& out_;
    std::uint32_t buffer_ = 0;
    int count_ = 0;
    std::array<std::uint8_t, kMaxSubBlock> block_{};
    int block_len_ = 0;
};

// LZW for one frame of palette indices. Code width grows when the next free code no longer
// fits (checked after every emitted code, so encoder and decoder widths always agree).
class LzwEncoder {
public:
    explicit LzwEncoder(std::string& out)
        : writer_(out), keys_(1u << kHashBits), codes_(1u << kHashBits) {}

    void encode(const std::uint8_t* indices, std::size_t count) {
        reset();
        writer_.put(kClearCode, code_bits_);
        int current = indices[0];
        for (std::size_t i = 1; i < count; ++i) {
            const std::int32_t key = (current << 8) | indices[i];
            std::uint32_t slot = hash(key);
            while (keys_[slot] >= 0 && keys_[slot] != key)
                slot = (slot + 1) & kHashMask;
            if (keys_[slot] == key) {
                current = codes_[slot];
                continue;
            }
            emit(current);
            if (next_code_ == kResetAt) {
                writer_.put(kClearCode, code_bits_);
                reset();
            } else {
                keys_[slot] = key;
                codes_[slot] = std::uint16_t(next_code_++);
            }
            current = indices[i];
        }
        emit(current);
        writer_.put(kEndCode, code_bits_);
        writer_.finish();
    }

private:
    static constexpr std::uint32_t kHashMask = (1u << kHashBits) - 1;

    static std::uint32_t hash(std::int32_t key) {
        return (std::uint32_t(key) * 2654435761u) >> (32 - kHashBits);
    }

    void emit(int code) {
        writer_.put(code, code_bits_);
        if (next_code_ >= (1 << code_bits_) && code_bits_ < kMaxCodeBits)
            ++code_bits_;
    }

    void reset() {
        std::fill(keys_.begin(), keys_.end(), -1);
        next_code_ = kEndCode + 1;
        code_bits_ = kMinCodeSize + 1;
    }

    CodeWriter writer_;
    std::vector<std::int32_t> keys_;
    std::vector<std::uint16_t> codes_;
    int next_code_ = kEndCode + 1;
    int code_bits_ = kMinCodeSize + 1;
};

void validate_frames(const std::vector<Image>& frames, int delay_cs, int final_hold_cs) {
    if (frames.empty())
        throw InvalidRequest("write_gif: no frames to write");
    const Image& first = frames.front();
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const Image& f = frames[i];
        const bool valid = f.width > 0 && f.height > 0 && f.width <= 65535 && f.height <= 65535 &&
                           (f.channels == 1 || f.channels == 3 || f.channels == 4) &&
                           f.pixels.size() == std::size_t(f.width) * f.height * f.channels;
        if (!valid) {
            throw InvalidRequest("write_gif: frame " + std::to_string(i) + " is not a valid " +
                                 "1/3/4-channel image of at most 65535 px a side");
        }
        if (f.width != first.width || f.height != first.height) {
            throw InvalidRequest("write_gif: frame " + std::to_string(i) + " is " +
                                 std::to_string(f.width) + "x" + std::to_string(f.height) +
                                 " but frame 0 is " + std::to_string(first.width) + "x" +
                                 std::to_string(first.height) + "; all frames must match");
        }
    }
    for (const int cs : {delay_cs, final_hold_cs}) {
        if (cs < 0 || cs > 65535) {
            throw InvalidRequest("write_gif: delays are in 1/100 s and must be 0..65535, got " +
                                 std::to_string(cs));
        }
    }
}

// Alpha is composited over white: GIF has only 1-bit transparency, and white matches the
// figures these animations sit in.
std::uint8_t over_white(std::uint8_t v, std::uint8_t a) {
    return std::uint8_t((v * a + 255 * (255 - a) + 127) / 255);
}

// Calls fn(r, g, b) for every pixel of `frame`.
template <typename Fn>
void for_each_rgb(const Image& frame, Fn&& fn) {
    const std::uint8_t* p = frame.pixels.data();
    const std::size_t n = std::size_t(frame.width) * frame.height;
    for (std::size_t i = 0; i < n; ++i, p += frame.channels) {
        if (frame.channels == 1)
            fn(p[0], p[0], p[0]);
        else if (frame.channels == 3)
            fn(p[0], p[1], p[2]);
        else
            fn(over_white(p[0], p[3]), over_white(p[1], p[3]), over_white(p[2], p[3]));
    }
}

bool all_gray(const std::vector<Image>& frames) {
    for (const Image& f : frames) {
        if (f.channels == 1)
            continue;
        const std::uint8_t* p = f.pixels.data();
        const std::size_t n = std::size_t(f.width) * f.height;
        for (std::size_t i = 0; i < n; ++i, p += f.channels) {
            if (p[0] != p[1] || p[1] != p[2])
                return false;
        }
    }
    return true;
}

int hist_key(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    constexpr int kDrop = 8 - kHistBits;
    return ((r >> kDrop) << (2 * kHistBits)) | ((g >> kDrop) << kHistBits) | (b >> kDrop);
}

int key_channel(int key, int axis) {
    return (key >> ((2 - axis) * kHistBits)) & ((1 << kHistBits) - 1);
}

struct ColourHistogram {
    std::vector<std::uint32_t> count = std::vector<std::uint32_t>(kHistSize, 0);
    // Sums of the exact 8-bit values per bin, so a bin's colour is its true mean.
    std::vector<std::array<std::uint64_t, 3>> sum =
        std::vector<std::array<std::uint64_t, 3>>(kHistSize);

    std::array<int, 3> mean(int key) const {
        const std::uint64_t n = count[key];
        return {int((sum[key][0] + n / 2) / n), int((sum[key][1] + n / 2) / n),
                int((sum[key][2] + n / 2) / n)};
    }
};

struct Box {
    int begin = 0, end = 0;  // range in the bin list
    std::uint64_t pixels = 0;
    int axis = 0;    // the channel with the widest spread
    int extent = 0;  // that spread, in histogram steps
};

Box make_box(const std::vector<int>& bins, const ColourHistogram& h, int begin, int end) {
    Box box{begin, end, 0, 0, 0};
    int lo[3] = {255, 255, 255}, hi[3] = {0, 0, 0};
    for (int i = begin; i < end; ++i) {
        box.pixels += h.count[bins[i]];
        for (int a = 0; a < 3; ++a) {
            lo[a] = std::min(lo[a], key_channel(bins[i], a));
            hi[a] = std::max(hi[a], key_channel(bins[i], a));
        }
    }
    for (int a = 0; a < 3; ++a) {
        if (hi[a] - lo[a] > box.extent) {
            box.extent = hi[a] - lo[a];
            box.axis = a;
        }
    }
    return box;
}

// Median cut: repeatedly split the box with the most pixels x spread at its pixel median.
std::vector<std::array<int, 3>> median_cut(const ColourHistogram& h) {
    std::vector<int> bins;
    for (int key = 0; key < kHistSize; ++key) {
        if (h.count[key] > 0)
            bins.push_back(key);
    }
    std::vector<Box> boxes{make_box(bins, h, 0, int(bins.size()))};
    while (int(boxes.size()) < kPaletteSize) {
        auto best = boxes.end();
        double best_score = 0;
        for (auto it = boxes.begin(); it != boxes.end(); ++it) {
            const double score = double(it->pixels) * it->extent;
            if (it->end - it->begin >= 2 && score > best_score) {
                best_score = score;
                best = it;
            }
        }
        if (best == boxes.end())
            break;  // every box is a single bin: the palette is exact
        const Box box = *best;
        std::sort(bins.begin() + box.begin, bins.begin() + box.end, [&](int a, int b) {
            return key_channel(a, box.axis) < key_channel(b, box.axis);
        });
        std::uint64_t seen = 0;
        int split = box.begin + 1;
        for (int i = box.begin; i < box.end - 1; ++i) {
            seen += h.count[bins[i]];
            split = i + 1;
            if (2 * seen >= box.pixels)
                break;
        }
        *best = make_box(bins, h, box.begin, split);
        boxes.push_back(make_box(bins, h, split, box.end));
    }
    std::vector<std::array<int, 3>> palette;
    for (const Box& box : boxes) {
        std::array<std::uint64_t, 4> acc{};
        for (int i = box.begin; i < box.end; ++i) {
            for (int a = 0; a < 3; ++a)
                acc[a] += h.sum[bins[i]][a];
            acc[3] += h.count[bins[i]];
        }
        palette.push_back({int(acc[0] / acc[3]), int(acc[1] / acc[3]), int(acc[2] / acc[3])});
    }
    return palette;
}

struct Quantized {
    std::array<std::uint8_t, 3 * kPaletteSize> palette{};
    std::vector<std::vector<std::uint8_t>> indices;  // one per frame
};

Quantized quantize_gray(const std::vector<Image>& frames) {
    Quantized q;
    for (int i = 0; i < kPaletteSize; ++i)
        q.palette[3 * i] = q.palette[3 * i + 1] = q.palette[3 * i + 2] = std::uint8_t(i);
    for (const Image& f : frames) {
        std::vector<std::uint8_t> idx;
        idx.reserve(std::size_t(f.width) * f.height);
        for_each_rgb(f, [&](std::uint8_t r, std::uint8_t, std::uint8_t) { idx.push_back(r); });
        q.indices.push_back(std::move(idx));
    }
    return q;
}

Quantized quantize_colour(const std::vector<Image>& frames) {
    ColourHistogram h;
    for (const Image& f : frames) {
        for_each_rgb(f, [&](std::uint8_t r, std::uint8_t g, std::uint8_t b) {
            const int key = hist_key(r, g, b);
            ++h.count[key];
            h.sum[key][0] += r;
            h.sum[key][1] += g;
            h.sum[key][2] += b;
        });
    }
    const auto colours = median_cut(h);
    Quantized q;
    for (std::size_t i = 0; i < colours.size(); ++i) {
        for (int a = 0; a < 3; ++a)
            q.palette[3 * i + a] = std::uint8_t(colours[i][a]);
    }
    // Each used bin maps to the palette entry nearest its mean colour.
    std::vector<std::uint8_t> lut(kHistSize, 0);
    for (int key = 0; key < kHistSize; ++key) {
        if (h.count[key] == 0)
            continue;
        const auto c = h.mean(key);
        int best = 0, best_d = 1 << 30;
        for (std::size_t i = 0; i < colours.size(); ++i) {
            const int dr = c[0] - colours[i][0], dg = c[1] - colours[i][1],
                      db = c[2] - colours[i][2];
            const int d = dr * dr + dg * dg + db * db;
            if (d < best_d) {
                best_d = d;
                best = int(i);
            }
        }
        lut[key] = std::uint8_t(best);
    }
    for (const Image& f : frames) {
        std::vector<std::uint8_t> idx;
        idx.reserve(std::size_t(f.width) * f.height);
        for_each_rgb(f, [&](std::uint8_t r, std::uint8_t g, std::uint8_t b) {
            idx.push_back(lut[hist_key(r, g, b)]);
        });
        q.indices.push_back(std::move(idx));
    }
    return q;
}

void put_le16(std::string& out, int v) {
    out += char(v & 0xff);
    out += char((v >> 8) & 0xff);
}

}  // namespace

void write_gif(const std::vector<Image>& frames,
               const std::string& path,
               int delay_cs,
               int final_hold_cs) {
    validate_frames(frames, delay_cs, final_hold_cs);
    const int width = frames.front().width, height = frames.front().height;
    const Quantized q = all_gray(frames) ? quantize_gray(frames) : quantize_colour(frames);

    std::string out;
    out.reserve(1024 + frames.size() * std::size_t(width) * height / 2);
    out += "GIF89a";
    put_le16(out, width);
    put_le16(out, height);
    // Global colour table present, 8-bit colour resolution, 2^(7+1) = 256 entries.
    out += char(0xf7);
    out += '\0';  // background colour index
    out += '\0';  // square pixels
    out.append(reinterpret_cast<const char*>(q.palette.data()), q.palette.size());
    // NETSCAPE2.0 application extension: sub-block 1 = loop count, 0 = forever.
    out +=
        "\x21\xff\x0b"
        "NETSCAPE2.0"
        "\x03\x01";
    put_le16(out, 0);
    out += '\0';

    LzwEncoder lzw(out);
    for (std::size_t i = 0; i < frames.size(); ++i) {
        // Graphic control extension: disposal 1 (leave in place), no transparency.
        out += "\x21\xf9\x04\x04";
        put_le16(out, i + 1 == frames.size() ? final_hold_cs : delay_cs);
        out += '\0';  // transparent colour index (unused)
        out += '\0';  // block terminator
        // Image descriptor: full-frame, no local palette, not interlaced.
        out += '\x2c';
        put_le16(out, 0);
        put_le16(out, 0);
        put_le16(out, width);
        put_le16(out, height);
        out += '\0';
        out += char(kMinCodeSize);
        lzw.encode(q.indices[i].data(), q.indices[i].size());
    }
    out += '\x3b';  // trailer
    io::write_file_atomic(path, out);
}

}  // namespace ds
