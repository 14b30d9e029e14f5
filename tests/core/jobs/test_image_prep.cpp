// Turning user images and masks into model inputs.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>

#include "core/engine/errors.h"
#include "core/jobs/image_prep.h"
#include "core/io/tensor_image.h"

using ds::Image;

namespace {
// A dark "L" drawn on light-gray paper, 120x90 RGB (not square, not MNIST-sized).
Image drawing() {
    Image img(120, 90, 3);
    for (int y = 0; y < 90; ++y)
        for (int x = 0; x < 120; ++x) {
            const bool ink = (x >= 40 && x < 48 && y >= 15 && y < 75) || (y >= 67 && y < 75 && x >= 40 && x < 80);
            for (int c = 0; c < 3; ++c) img.at(x, y)[c] = ink ? 20 : 230;
        }
    return img;
}
}  // namespace

TEST_CASE("a dark-on-light drawing becomes an MNIST-like digit", "[io][prep]") {
    std::vector<std::string> notes;
    auto t = ds::jobs::prepare_image(drawing(), 1, 28, 28, ds::InputFit::Auto, ds::Invert::Auto, {0, 1}, notes);
    REQUIRE(t.sizes() == torch::IntArrayRef({1, 1, 28, 28}));
    CHECK(notes.size() == 3);  // inverted, framed, resized
    // Paper is exactly black after levelling; ink is bright.
    CHECK(t[0][0][0][0].item<double>() == 0.0);
    CHECK(t.max().item<double>() > 0.9);
    // The ink's long side is scaled to MNIST's 20-pixel box (placed by centre of mass, as MNIST).
    auto rows = t[0][0].sum(1);
    CHECK((rows > 0).sum().item<int>() == 20);
    // Centre of mass near the centre.
    auto ys = torch::arange(28, torch::kFloat32).view({28, 1});
    const double cy = (t[0][0] * ys).sum().item<double>() / t.sum().item<double>();
    CHECK(std::abs(cy - 14.0) < 1.0);

    notes.clear();
    auto kept = ds::jobs::prepare_image(drawing(), 1, 28, 28, ds::InputFit::Stretch, ds::Invert::No, {0, 1}, notes);
    CHECK(kept[0][0][0][0].item<double>() > 0.8);  // light paper stays light
    CHECK(notes.size() == 1);
}

TEST_CASE("RGB inputs: crop, pad and the value range", "[io][prep]") {
    std::vector<std::string> notes;
    auto crop = ds::jobs::prepare_image(drawing(), 3, 16, 16, ds::InputFit::Auto, ds::Invert::Auto, {-1, 1}, notes);
    CHECK(crop.sizes() == torch::IntArrayRef({1, 3, 16, 16}));
    CHECK(crop.min().item<double>() >= -1.0);
    CHECK(crop.max().item<double>() <= 1.0);
    CHECK(crop[0][0][0][0].item<double>() > 0.7);  // paper, not inverted for colour models
    auto pad = ds::jobs::prepare_image(drawing(), 3, 16, 16, ds::InputFit::Pad, ds::Invert::Auto, {-1, 1}, notes);
    CHECK(pad[0][0][0][0].item<double>() == -1.0);  // letterbox bars are black
    Image bad;
    CHECK_THROWS_AS(ds::jobs::prepare_image(bad, 1, 28, 28, ds::InputFit::Auto, ds::Invert::Auto, {0, 1}, notes),
                    ds::InvalidRequest);
    Image blank(50, 50, 1);
    for (auto& p : blank.pixels) p = 240;
    CHECK_THROWS_WITH(ds::jobs::prepare_image(blank, 1, 28, 28, ds::InputFit::Digit, ds::Invert::Auto, {0, 1}, notes),
                      Catch::Contains("blank"));
}

TEST_CASE("masks: threshold, resize, grow, feather, empty", "[io][prep]") {
    Image m(28, 28, 1);
    for (int y = 10; y < 14; ++y)
        for (int x = 10; x < 14; ++x) *m.at(x, y) = 200;
    std::vector<std::string> notes;
    auto t = ds::jobs::prepare_mask(m, 28, 28, 0, 0, true, notes);
    CHECK(t.sum().item<double>() == 16);
    CHECK(notes.empty());
    auto grown = ds::jobs::prepare_mask(m, 28, 28, 1, 0, true, notes);
    CHECK(grown.sum().item<double>() == 36);
    auto soft = ds::jobs::prepare_mask(m, 28, 28, 0, 1.5, true, notes);
    CHECK(soft[0][0][11][11].item<double>() == 1.0);  // inside stays 1
    const double edge = soft[0][0][11][15].item<double>();
    CHECK(edge > 0.0);
    CHECK(edge < 1.0);
    auto big = ds::jobs::prepare_mask(m, 14, 14, 0, 0, true, notes);
    CHECK(big.sizes() == torch::IntArrayRef({1, 1, 14, 14}));
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].find("resized the mask") != std::string::npos);
    CHECK_THROWS_WITH(ds::jobs::prepare_mask(Image(28, 28, 1), 28, 28, 0, 0, true, notes), Catch::Contains("empty"));
    CHECK_THROWS_AS(ds::jobs::prepare_mask(m, 28, 28, -1, 0, true, notes), ds::InvalidRequest);
}

TEST_CASE("a shrunk mask regenerates every model pixel a stroke touches (any) or half covers (half)", "[io][prep]") {
    // 280x280 painted at ten canvas pixels per model pixel: columns 100..112 are painted (model
    // column 10 fully, column 11 at 30 %), 113..115 carry a soft brush edge below 128.
    Image m(280, 280, 1);
    for (int y = 0; y < 280; ++y) {
        for (int x = 100; x < 113; ++x) *m.at(x, y) = 255;
        for (int x = 113; x < 116; ++x) *m.at(x, y) = 100;
    }
    std::vector<std::string> notes;
    auto any = ds::jobs::prepare_mask(m, 28, 28, 0, 0, true, notes);
    auto half = ds::jobs::prepare_mask(m, 28, 28, 0, 0, false, notes);
    CHECK(any[0][0][5][10].item<double>() == 1.0);
    CHECK(any[0][0][5][11].item<double>() == 1.0);  // 30 % painted: nothing of the original survives
    CHECK(any[0][0][5][9].item<double>() == 0.0);
    CHECK(any[0][0][5][12].item<double>() == 0.0);
    CHECK(any.sum().item<double>() == 2 * 28);
    CHECK(half[0][0][5][10].item<double>() == 1.0);
    CHECK(half[0][0][5][11].item<double>() == 0.0);  // the old rule keeps it
    CHECK(half.sum().item<double>() == 28);
    // Same size: both rules are the plain >= 128 threshold.
    Image s(28, 28, 1);
    *s.at(3, 3) = 128;
    *s.at(4, 3) = 127;
    CHECK(ds::jobs::prepare_mask(s, 28, 28, 0, 0, true, notes).sum().item<double>() == 1);
    CHECK(ds::jobs::prepare_mask(s, 28, 28, 0, 0, false, notes).sum().item<double>() == 1);
}

TEST_CASE("tensor_to_image reports NaN and Inf instead of making black pixels", "[io]") {
    auto t = torch::zeros({1, 2, 2});
    t[0][1][1] = std::nan("");
    CHECK_THROWS_WITH(ds::io::tensor_to_image(t), Catch::Contains("NaN or infinite"));
    t[0][1][1] = INFINITY;
    CHECK_THROWS_AS(ds::io::tensor_to_image(t), ds::DataError);
    t[0][1][1] = 0.5;
    CHECK(ds::io::tensor_to_image(t).pixels[3] == 128);
}
