// torch first: glog (via torch) defines CHECK; Catch's definition must be the last one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <opencv2/videoio.hpp>

#include "core/engine/errors.h"
#include "core/engine/image.h"

namespace fs = std::filesystem;

namespace {
std::vector<ds::Image> ramp_frames(int n, int w, int h, int channels) {
    std::vector<ds::Image> frames;
    for (int i = 0; i < n; ++i) {
        ds::Image im(w, h, channels);
        for (size_t k = 0; k < im.pixels.size(); ++k) im.pixels[k] = std::uint8_t((k * 7 + i * 20) % 256);
        frames.push_back(im);
    }
    return frames;
}

std::string head_of(const fs::path& p, size_t n) {
    std::ifstream in(p, std::ios::binary);
    std::string s(n, '\0');
    in.read(s.data(), std::streamsize(n));
    s.resize(size_t(in.gcount()));
    return s;
}

fs::path fresh(const std::string& name) {
    auto d = fs::temp_directory_path() / ("ds_test_video_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

size_t count_files(const fs::path& d) {
    size_t n = 0;
    for (auto& e : fs::directory_iterator(d)) n += e.is_regular_file();
    return n;
}
}  // namespace

TEST_CASE("trajectory videos: AVI (MJPG) always, MP4 with FFmpeg, odd sizes padded", "[io][video]") {
    auto d = fresh("ok");
    const auto avi = d / "t.avi";
    ds::write_video(ramp_frames(5, 29, 31, 1), avi.string(), 10, 0.5);  // odd size, gray
    REQUIRE(fs::exists(avi));
    const auto h = head_of(avi, 12);
    CHECK(h.substr(0, 4) == "RIFF");
    CHECK(h.substr(8, 4) == "AVI ");
    {  // decodes: 5 frames + 0.5 s hold at 10 fps, padded to 30x32
        cv::VideoCapture cap(avi.string());
        REQUIRE(cap.isOpened());
        int n = 0;
        cv::Mat f;
        while (cap.read(f)) {
            ++n;
            CHECK(f.cols == 30);
            CHECK(f.rows == 32);
        }
        CHECK(n == 5 + 5);
    }
    if (ds::video_export_available()) {
        const auto mp4 = d / "t.mp4";
        ds::write_video(ramp_frames(4, 64, 48, 3), mp4.string(), 12, 0);
        CHECK(head_of(mp4, 8).substr(4, 4) == "ftyp");
        cv::VideoCapture cap(mp4.string());
        REQUIRE(cap.isOpened());
        int n = 0;
        cv::Mat f;
        while (cap.read(f)) n += f.cols == 64 && f.rows == 48;
        CHECK(n == 4);
    }
    // write_animation picks the format by name: a GIF, or a video for .avi / .mp4.
    ds::write_animation(ramp_frames(3, 8, 8, 1), (d / "a.gif").string());
    ds::write_animation(ramp_frames(3, 8, 8, 1), (d / "a.AVI").string(), 10, 0);
    CHECK(head_of(d / "a.gif", 6) == "GIF89a");
    CHECK(head_of(d / "a.AVI", 4) == "RIFF");
    // Only the finished files are left: no temp files.
    CHECK(count_files(d) == (ds::video_export_available() ? 4u : 3u));
}

TEST_CASE("trajectory video errors are clear and leave nothing behind", "[io][video]") {
    auto d = fresh("bad");
    CHECK_THROWS_WITH(ds::write_video({}, (d / "a.avi").string()), Catch::Contains("no frames"));
    auto mixed = ramp_frames(2, 16, 16, 3);
    mixed.push_back(ramp_frames(1, 18, 16, 3)[0]);
    CHECK_THROWS_WITH(ds::write_video(mixed, (d / "a.avi").string()), Catch::Contains("frame 2 is 18x16"));
    CHECK_THROWS_WITH(ds::write_video(ramp_frames(2, 8, 8, 1), (d / "a.webm").string()),
                      Catch::Contains("use a .mp4 or .avi"));
    CHECK_THROWS_AS(ds::write_video(ramp_frames(2, 8, 8, 1), (d / "a.avi").string(), 0), ds::InvalidRequest);
    CHECK_THROWS_WITH(ds::write_video(ramp_frames(2, 8, 8, 1), (d / "missing" / "a.avi").string()),
                      Catch::Contains("does not exist"));
    CHECK(count_files(d) == 0);
}
