// The GIF writer, checked with an independent minimal GIF parser and LZW decoder (OpenCV 4.6
// cannot read GIFs).
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/engine/errors.h"
#include "core/engine/image.h"

namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::random_device rd;
        path = fs::temp_directory_path() /
               ("ds_test_gif_" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Gif {
    int width = 0, height = 0;
    std::vector<std::array<std::uint8_t, 3>> palette;
    bool loops_forever = false;
    std::vector<int> delays;
    std::vector<std::vector<std::uint8_t>> frames;  // palette indices
};

// Written from the GIF89a spec, separately from the encoder, to catch shared mistakes.
std::vector<std::uint8_t> lzw_decode(const std::string& data, int min_size, std::size_t expected) {
    const int clear = 1 << min_size, end = clear + 1;
    std::vector<std::vector<std::uint8_t>> table;
    auto reset = [&] {
        table.clear();
        for (int i = 0; i < clear; ++i)
            table.push_back({std::uint8_t(i)});
        table.push_back({});  // clear
        table.push_back({});  // end
    };
    reset();
    int size = min_size + 1, prev = -1;
    std::size_t bit = 0;
    std::vector<std::uint8_t> out;
    while (true) {
        REQUIRE(bit + size <= data.size() * 8);
        int code = 0;
        for (int k = 0; k < size; ++k, ++bit) {
            code |= ((static_cast<std::uint8_t>(data[bit / 8]) >> (bit % 8)) & 1) << k;
        }
        if (code == clear) {
            reset();
            size = min_size + 1;
            prev = -1;
            continue;
        }
        if (code == end)
            break;
        std::vector<std::uint8_t> entry;
        if (code < int(table.size())) {
            entry = table[code];
        } else {
            REQUIRE(code == int(table.size()));
            REQUIRE(prev >= 0);
            entry = table[prev];
            entry.push_back(table[prev][0]);
        }
        out.insert(out.end(), entry.begin(), entry.end());
        if (prev >= 0 && table.size() < 4096) {
            auto added = table[prev];
            added.push_back(entry[0]);
            table.push_back(added);
        }
        prev = code;
        if (int(table.size()) >= (1 << size) && size < 12)
            ++size;
    }
    CHECK(out.size() == expected);
    return out;
}

Gif parse_gif(const std::string& s) {
    std::size_t pos = 0;
    auto u8 = [&]() -> int {
        REQUIRE(pos < s.size());
        return static_cast<std::uint8_t>(s[pos++]);
    };
    auto le16 = [&] {
        const int lo = u8();
        return lo | (u8() << 8);
    };
    auto sub_blocks = [&] {
        std::string data;
        for (int n = u8(); n != 0; n = u8()) {
            REQUIRE(pos + n <= s.size());
            data += s.substr(pos, n);
            pos += n;
        }
        return data;
    };
    REQUIRE(s.substr(0, 6) == "GIF89a");
    pos = 6;
    Gif gif;
    gif.width = le16();
    gif.height = le16();
    const int packed = u8();
    u8();  // background
    u8();  // aspect
    REQUIRE((packed & 0x80) != 0);
    for (int i = 0; i < (2 << (packed & 7)); ++i) {
        const std::uint8_t r = u8(), g = u8(), b = u8();
        gif.palette.push_back({r, g, b});
    }
    while (true) {
        const int block = u8();
        if (block == 0x3b)
            break;
        if (block == 0x21) {
            const int label = u8();
            if (label == 0xf9) {
                REQUIRE(u8() == 4);
                u8();
                gif.delays.push_back(le16());
                u8();
                REQUIRE(u8() == 0);
            } else if (label == 0xff) {
                REQUIRE(u8() == 11);
                const std::string app = s.substr(pos, 11);
                pos += 11;
                const std::string data = sub_blocks();
                if (app == "NETSCAPE2.0" && data.size() == 3 && data[0] == 1) {
                    gif.loops_forever = data[1] == 0 && data[2] == 0;
                }
            } else {
                sub_blocks();
            }
        } else {
            REQUIRE(block == 0x2c);
            CHECK(le16() == 0);
            CHECK(le16() == 0);
            const int w = le16(), h = le16();
            CHECK(w == gif.width);
            CHECK(h == gif.height);
            REQUIRE((u8() & 0x80) == 0);  // no local palette
            const int min_size = u8();
            gif.frames.push_back(lzw_decode(sub_blocks(), min_size, std::size_t(w) * h));
        }
    }
    CHECK(pos == s.size());
    return gif;
}

ds::Image random_gray(int w, int h, unsigned seed) {
    ds::Image img(w, h, 1);
    std::mt19937 rng(seed);
    for (auto& p : img.pixels)
        p = std::uint8_t(rng());
    return img;
}

ds::Image gradient_rgb(int w, int h, int phase) {
    ds::Image img(w, h, 3);
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            auto* p = img.at(x, y);
            p[0] = std::uint8_t(255 * x / (w - 1));
            p[1] = std::uint8_t(255 * y / (h - 1));
            p[2] = std::uint8_t((x + y + phase) % 256);
        }
    }
    return img;
}

}  // namespace

TEST_CASE("gray GIF frames decode back to the exact pixels", "[io]") {
    TempDir dir;
    std::vector<ds::Image> frames = {random_gray(41, 29, 1), random_gray(41, 29, 2)};
    ds::Image smooth(41, 29, 1);  // long runs: exercises wide codes rather than resets
    for (int i = 0; i < 41 * 29; ++i)
        smooth.pixels[i] = std::uint8_t(i / 200);
    frames.push_back(smooth);
    ds::Image as_rgb(41, 29, 3);  // r == g == b still counts as gray
    for (int i = 0; i < 41 * 29; ++i) {
        as_rgb.pixels[3 * i] = as_rgb.pixels[3 * i + 1] = as_rgb.pixels[3 * i + 2] =
            std::uint8_t(i % 251);
    }
    frames.push_back(as_rgb);
    const std::string path = dir.file("gray.gif");
    ds::write_gif(frames, path, 5, 120);

    const Gif gif = parse_gif(slurp(path));
    CHECK(gif.width == 41);
    CHECK(gif.height == 29);
    CHECK(gif.loops_forever);
    CHECK(gif.delays == std::vector<int>{5, 5, 5, 120});
    REQUIRE(gif.palette.size() == 256);
    for (int i = 0; i < 256; ++i)
        CHECK(gif.palette[i] ==
              std::array<std::uint8_t, 3>{std::uint8_t(i), std::uint8_t(i), std::uint8_t(i)});
    REQUIRE(gif.frames.size() == 4);
    for (int f = 0; f < 3; ++f)
        CHECK(gif.frames[f] == frames[f].pixels);
    std::vector<std::uint8_t> expected;
    for (int i = 0; i < 41 * 29; ++i)
        expected.push_back(std::uint8_t(i % 251));
    CHECK(gif.frames[3] == expected);
}

TEST_CASE("GIF header, loop and delay bytes are where players look for them", "[io]") {
    TempDir dir;
    const std::string path = dir.file("bytes.gif");
    ds::write_gif({random_gray(3, 2, 1), random_gray(3, 2, 2)}, path, 8, 150);
    const std::string b = slurp(path);
    CHECK(b.substr(0, 6) == "GIF89a");
    CHECK(b.substr(6, 4) == std::string("\x03\x00\x02\x00", 4));
    CHECK(static_cast<std::uint8_t>(b[10]) == 0xf7);  // global table, 256 entries
    const std::string loop = std::string("\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00", 19);
    CHECK(b.substr(13 + 768, 19) == loop);
    // Graphic control: disposal 1, no transparency flag, delay (the transparent index after it
    // is unused), block terminator.
    for (const char* delay : {"\x08\x00", "\x96\x00"}) {
        const auto at = b.find(std::string("\x21\xf9\x04\x04", 4) + std::string(delay, 2));
        REQUIRE(at != std::string::npos);
        CHECK(b[at + 7] == '\0');
    }
    CHECK(b.back() == '\x3b');
}

TEST_CASE("large noisy frames survive LZW table resets", "[io]") {
    TempDir dir;
    const std::vector<ds::Image> frames = {random_gray(256, 256, 7), random_gray(256, 256, 8)};
    ds::write_gif(frames, dir.file("noise.gif"));
    const Gif gif = parse_gif(slurp(dir.file("noise.gif")));
    REQUIRE(gif.frames.size() == 2);
    CHECK(gif.frames[0] == frames[0].pixels);
    CHECK(gif.frames[1] == frames[1].pixels);
}

TEST_CASE("colour GIFs use a shared palette that keeps few colours exact", "[io]") {
    TempDir dir;
    // Six flat colours: fewer than 256, so the palette must reproduce them exactly.
    const std::array<std::array<std::uint8_t, 3>, 6> colours = {
        {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {250, 250, 20}, {10, 10, 10}, {200, 100, 50}}};
    ds::Image flat(30, 20, 3);
    for (int i = 0; i < 600; ++i) {
        for (int a = 0; a < 3; ++a)
            flat.pixels[3 * i + a] = colours[(i / 7) % 6][a];
    }
    ds::Image rgba(30, 20, 4);  // fully transparent: composited over white
    ds::write_gif({flat, gradient_rgb(30, 20, 0), rgba}, dir.file("c.gif"));
    const Gif gif = parse_gif(slurp(dir.file("c.gif")));
    REQUIRE(gif.frames.size() == 3);
    for (int i = 0; i < 600; ++i) {
        CHECK(gif.palette[gif.frames[0][i]] == colours[(i / 7) % 6]);
    }
    double error = 0;
    const ds::Image grad = gradient_rgb(30, 20, 0);
    for (int i = 0; i < 600; ++i) {
        for (int a = 0; a < 3; ++a)
            error += std::abs(gif.palette[gif.frames[1][i]][a] - grad.pixels[3 * i + a]);
    }
    CHECK(error / (600 * 3) < 8.0);
    CHECK(gif.palette[gif.frames[2][0]] == std::array<std::uint8_t, 3>{255, 255, 255});
}

TEST_CASE("write_gif validates frames and delays", "[io]") {
    TempDir dir;
    const std::string path = dir.file("bad.gif");
    CHECK_THROWS_AS(ds::write_gif({}, path), ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_gif({random_gray(4, 4, 1), random_gray(4, 5, 1)}, path),
                    ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_gif({ds::Image(4, 4, 2)}, path), ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_gif({random_gray(4, 4, 1)}, path, -1), ds::InvalidRequest);
    CHECK_FALSE(fs::exists(path));
    CHECK_THROWS_AS(ds::write_gif({random_gray(4, 4, 1)}, dir.file("missing/dir/x.gif")),
                    ds::IoError);
}

TEST_CASE("a long colour animation (300 frames of 300x120) encodes", "[io][slow]") {
    // Speed is measured by `dstudio bench`, not asserted here.
    TempDir dir;
    std::vector<ds::Image> frames;
    for (int i = 0; i < 300; ++i)
        frames.push_back(gradient_rgb(300, 120, i));
    ds::write_gif(frames, dir.file("long.gif"));
    CHECK(fs::file_size(dir.file("long.gif")) > 1000);
}
