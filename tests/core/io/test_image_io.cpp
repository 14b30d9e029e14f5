// PNG/JPEG reading and writing, PNG text chunks, atomic writes and the grid/caption helpers.
#include <zlib.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/engine/errors.h"
#include "core/engine/image.h"
#include "core/io/atomic_file.h"

namespace fs = std::filesystem;

namespace {

// A fresh folder per test, removed afterwards.
struct TempDir {
    fs::path path;
    TempDir() {
        std::random_device rd;
        path = fs::temp_directory_path() /
               ("ds_test_io_" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(path))
            names.push_back(e.path().filename().string());
        return names;
    }
};

ds::Image pattern(int w, int h, int c, unsigned seed = 1) {
    ds::Image img(w, h, c);
    std::mt19937 rng(seed);
    for (auto& p : img.pixels)
        p = std::uint8_t(rng());
    return img;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("PNG round trip keeps exact pixels for gray, RGB and RGBA", "[io]") {
    TempDir dir;
    for (const int channels : {1, 3, 4}) {
        const ds::Image img = pattern(37, 19, channels, unsigned(channels));
        const std::string path = dir.file("img" + std::to_string(channels) + ".png");
        ds::write_png(img, path);
        const ds::Image back = ds::read_image(path);
        CHECK(back.width == 37);
        CHECK(back.height == 19);
        CHECK(back.channels == channels);
        CHECK(back.pixels == img.pixels);
        CHECK(ds::read_png_text(path).empty());
    }
}

TEST_CASE("PNG files are RGB in memory and BGR only inside OpenCV", "[io]") {
    TempDir dir;
    ds::Image red(4, 4, 3);
    for (int i = 0; i < 16; ++i)
        red.pixels[3 * i] = 255;
    ds::write_png(red, dir.file("red.png"));
    const cv::Mat bgr = cv::imread(dir.file("red.png"), cv::IMREAD_COLOR);
    REQUIRE(bgr.type() == CV_8UC3);
    CHECK(bgr.at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 255));
}

TEST_CASE("PNG text chunks round trip in order, including UTF-8 and JSON", "[io]") {
    TempDir dir;
    const std::string path = dir.file("recipe.png");
    // Escaped and raw UTF-8 (e-acute, a hot beverage emoji) as a JSON recipe.
    const std::string recipe = R"({"prompt": "a caf\u00e9", "raw": ")" +
                               std::string("caf\xc3\xa9 \xe2\x98\x95") + R"(", "seed": 42})";
    const std::vector<std::pair<std::string, std::string>> text = {
        {"Software", "Diffusion Studio"},   {"recipe", recipe}, {"Comment", "line one\nline two"},
        {"Caf\xc3\xa9", "Latin-1 keyword"}, {"empty", ""},
    };
    ds::write_png(pattern(8, 8, 3), path, text);
    CHECK(ds::read_png_text(path) == text);
    // Plain ASCII goes in tEXt for old tools; UTF-8 needs iTXt.
    const std::string bytes = slurp(path);
    CHECK(bytes.find("tEXtSoftware") != std::string::npos);
    CHECK(bytes.find("iTXtrecipe") != std::string::npos);
    // Text sits right after IHDR (signature 8 + IHDR 25 bytes).
    CHECK(bytes.substr(37, 4) == "tEXt");
    // The image itself is unaffected.
    CHECK(ds::read_image(path).pixels == pattern(8, 8, 3).pixels);
}

TEST_CASE("write_png (libpng) writes the bytes the OpenCV encoder wrote before it", "[io]") {
    // Results committed before the switch to libpng replay byte-identical: decode a committed
    // figure (gray, with its recipe) and a loss plot (RGB), write them again with their text,
    // compare.
    TempDir dir;
    for (const char* rel : {"docs/figures/part-a/inpaint-7.png", "docs/figures/part-a/anagram-6-9.png",
                            "docs/figures/part-b/time_fm10_loss.png"}) {
        INFO(rel);
        const std::string original = std::string(DS_SOURCE_DIR) + "/" + rel;
        const ds::Image img = ds::read_image(original);
        const auto text = ds::read_png_text(original);
        ds::write_png(img, dir.file("again.png"), text);
        CHECK(slurp(dir.file("again.png")) == slurp(original));
    }
}

TEST_CASE("PNG text keys and values are validated", "[io]") {
    TempDir dir;
    const auto img = pattern(2, 2, 1);
    const std::string path = dir.file("x.png");
    using Text = std::vector<std::pair<std::string, std::string>>;
    CHECK_THROWS_AS(ds::write_png(img, path, Text{{"", "v"}}), ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_png(img, path, Text{{std::string(80, 'k'), "v"}}),
                    ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_png(img, path, Text{{" lead", "v"}}), ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_png(img, path, Text{{"snow\xe2\x98\x83", "v"}}), ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_png(img, path, Text{{"k", std::string("a\0b", 3)}}),
                    ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_png(img, path, Text{{"k", "bad \xff utf8"}}), ds::InvalidRequest);
    CHECK_NOTHROW(ds::write_png(img, path, Text{{std::string(79, 'k'), "v"}}));
}

TEST_CASE("write_png rejects inconsistent images", "[io]") {
    TempDir dir;
    ds::Image two(4, 4, 2);
    CHECK_THROWS_AS(ds::write_png(two, dir.file("a.png")), ds::InvalidRequest);
    ds::Image short_pixels(4, 4, 3);
    short_pixels.pixels.resize(10);
    CHECK_THROWS_AS(ds::write_png(short_pixels, dir.file("b.png")), ds::InvalidRequest);
    CHECK_THROWS_AS(ds::write_png(ds::Image(), dir.file("c.png")), ds::InvalidRequest);
    CHECK(dir.entries().empty());
}

TEST_CASE("corrupt or truncated PNGs are data errors", "[io]") {
    TempDir dir;
    const std::string path = dir.file("t.png");
    ds::write_png(pattern(16, 16, 3), path, {{"recipe", "{\"seed\": 1}"}});
    const std::string good = slurp(path);
    const auto at = good.find("seed");
    REQUIRE(at != std::string::npos);

    std::string flipped = good;
    flipped[at] = 'S';  // CRC no longer matches
    spit(dir.file("crc.png"), flipped);
    CHECK_THROWS_AS(ds::read_png_text(dir.file("crc.png")), ds::DataError);

    spit(dir.file("cut.png"), good.substr(0, at));
    CHECK_THROWS_AS(ds::read_png_text(dir.file("cut.png")), ds::DataError);
    spit(dir.file("noend.png"), good.substr(0, good.size() - 12));  // IEND missing
    CHECK_THROWS_AS(ds::read_png_text(dir.file("noend.png")), ds::DataError);

    std::string huge_length = good;
    huge_length[33] = char(0x7f);  // first text chunk claims ~2 GB
    spit(dir.file("len.png"), huge_length);
    CHECK_THROWS_AS(ds::read_png_text(dir.file("len.png")), ds::DataError);

    spit(dir.file("text.png"), "hello, not a png");
    CHECK_THROWS_AS(ds::read_png_text(dir.file("text.png")), ds::DataError);
    CHECK_THROWS_AS(ds::read_png_text(dir.file("absent.png")), ds::IoError);
}

TEST_CASE("unwritable paths are IoErrors that name the path and leave no temp files", "[io]") {
    TempDir dir;
    const std::string missing_folder = dir.file("no/such/folder/out.png");
    try {
        ds::write_png(pattern(4, 4, 3), missing_folder);
        FAIL("expected IoError");
    } catch (const ds::IoError& e) {
        CHECK(std::string(e.what()).find(missing_folder) != std::string::npos);
    }
    // The temp file is created, then the rename onto a folder fails: it must be cleaned up.
    fs::create_directory(dir.path / "taken");
    CHECK_THROWS_AS(ds::write_png(pattern(4, 4, 3), dir.file("taken")), ds::IoError);
    CHECK_THROWS_AS(ds::write_gif({pattern(4, 4, 1)}, dir.file("taken")), ds::IoError);
    CHECK(dir.entries() == std::vector<std::string>{"taken"});
}

TEST_CASE("atomic writer replaces files only on commit", "[io]") {
    TempDir dir;
    const std::string path = dir.file("data.json");
    ds::io::write_file_atomic(path, std::string("{\"v\": 1}"));
    CHECK(slurp(path) == "{\"v\": 1}");
    {
        ds::io::AtomicWriter writer(path);
        writer.write(std::string("{\"v\": 2, \"half"));
        CHECK(fs::exists(writer.temp_path()));
        CHECK(slurp(path) == "{\"v\": 1}");
    }  // abandoned: old content stays, temp file goes
    CHECK(slurp(path) == "{\"v\": 1}");
    CHECK(dir.entries() == std::vector<std::string>{"data.json"});
    {
        ds::io::AtomicWriter writer(path);
        writer.write("{\"v\": ", 6);
        writer.write(std::string("3}"));
        writer.commit();
        CHECK(writer.committed());
    }
    CHECK(slurp(path) == "{\"v\": 3}");
    CHECK(dir.entries() == std::vector<std::string>{"data.json"});
}

TEST_CASE("read_image converts channels", "[io]") {
    TempDir dir;
    ds::Image rgba(2, 1, 4);
    rgba.pixels = {255, 0, 0, 128, 10, 20, 30, 255};
    ds::write_png(rgba, dir.file("rgba.png"));

    const ds::Image keep = ds::read_image(dir.file("rgba.png"));
    CHECK(keep.channels == 4);
    CHECK(keep.pixels == rgba.pixels);
    const ds::Image rgb = ds::read_image(dir.file("rgba.png"), 3);
    CHECK(rgb.channels == 3);
    CHECK(rgb.pixels == std::vector<std::uint8_t>{255, 0, 0, 10, 20, 30});
    const ds::Image gray = ds::read_image(dir.file("rgba.png"), 1);
    CHECK(gray.channels == 1);
    CHECK(int(gray.pixels[0]) == Approx(0.299 * 255).margin(1));

    ds::Image g(3, 1, 1);
    g.pixels = {0, 100, 255};
    ds::write_png(g, dir.file("gray.png"));
    CHECK(ds::read_image(dir.file("gray.png")).channels == 1);
    const ds::Image g3 = ds::read_image(dir.file("gray.png"), 3);
    CHECK(g3.pixels == std::vector<std::uint8_t>{0, 0, 0, 100, 100, 100, 255, 255, 255});

    // JPEG (through OpenCV's BGR writer) comes back RGB and 3-channel.
    cv::Mat blue(8, 8, CV_8UC3, cv::Scalar(255, 0, 0));
    REQUIRE(cv::imwrite(dir.file("blue.jpg"), blue));
    const ds::Image jpg = ds::read_image(dir.file("blue.jpg"));
    REQUIRE(jpg.channels == 3);
    CHECK(jpg.pixels[2] > 200);
    CHECK(jpg.pixels[0] < 40);

    CHECK_THROWS_AS(ds::read_image(dir.file("gray.png"), 2), ds::InvalidRequest);
}

TEST_CASE("read_image errors: missing, not an image, too large", "[io]") {
    TempDir dir;
    const std::string missing = dir.file("missing.png");
    try {
        ds::read_image(missing);
        FAIL("expected IoError");
    } catch (const ds::IoError& e) {
        CHECK(std::string(e.what()).find(missing) != std::string::npos);
    }
    CHECK_THROWS_AS(ds::read_image(dir.path.string()), ds::IoError);  // a folder
    spit(dir.file("notes.png"), "just some text");
    CHECK_THROWS_AS(ds::read_image(dir.file("notes.png")), ds::DataError);
    spit(dir.file("empty.png"), "");
    CHECK_THROWS_AS(ds::read_image(dir.file("empty.png")), ds::DataError);

    const cv::Mat wide(1, 16385, CV_8UC1, cv::Scalar(7));
    REQUIRE(cv::imwrite(dir.file("wide.png"), wide));
    try {
        ds::read_image(dir.file("wide.png"));
        FAIL("expected DataError");
    } catch (const ds::DataError& e) {
        CHECK(std::string(e.what()).find("16384") != std::string::npos);
    }
    const cv::Mat ok(1, 16384, CV_8UC1, cv::Scalar(7));
    REQUIRE(cv::imwrite(dir.file("ok.png"), ok));
    CHECK(ds::read_image(dir.file("ok.png")).width == 16384);
}

TEST_CASE("make_grid places scaled tiles row-major with borders", "[io]") {
    std::vector<ds::Image> tiles;
    for (int t = 0; t < 3; ++t) {
        ds::Image tile(3, 2, 1);
        for (int i = 0; i < 6; ++i)
            tile.pixels[i] = std::uint8_t(10 * (t + 1) + i);  // 10 + x + 3y
        tiles.push_back(tile);
    }
    const ds::Image grid = ds::make_grid(tiles, 2, 1, 2);
    REQUIRE(grid.width == 2 * 6 + 3);
    REQUIRE(grid.height == 2 * 4 + 3);
    REQUIRE(grid.channels == 1);
    auto px = [&](int x, int y) { return int(*grid.at(x, y)); };
    const int border = px(0, 0);
    CHECK(border != 10);
    CHECK(px(1, 1) == 10);       // tile 0, source (0,0)
    CHECK(px(2, 2) == 10);       // same source pixel, scaled 2x
    CHECK(px(3, 1) == 11);       // source (1,0)
    CHECK(px(6, 4) == 15);       // source (2,1), bottom-right of tile 0
    CHECK(px(7, 1) == border);   // gap between columns
    CHECK(px(8, 1) == 20);       // tile 1
    CHECK(px(1, 6) == 30);       // tile 2 starts the second row
    CHECK(px(10, 8) == border);  // empty last cell
    CHECK(px(14, 10) == border);

    CHECK(ds::make_grid(tiles, 0, 0, 1).width == 9);  // 0 columns = one row
    tiles.push_back(ds::Image(3, 3, 1));
    CHECK_THROWS_AS(ds::make_grid(tiles, 2), ds::InvalidRequest);
    CHECK_THROWS_AS(ds::make_grid({}, 2), ds::InvalidRequest);
    CHECK_THROWS_AS(ds::make_grid({ds::Image(2, 2, 3)}, 1, -1), ds::InvalidRequest);
}

TEST_CASE("scale_nearest repeats pixels", "[io]") {
    ds::Image img(2, 1, 3);
    img.pixels = {1, 2, 3, 4, 5, 6};
    const ds::Image big = ds::scale_nearest(img, 3);
    REQUIRE(big.width == 6);
    REQUIRE(big.height == 3);
    CHECK(big.at(2, 2)[0] == 1);
    CHECK(big.at(3, 0)[2] == 6);
    CHECK_THROWS_AS(ds::scale_nearest(img, 0), ds::InvalidRequest);
}

TEST_CASE("captions and row labels add text margins around the image", "[io]") {
    const ds::Image img = pattern(200, 60, 3);
    const ds::Image captioned = ds::add_caption(img, "t = 999, guidance 7.5");
    REQUIRE(captioned.width == img.width);
    REQUIRE(captioned.height > img.height);
    const int strip = captioned.height - img.height;
    CHECK(std::equal(img.pixels.begin(), img.pixels.end(),
                     captioned.pixels.begin() + std::ptrdiff_t(strip) * img.width * 3));
    int dark = 0, white = 0;
    for (int y = 0; y < strip; ++y) {
        for (int x = 0; x < img.width; ++x) {
            dark += captioned.at(x, y)[0] < 100;
            white += captioned.at(x, y)[0] == 255;
        }
    }
    CHECK(dark > 20);
    CHECK(white > dark);
    // Long captions wrap or shrink but never widen the image.
    const std::string long_text(300, 'w');
    CHECK(ds::add_caption(pattern(64, 64, 1), long_text + " and more words").width == 64);
    CHECK(ds::add_caption(img, "").height == img.height);

    const ds::Image grid = pattern(90, 90, 1);
    const ds::Image labelled = ds::add_row_labels(grid, {"t=999", "t=500", "t=0"});
    REQUIRE(labelled.height == grid.height);
    REQUIRE(labelled.width > grid.width);
    const int margin = labelled.width - grid.width;
    CHECK(*labelled.at(margin, 0) == *grid.at(0, 0));
    CHECK(*labelled.at(labelled.width - 1, 89) == *grid.at(89, 89));
    int ink = 0;
    for (int y = 0; y < grid.height; ++y) {
        for (int x = 0; x < margin; ++x)
            ink += *labelled.at(x, y) < 128;
    }
    CHECK(ink > 20);
    CHECK_THROWS_AS(ds::add_row_labels(pattern(4, 2, 1), {"a", "b", "c"}), ds::InvalidRequest);
}

TEST_CASE("read_image refuses an image whose decoded size exceeds the budget before decoding", "[io]") {
    TempDir dir;
    // Issue 23: a 2 MB PNG of 16384 x 16384 RGBA16 passed the side check and peaked at 9.6 GB.
    // Its IHDR alone says so: 16384 x 16384 x 4 channels x 2 bytes = 2 GiB.
    auto be32 = [](std::uint32_t v) {
        return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    };
    const std::string ihdr_data = be32(16384) + be32(16384) + std::string{16, 6, 0, 0, 0};
    const std::string body = "IHDR" + ihdr_data;
    const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + body +
                            be32(std::uint32_t(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
    spit(dir.file("bomb.png"), png);
    try {
        ds::read_image(dir.file("bomb.png"));
        FAIL("expected DataError");
    } catch (const ds::DataError& e) {
        CHECK_THAT(std::string(e.what()), Catch::Contains("2048 MiB decoded") && Catch::Contains("limit is 192 MiB"));
    }
    // The same side in 8-bit gray (256 MiB) is still too much; 8192 x 8192 gray (64 MiB) is fine.
    const cv::Mat big(8192, 8192, CV_8UC1, cv::Scalar(3));
    REQUIRE(cv::imwrite(dir.file("big.png"), big));
    CHECK(ds::read_image(dir.file("big.png")).height == 8192);
}

