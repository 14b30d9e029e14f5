#pragma once
// The only pixel type that crosses the engine facade: 8-bit, interleaved, row-major.
#include <cstdint>
#include <string>
#include <vector>

namespace ds {

struct Image {
    int width = 0;
    int height = 0;
    int channels = 0;                 // 1 = gray, 3 = RGB, 4 = RGBA
    std::vector<std::uint8_t> pixels;  // width * height * channels bytes

    Image() = default;
    Image(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c, 0) {}

    bool empty() const { return pixels.empty(); }
    std::uint8_t* at(int x, int y) { return pixels.data() + (size_t(y) * width + x) * channels; }
    const std::uint8_t* at(int x, int y) const {
        return pixels.data() + (size_t(y) * width + x) * channels;
    }
};

// Files. PNG text chunks carry recipes (key -> value); read_image converts to `channels` (0 = keep).
Image read_image(const std::string& path, int channels = 0);
void write_png(const Image& image, const std::string& path,
               const std::vector<std::pair<std::string, std::string>>& text = {});
std::vector<std::pair<std::string, std::string>> read_png_text(const std::string& path);
// Writes `text` to `path` through a temp file, fsync and rename (IoError when it cannot; a stale
// temp file is never left behind).
void write_text_file(const std::string& path, const std::string& text);
// Animated GIF (global 256-colour palette per frame); delay in 1/100 s; loops forever.
void write_gif(const std::vector<Image>& frames, const std::string& path, int delay_cs = 8,
               int final_hold_cs = 150);
// Video of the frames (all one size; odd sizes are padded by one pixel): .mp4 (MPEG-4 via
// OpenCV's FFmpeg writer) or .avi (Motion-JPEG); the last frame is held final_hold_s seconds.
// Written atomically; throws InvalidRequest (bad frames/name) or IoError (no writer, folder).
void write_video(const std::vector<Image>& frames, const std::string& path, double fps = 12,
                 double final_hold_s = 1.5);
bool video_export_available();  // false when OpenCV lacks the FFmpeg writer (.avi still works)
// A trajectory animation by file name: .mp4 / .m4v / .avi write a video, anything else a GIF.
// delay and hold in 1/100 s (the GIF units; a video runs at 100 / delay_cs fps).
void write_animation(const std::vector<Image>& frames, const std::string& path, int delay_cs = 8,
                     int final_hold_cs = 150);

// Layout helpers for figures.
Image make_grid(const std::vector<Image>& tiles, int columns, int padding = 2, int scale = 1);
Image scale_nearest(const Image& image, int factor);
// Stacks images top to bottom, centred, on white, `gap` pixels apart (gray is widened to RGB
// when any part is colour).
Image stack_vertical(const std::vector<Image>& parts, int gap = 6);
// Adds a caption strip above the image (OpenCV Hershey font; ASCII only).
Image add_caption(const Image& image, const std::string& caption);
// Row labels to the left of a grid with `rows` equal-height rows.
Image add_row_labels(const Image& grid, const std::vector<std::string>& labels);

}  // namespace ds
