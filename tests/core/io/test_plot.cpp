// Loss-curve charts rendered with OpenCV.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "core/engine/errors.h"
#include "core/io/plot.h"

namespace {

// Pixels of the first curve colour (a saturated blue) inside the given box.
int blue_pixels(const ds::Image& img, int x0, int y0, int x1, int y1) {
    int count = 0;
    for (int y = y0; y < y1; ++y) {
        for (int x = x0; x < x1; ++x) {
            const auto* p = img.at(x, y);
            count += p[2] > p[0] + 60 && p[2] > 120;
        }
    }
    return count;
}

ds::io::Curve decay(const std::string& name, int n, double scale = 1.0) {
    ds::io::Curve c;
    c.name = name;
    for (int i = 0; i < n; ++i) {
        c.x.push_back(i * 10.0);
        c.y.push_back(scale / (1.0 + i));
    }
    return c;
}

}  // namespace

TEST_CASE("plot has the requested size and draws a known curve", "[io]") {
    ds::io::PlotOptions opt;
    opt.title = "MNIST UNet training";
    opt.width = 640;
    opt.height = 400;
    const ds::Image img = ds::io::plot_curves({decay("train", 200)}, opt);
    REQUIRE(img.width == 640);
    REQUIRE(img.height == 400);
    REQUIRE(img.channels == 3);
    REQUIRE(img.pixels.size() == 640u * 400 * 3);
    // The curve starts top-left and ends bottom-right of the plot area.
    CHECK(blue_pixels(img, 0, 0, img.width / 2, img.height / 2) > 20);
    CHECK(blue_pixels(img, img.width / 2, img.height / 2, img.width, img.height) > 20);
    // Corners outside the plot area stay white.
    CHECK(img.at(0, img.height - 1)[0] == 255);
    CHECK(img.at(img.width - 1, 0)[1] == 255);
}

TEST_CASE("log plots skip zeros, negatives and non-finite values", "[io]") {
    ds::io::Curve c = decay("loss", 100);
    c.y[0] = 0;
    c.y[10] = -1;
    c.y[20] = std::numeric_limits<double>::quiet_NaN();
    c.x[30] = std::numeric_limits<double>::infinity();
    ds::io::Curve faint = decay("loss", 100, 3.0);
    faint.faint = true;
    const ds::Image img = ds::io::plot_curves({faint, c}, ds::io::PlotOptions{});
    CHECK(img.width == 900);
    CHECK(img.height == 520);
    CHECK(blue_pixels(img, 0, 0, img.width, img.height) > 50);

    ds::io::Curve zeros;
    zeros.name = "all zero";
    zeros.x = {0, 1, 2};
    zeros.y = {0, 0, 0};
    const ds::Image empty = ds::io::plot_curves({zeros}, ds::io::PlotOptions{});
    CHECK(empty.width == 900);
    CHECK(ds::io::plot_curves({}, ds::io::PlotOptions{}).height == 520);
}

TEST_CASE("linear plots handle negative and flat data", "[io]") {
    ds::io::PlotOptions opt;
    opt.log_y = false;
    opt.y_label = "";
    ds::io::Curve c;
    c.name = "signal";
    for (int i = 0; i < 50; ++i) {
        c.x.push_back(i);
        c.y.push_back(std::sin(i * 0.2) - 0.5);
    }
    ds::io::Curve flat;
    flat.name = "flat";
    flat.x = {5};
    flat.y = {0.25};
    const ds::Image img = ds::io::plot_curves({c, flat}, opt);
    CHECK(blue_pixels(img, 0, 0, img.width, img.height) > 50);
    ds::io::Curve single;
    single.x = {3};
    single.y = {3};
    CHECK(ds::io::plot_curves({single}, opt).width == 900);
}

TEST_CASE("plot rejects bad sizes and mismatched curves", "[io]") {
    ds::io::PlotOptions tiny;
    tiny.width = 50;
    CHECK_THROWS_AS(ds::io::plot_curves({}, tiny), ds::InvalidRequest);
    ds::io::Curve bad;
    bad.x = {1, 2};
    bad.y = {1};
    CHECK_THROWS_AS(ds::io::plot_curves({bad}, ds::io::PlotOptions{}), ds::InvalidRequest);
}

TEST_CASE("degenerate and extreme ranges neither hang nor crash", "[io]") {
    ds::io::PlotOptions linear;
    linear.log_y = false;
    ds::io::Curve tiny{"tiny", {0, 1}, {1, 1 + 1e-15}, false};
    CHECK(ds::io::plot_curves({tiny}, linear).width == 900);
    ds::io::Curve huge{"huge", {-1e308, 0, 1e308}, {-1e308, 1, 1e308}, false};
    CHECK(ds::io::plot_curves({huge}, linear).width == 900);
    ds::io::Curve wide{"wide", {0, 1, 2, 3}, {1e-320, 1e-250, 1e250, 1e308}, false};
    CHECK(ds::io::plot_curves({wide}, ds::io::PlotOptions{}).width == 900);
}
