#pragma once
// Line charts for training curves (loss vs step), rendered offscreen with OpenCV so the CLI can
// save them as PNG without Qt.
#include <string>
#include <vector>

#include "core/engine/image.h"

namespace ds::io {

struct Curve {
    std::string name;  // legend text (ASCII); curves sharing a name share a colour and one entry
    std::vector<double> x, y;  // same length; non-finite points (and y <= 0 on log axes) are gaps
    bool faint = false;        // drawn thin and light, under the others (e.g. raw per-step loss)
};

struct PlotOptions {
    std::string title;  // drawn above the chart; empty = none
    std::string x_label = "step";
    std::string y_label = "loss";
    bool log_y = true;  // decades as major ticks, 2 and 5 as minor ticks
    int width = 900;    // output size in pixels, at least 240 x 160
    int height = 520;
};

// Renders the curves into a 3-channel RGB image of options.width x options.height. Curves with
// no drawable points are skipped; with none at all the axes are drawn around "no data".
// Throws ds::InvalidRequest for a size below the minimum or x/y of different lengths.
Image plot_curves(const std::vector<Curve>& curves, const PlotOptions& options);

}  // namespace ds::io
