// Animated GIF89a writer: one global 256-colour palette (exact grays, or median cut over all
// frames) chosen here; giflib writes the file (LZW, blocks, extensions); loops forever.
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gif_lib.h>

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

// giflib writes into this string through its output callback.
int append_to_string(GifFileType* gif, const GifByteType* bytes, int n) {
    static_cast<std::string*>(gif->UserData)->append(reinterpret_cast<const char*>(bytes), std::size_t(n));
    return n;
}

// Closes the encoder on every path; reports the first giflib error.
class GifEncoder {
public:
    explicit GifEncoder(std::string& out) {
        int error = 0;
        gif_ = EGifOpen(&out, append_to_string, &error);
        if (!gif_) fail("open", error);
        EGifSetGifVersion(gif_, true);  // GIF89a: delays and the loop extension
    }
    ~GifEncoder() {
        if (gif_) EGifCloseFile(gif_, nullptr);
    }
    GifEncoder(const GifEncoder&) = delete;
    GifEncoder& operator=(const GifEncoder&) = delete;

    GifFileType* get() { return gif_; }
    void check(int status, const char* what) {
        if (status != GIF_OK) fail(what, gif_->Error);
    }
    void close() {
        int error = 0;
        GifFileType* g = gif_;
        gif_ = nullptr;
        if (EGifCloseFile(g, &error) != GIF_OK) fail("close", error);
    }

private:
    [[noreturn]] static void fail(const char* what, int error) {
        const char* msg = GifErrorString(error);
        throw IoError(std::string("GIF encoding failed (giflib ") + what + ": " + (msg ? msg : "unknown error") + ")");
    }
    GifFileType* gif_ = nullptr;
};

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
    {
        GifEncoder enc(out);
        std::array<GifColorType, kPaletteSize> colours{};
        for (int i = 0; i < kPaletteSize; ++i)
            colours[i] = {q.palette[3 * i], q.palette[3 * i + 1], q.palette[3 * i + 2]};
        std::unique_ptr<ColorMapObject, decltype(&GifFreeMapObject)> map(
            GifMakeMapObject(kPaletteSize, colours.data()), &GifFreeMapObject);
        if (!map) throw IoError("GIF encoding failed (giflib could not make the palette)");
        // One global 256-colour palette, 8-bit colour resolution, background index 0.
        enc.check(EGifPutScreenDesc(enc.get(), width, height, 8, 0, map.get()), "screen");
        // NETSCAPE2.0 application extension: sub-block 1 = loop count, 0 = forever.
        const GifByteType loop[3] = {1, 0, 0};
        enc.check(EGifPutExtensionLeader(enc.get(), APPLICATION_EXT_FUNC_CODE), "loop");
        enc.check(EGifPutExtensionBlock(enc.get(), 11, "NETSCAPE2.0"), "loop");
        enc.check(EGifPutExtensionBlock(enc.get(), 3, loop), "loop");
        enc.check(EGifPutExtensionTrailer(enc.get()), "loop");
        for (std::size_t i = 0; i < frames.size(); ++i) {
            // Graphic control: disposal 1 (leave in place), no transparency, delay in 1/100 s.
            GraphicsControlBlock gcb{};
            gcb.DisposalMode = DISPOSE_DO_NOT;
            gcb.UserInputFlag = false;
            gcb.DelayTime = i + 1 == frames.size() ? final_hold_cs : delay_cs;
            gcb.TransparentColor = NO_TRANSPARENT_COLOR;
            GifByteType ext[4];
            const int len = EGifGCBToExtension(&gcb, ext);
            enc.check(EGifPutExtension(enc.get(), GRAPHICS_EXT_FUNC_CODE, len, ext), "frame delay");
            // Full frame, global palette, not interlaced; LZW is giflib's.
            enc.check(EGifPutImageDesc(enc.get(), 0, 0, width, height, false, nullptr), "frame");
            auto* row = const_cast<GifPixelType*>(q.indices[i].data());
            for (int y = 0; y < height; ++y)
                enc.check(EGifPutLine(enc.get(), row + std::size_t(y) * width, width), "frame pixels");
        }
        enc.close();  // writes the trailer
    }
    io::write_file_atomic(path, out);
}

}  // namespace ds
