// Video export through OpenCV's videoio (FFmpeg backend on Debian): MPEG-4 part 2 in .mp4, or
// Motion-JPEG in .avi. Written to a temp file in the target folder and renamed when complete, so
// a failed or interrupted export never leaves a half-written video at `path`.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>

#include "core/engine/errors.h"
#include "core/engine/image.h"

namespace ds {
namespace {

namespace fs = std::filesystem;

std::string lower_extension(const std::string& path) {
    std::string e = fs::path(path).extension().string();
    for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return e;
}

// BGR, padded to even width and height (MPEG-4 chroma subsampling needs them even).
cv::Mat to_bgr_even(const Image& im) {
    const int type = im.channels == 1 ? CV_8UC1 : im.channels == 3 ? CV_8UC3 : CV_8UC4;
    cv::Mat src(im.height, im.width, type, const_cast<std::uint8_t*>(im.pixels.data()));
    cv::Mat bgr;
    if (im.channels == 1) cv::cvtColor(src, bgr, cv::COLOR_GRAY2BGR);
    else if (im.channels == 3) cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
    else cv::cvtColor(src, bgr, cv::COLOR_RGBA2BGR);
    if (bgr.cols % 2 || bgr.rows % 2)
        cv::copyMakeBorder(bgr, bgr, 0, bgr.rows % 2, 0, bgr.cols % 2, cv::BORDER_REPLICATE);
    return bgr;
}

}  // namespace

bool video_export_available() {
    // The FFmpeg backend is what writes .mp4; without it OpenCV can only write .avi (MJPG).
    for (auto api : cv::videoio_registry::getWriterBackends())
        if (api == cv::CAP_FFMPEG) return true;
    return false;
}

void write_video(const std::vector<Image>& frames, const std::string& path, double fps,
                 double final_hold_s) {
    if (frames.empty()) throw InvalidRequest("write_video: no frames to write");
    if (!(fps > 0 && fps <= 240)) throw InvalidRequest("write_video: fps must be in (0, 240]");
    if (!(final_hold_s >= 0 && final_hold_s <= 60))
        throw InvalidRequest("write_video: the final hold must be 0..60 s");
    const auto& f0 = frames.front();
    for (size_t i = 0; i < frames.size(); ++i) {
        const auto& f = frames[i];
        if (f.width <= 0 || f.height <= 0 || (f.channels != 1 && f.channels != 3 && f.channels != 4) ||
            f.pixels.size() != size_t(f.width) * f.height * f.channels)
            throw InvalidRequest("write_video: frame " + std::to_string(i) + " is not a valid image");
        if (f.width != f0.width || f.height != f0.height)
            throw InvalidRequest("write_video: frame " + std::to_string(i) + " is " +
                                 std::to_string(f.width) + "x" + std::to_string(f.height) +
                                 ", the first frame is " + std::to_string(f0.width) + "x" +
                                 std::to_string(f0.height) + "; all frames must have one size");
    }
    const std::string ext = lower_extension(path);
    int fourcc = 0;
    if (ext == ".mp4" || ext == ".m4v") fourcc = cv::VideoWriter::fourcc('m', 'p', '4', 'v');
    else if (ext == ".avi") fourcc = cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
    else throw InvalidRequest("write_video: '" + path + "': use a .mp4 or .avi file name");
    if ((ext == ".mp4" || ext == ".m4v") && !video_export_available())
        throw IoError("cannot write '" + path + "': this OpenCV has no FFmpeg video writer; "
                      "export a GIF or an .avi instead");

    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw IoError("cannot write '" + path + "': folder '" + dir.string() + "' does not exist");
    // Same folder (rename stays atomic), same extension (OpenCV picks the container by it).
    const fs::path temp = dir / ("." + target.stem().string() + ".partial" + ext);
    const cv::Mat first = to_bgr_even(f0);
    {
        cv::VideoWriter writer;
        if (!writer.open(temp.string(), cv::CAP_FFMPEG, fourcc, fps, first.size(), true) &&
            !writer.open(temp.string(), fourcc, fps, first.size(), true)) {
            fs::remove(temp, ec);
            throw IoError("cannot write '" + path + "': the video writer could not open it "
                          "(folder not writable, or no encoder for " + ext + ")");
        }
        for (const auto& f : frames) writer.write(to_bgr_even(f));
        const int hold = static_cast<int>(final_hold_s * fps + 0.5);
        const cv::Mat last = to_bgr_even(frames.back());
        for (int i = 0; i < hold; ++i) writer.write(last);
        writer.release();
    }
    if (!fs::exists(temp, ec) || fs::file_size(temp, ec) == 0) {
        fs::remove(temp, ec);
        throw IoError("cannot write '" + path + "': the video writer produced no data");
    }
    fs::rename(temp, target, ec);
    if (ec) {
        fs::remove(temp, ec);
        throw IoError("cannot write '" + path + "': " + ec.message());
    }
}

void write_animation(const std::vector<Image>& frames, const std::string& path, int delay_cs,
                     int final_hold_cs) {
    const std::string ext = lower_extension(path);
    if (ext == ".mp4" || ext == ".m4v" || ext == ".avi")
        write_video(frames, path, 100.0 / std::max(1, delay_cs), final_hold_cs / 100.0);
    else
        write_gif(frames, path, delay_cs, final_hold_cs);
}

}  // namespace ds
