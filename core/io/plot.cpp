#include "core/io/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/engine/errors.h"

namespace ds::io {
namespace {

// Below this the tick labels, legend and title no longer fit around a usable plot area.
constexpr int kMinWidth = 240;
constexpr int kMinHeight = 160;
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kTickScale = 0.4;    // tick labels (~9 px digits)
constexpr double kLabelScale = 0.45;  // axis labels and legend
constexpr double kTitleScale = 0.6;
// Fixed-point bits for OpenCV drawing: curves are placed with 1/16 px precision.
constexpr int kShift = 4;
constexpr double kSubPixel = 1 << kShift;
// Share of white mixed into a faint curve's colour.
constexpr double kFaintWhite = 0.65;
// Pixels per decade needed before 2 and 5 get grid lines, and before they get labels.
constexpr double kMinorGridPx = 30;
constexpr double kMinorLabelPx = 80;
// Pixels per decade from which 3, 4, 6, 7, 8 and 9 get labelled ticks too (9/8 is 15 px apart).
constexpr double kAllMantissasPx = 300;
// Gap between tick labels, and the target spacing of y ticks on linear axes.
constexpr int kLabelGap = 16;
constexpr int kLinearTickSpacingY = 50;
// More ticks than this on one axis means the range is degenerate.
constexpr double kMaxTicks = 200;
// Values beyond this magnitude (or below its inverse on log axes) are skipped like NaN: their
// ranges overflow, and no loss curve has them.
constexpr double kMaxMagnitude = 1e300;

// Matplotlib's "tab10": distinct, colour-blind-friendlier hues. RGB, like the output image.
const cv::Scalar kColours[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                               {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                               {188, 189, 34},  {23, 190, 207}};
const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kFrame(90, 90, 90);
const cv::Scalar kGridMajor(222, 222, 222);
const cv::Scalar kGridMinor(240, 240, 240);
const cv::Scalar kText(40, 40, 40);

struct Tick {
    double value;
    bool major;
    std::string label;  // empty = unlabelled
};

struct Axis {
    double lo = 0, hi = 1;
    bool log = false;
    std::vector<Tick> ticks;

    // Position in [0, 1] along the axis.
    double unit(double v) const {
        return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                   : (v - lo) / (hi - lo);
    }
};

std::string printable_ascii(const std::string& s) {
    std::string out = s;
    for (char& ch : out) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 32 || c > 126)
            ch = '?';
    }
    return out;
}

cv::Size text_size(const std::string& text, double scale, int* baseline = nullptr) {
    int base = 0;
    const cv::Size size = cv::getTextSize(text, kFont, scale, 1, &base);
    if (baseline)
        *baseline = base;
    return size;
}

void draw_text(cv::Mat& img,
               const std::string& text,
               cv::Point origin,
               double scale,
               const cv::Scalar& colour = kText,
               int thickness = 1) {
    cv::putText(img, text, origin, kFont, scale, colour, thickness, cv::LINE_AA);
}

// 1, 2 or 5 times a power of ten, near range / target.
double nice_step(double range, double target) {
    const double raw = range / std::max(1.0, target);
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

std::string format_linear(double v, double step) {
    if (std::abs(v) < step * 1e-6)
        v = 0;  // no "-0" or "1e-17"
    char buf[32];
    if (std::abs(v) >= 1e6 || step < 1e-4) {
        std::snprintf(buf, sizeof buf, "%.3g", v);
    } else {
        const int decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
        std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    }
    return buf;
}

std::string format_log(int mantissa, int exponent) {
    char buf[32];
    if (exponent >= -4 && exponent <= 5) {
        std::snprintf(buf, sizeof buf, "%.*f", std::max(0, -exponent),
                      mantissa * std::pow(10.0, exponent));
    } else {
        std::snprintf(buf, sizeof buf, "%de%d", mantissa, exponent);
    }
    return buf;
}

// Linear ticks at multiples of a nice step; `snap` widens [lo, hi] to whole steps (y axis).
Axis linear_axis(double lo, double hi, double target, bool snap) {
    Axis axis;
    const double step = nice_step(hi - lo, target);
    axis.lo = snap ? std::floor(lo / step + 1e-9) * step : lo;
    axis.hi = snap ? std::ceil(hi / step - 1e-9) * step : hi;
    const double first = std::ceil(axis.lo / step - 1e-9);
    const double last = std::floor(axis.hi / step + 1e-9);
    // A range tiny next to its magnitude (1 to 1 + 1e-15) gives steps that k * step cannot
    // resolve; such an axis simply gets no ticks.
    if (!(last - first <= kMaxTicks)) {
        return axis;
    }
    for (int i = 0; i <= int(last - first); ++i) {
        const double v = (first + i) * step;
        axis.ticks.push_back({v, true, format_linear(v, step)});
    }
    return axis;
}

// Bounds snap to m x 10^k for m in `mantissas`; decades are major ticks, other mantissas minor
// ones. Labels thin out with the pixels available per decade.
Axis log_axis_with(double lo, double hi, double length_px, const std::vector<int>& mantissas) {
    Axis axis;
    axis.log = true;
    struct Candidate {
        double value;
        int mantissa, exponent;
    };
    std::vector<Candidate> candidates;
    for (int e = int(std::floor(std::log10(lo))) - 1; e <= int(std::ceil(std::log10(hi))) + 1;
         ++e) {
        for (const int m : mantissas)
            candidates.push_back({m * std::pow(10.0, e), m, e});
    }
    std::size_t first = 0, last = candidates.size() - 1;
    while (first + 1 < candidates.size() && candidates[first + 1].value <= lo * (1 + 1e-9))
        ++first;
    while (last > 0 && candidates[last - 1].value >= hi * (1 - 1e-9))
        --last;
    if (first == last) {  // a single value that is itself a candidate
        first = first > 0 ? first - 1 : first;
        ++last;
    }
    axis.lo = candidates[first].value;
    axis.hi = candidates[last].value;
    const double px_per_decade = length_px / (std::log10(axis.hi) - std::log10(axis.lo));
    // Label every k-th decade so labels (~14 px) never touch.
    const int decade_every = std::max(1, int(std::ceil(18.0 / px_per_decade)));
    for (std::size_t i = first; i <= last; ++i) {
        const Candidate& c = candidates[i];
        const bool major = c.mantissa == 1;
        if (!major && px_per_decade < kMinorGridPx)
            continue;
        const bool labelled = major ? c.exponent % decade_every == 0
                                    : px_per_decade >= kMinorLabelPx || first + 1 == last;
        axis.ticks.push_back({c.value, major, labelled ? format_log(c.mantissa, c.exponent) : ""});
    }
    return axis;
}

// 1-2-5 ticks; when less than about a decade fills the axis, every integer mantissa gets a
// tick so a flat late-training loss can still be read off the chart.
Axis log_axis(double lo, double hi, double length_px) {
    Axis axis = log_axis_with(lo, hi, length_px, {1, 2, 5});
    if (length_px / (std::log10(axis.hi) - std::log10(axis.lo)) >= kAllMantissasPx) {
        axis = log_axis_with(lo, hi, length_px, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    }
    return axis;
}

// Fewer x ticks until the widest label fits between neighbours.
Axis x_axis(double lo, double hi, int length_px) {
    for (double target = length_px / 80.0;; target *= 0.7) {
        Axis axis = linear_axis(lo, hi, target, false);
        int widest = 0;
        for (const Tick& t : axis.ticks)
            widest = std::max(widest, text_size(t.label, kTickScale).width);
        const double step =
            axis.ticks.size() > 1 ? axis.ticks[1].value - axis.ticks[0].value : hi - lo;
        if (target < 2 || step / (hi - lo) * length_px >= widest + kLabelGap)
            return axis;
    }
}

struct Extent {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -std::numeric_limits<double>::infinity();
    bool empty() const { return !(lo <= hi); }
    void add(double v) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    // A single value still needs a non-empty range.
    void widen_if_flat(bool log) {
        if (hi > lo)
            return;
        const double pad = log ? 0 : (lo != 0 ? std::abs(lo) * 0.1 : 1.0);
        lo = log ? lo / 2 : lo - pad;
        hi = log ? hi * 2 : hi + pad;
    }
};

bool drawable(double x, double y, bool log_y) {
    const bool in_range = std::abs(x) <= kMaxMagnitude && std::abs(y) <= kMaxMagnitude;
    return in_range && (!log_y || y >= 1 / kMaxMagnitude);  // NaN fails every comparison
}

cv::Scalar faint_colour(const cv::Scalar& c) {
    return c * (1 - kFaintWhite) + kWhite * kFaintWhite;
}

// Draws the drawable runs of `curve` into the plot area `roi` (clipped there).
void draw_curve(cv::Mat& roi,
                const Curve& curve,
                const Axis& xa,
                const Axis& ya,
                bool log_y,
                const cv::Scalar& colour,
                int thickness) {
    std::vector<cv::Point> run;
    auto flush = [&] {
        if (run.size() == 1) {
            cv::circle(roi, run[0], (thickness + 1) << kShift, colour, cv::FILLED, cv::LINE_AA,
                       kShift);
        } else if (run.size() > 1) {
            cv::polylines(roi, run, false, colour, thickness, cv::LINE_AA, kShift);
        }
        run.clear();
    };
    for (std::size_t i = 0; i < curve.x.size(); ++i) {
        if (!drawable(curve.x[i], curve.y[i], log_y)) {
            flush();
            continue;
        }
        const double px = xa.unit(curve.x[i]) * (roi.cols - 1);
        const double py = (1 - ya.unit(curve.y[i])) * (roi.rows - 1);
        run.emplace_back(int(std::lround(px * kSubPixel)), int(std::lround(py * kSubPixel)));
    }
    flush();
}

struct LegendEntry {
    std::string name;
    cv::Scalar colour;
    bool faint;
};

void draw_legend(cv::Mat& img, const cv::Rect& area, const std::vector<LegendEntry>& entries) {
    if (entries.empty())
        return;
    constexpr int kSample = 24, kPad = 8;  // line sample length, inner padding
    int baseline = 0;
    const cv::Size glyph = text_size("Ag", kLabelScale, &baseline);
    const int row_h = glyph.height + baseline + 6;
    int widest = 0;
    for (const auto& e : entries)
        widest = std::max(widest, text_size(e.name, kLabelScale).width);
    const int w = kSample + 6 + widest + 2 * kPad;
    const int h = int(entries.size()) * row_h + kPad;
    const cv::Rect box(area.x + area.width - w - 8, area.y + 8, w, h);
    cv::rectangle(img, box, kWhite, cv::FILLED);
    cv::rectangle(img, box, kGridMajor, 1);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const int cy = box.y + kPad / 2 + int(i) * row_h + row_h / 2;
        const cv::Scalar colour =
            entries[i].faint ? faint_colour(entries[i].colour) : entries[i].colour;
        cv::line(img, {box.x + kPad, cy}, {box.x + kPad + kSample, cy}, colour,
                 entries[i].faint ? 1 : 2, cv::LINE_AA);
        draw_text(img, entries[i].name, {box.x + kPad + kSample + 6, cy + glyph.height / 2},
                  kLabelScale);
    }
}

// Rotated 90 degrees counter-clockwise, centred on `centre_y`, starting at column `x`.
void draw_vertical_text(cv::Mat& img, const std::string& text, int x, int centre_y) {
    int baseline = 0;
    const cv::Size size = text_size(text, kLabelScale, &baseline);
    cv::Mat label(size.height + baseline + 4, size.width + 4, img.type(), kWhite);
    draw_text(label, text, {2, size.height + 2}, kLabelScale);
    cv::Mat rotated;
    cv::rotate(label, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int y = std::clamp(centre_y - rotated.rows / 2, 0, std::max(0, img.rows - rotated.rows));
    const cv::Rect dst(x, y, std::min(rotated.cols, img.cols - x),
                       std::min(rotated.rows, img.rows - y));
    rotated(cv::Rect(0, 0, dst.width, dst.height)).copyTo(img(dst));
}

// Ranges of the drawable points; throws for curves with mismatched x and y.
void collect_extents(const std::vector<Curve>& curves, bool log_y, Extent* xs, Extent* ys) {
    for (const Curve& c : curves) {
        if (c.x.size() != c.y.size()) {
            throw InvalidRequest("plot_curves: curve '" + c.name + "' has " +
                                 std::to_string(c.x.size()) + " x values but " +
                                 std::to_string(c.y.size()) + " y values");
        }
        for (std::size_t i = 0; i < c.x.size(); ++i) {
            if (drawable(c.x[i], c.y[i], log_y)) {
                xs->add(c.x[i]);
                ys->add(c.y[i]);
            }
        }
    }
}

void draw_axes(cv::Mat& img, const cv::Rect& area, const Axis& xa, const Axis& ya) {
    int baseline = 0;
    const int digit_h = text_size("0", kTickScale, &baseline).height;
    for (const Tick& t : ya.ticks) {
        const int y = area.y + int(std::lround((1 - ya.unit(t.value)) * (area.height - 1)));
        cv::line(img, {area.x, y}, {area.x + area.width - 1, y}, t.major ? kGridMajor : kGridMinor);
        cv::line(img, {area.x - (t.major ? 5 : 3), y}, {area.x, y}, kFrame);
        if (!t.label.empty()) {
            const int w = text_size(t.label, kTickScale).width;
            draw_text(img, t.label, {area.x - 8 - w, y + digit_h / 2}, kTickScale);
        }
    }
    for (const Tick& t : xa.ticks) {
        const int x = area.x + int(std::lround(xa.unit(t.value) * (area.width - 1)));
        cv::line(img, {x, area.y}, {x, area.y + area.height - 1}, kGridMajor);
        cv::line(img, {x, area.y + area.height}, {x, area.y + area.height + 4}, kFrame);
        const int w = text_size(t.label, kTickScale).width;
        const int lx = std::clamp(x - w / 2, 0, img.cols - w);
        draw_text(img, t.label, {lx, area.y + area.height + 10 + digit_h}, kTickScale);
    }
}

// One colour per distinct name, in order of first appearance (unnamed curves get their own);
// a legend entry is faint only if every curve of that name is.
std::vector<cv::Scalar> assign_colours(const std::vector<Curve>& curves,
                                       std::vector<LegendEntry>* legend) {
    std::map<std::string, std::size_t> index_of;
    std::vector<cv::Scalar> colours;
    for (std::size_t i = 0; i < curves.size(); ++i) {
        const std::string name = printable_ascii(curves[i].name);
        const std::string key = name.empty() ? "\x01" + std::to_string(i) : name;
        const auto [it, added] = index_of.emplace(key, index_of.size());
        colours.push_back(kColours[it->second % std::size(kColours)]);
        if (name.empty()) {
            continue;
        }
        if (added) {
            legend->push_back({name, colours.back(), curves[i].faint});
        }
        for (auto& entry : *legend) {
            if (entry.name == name && !curves[i].faint) {
                entry.faint = false;
            }
        }
    }
    return colours;
}

void draw_titles(cv::Mat& img,
                 const cv::Rect& area,
                 const std::string& title,
                 const std::string& x_label,
                 const std::string& y_label) {
    if (!title.empty()) {
        const int w = text_size(title, kTitleScale).width;
        draw_text(img, title, {std::max(0, area.x + (area.width - w) / 2), 26}, kTitleScale, kText,
                  2);
    }
    if (!x_label.empty()) {
        const int w = text_size(x_label, kLabelScale).width;
        draw_text(img, x_label, {area.x + (area.width - w) / 2, img.rows - 12}, kLabelScale);
    }
    if (!y_label.empty()) {
        draw_vertical_text(img, y_label, 4, area.y + area.height / 2);
    }
}

}  // namespace

Image plot_curves(const std::vector<Curve>& curves, const PlotOptions& options) {
    if (options.width < kMinWidth || options.height < kMinHeight) {
        throw InvalidRequest("plot_curves: size " + std::to_string(options.width) + "x" +
                             std::to_string(options.height) + " is below the minimum " +
                             std::to_string(kMinWidth) + "x" + std::to_string(kMinHeight));
    }
    Extent xs, ys;
    collect_extents(curves, options.log_y, &xs, &ys);
    const bool no_data = xs.empty();
    if (no_data) {
        xs = {0, 1};
        ys = options.log_y ? Extent{0.1, 1} : Extent{0, 1};
    }
    xs.widen_if_flat(false);
    ys.widen_if_flat(options.log_y);

    const std::string title = printable_ascii(options.title);
    const std::string x_label = printable_ascii(options.x_label);
    const std::string y_label = printable_ascii(options.y_label);
    // Vertical layout first: the y ticks decide the left margin, which decides the x ticks.
    const int top = title.empty() ? 14 : 40;
    const int bottom = x_label.empty() ? 30 : 52;
    const int plot_h = options.height - top - bottom;
    const Axis ya = options.log_y
                        ? log_axis(ys.lo, ys.hi, plot_h)
                        : linear_axis(ys.lo, ys.hi, double(plot_h) / kLinearTickSpacingY, true);
    int widest_y = 0;
    for (const Tick& t : ya.ticks) {
        widest_y = std::max(widest_y, text_size(t.label, kTickScale).width);
    }
    const int left = widest_y + 14 + (y_label.empty() ? 0 : 24);
    const int right = 18;
    const cv::Rect area(left, top, options.width - left - right, plot_h);
    const Axis xa = x_axis(xs.lo, xs.hi, area.width);

    cv::Mat img(options.height, options.width, CV_8UC3, kWhite);
    draw_axes(img, area, xa, ya);
    std::vector<LegendEntry> legend;
    const std::vector<cv::Scalar> colours = assign_colours(curves, &legend);
    cv::Mat roi = img(area);
    for (const bool faint_pass : {true, false}) {  // faint curves first, so they sit below
        for (std::size_t i = 0; i < curves.size(); ++i) {
            if (curves[i].faint == faint_pass) {
                draw_curve(roi, curves[i], xa, ya, options.log_y,
                           faint_pass ? faint_colour(colours[i]) : colours[i], faint_pass ? 1 : 2);
            }
        }
    }
    cv::rectangle(img, area, kFrame, 1);  // drawn last: thick curves must not hide the frame
    draw_legend(img, area, legend);
    if (no_data) {
        const int w = text_size("no data", kLabelScale).width;
        draw_text(img, "no data", {area.x + (area.width - w) / 2, area.y + area.height / 2},
                  kLabelScale, kFrame);
    }
    draw_titles(img, area, title, x_label, y_label);

    Image out(options.width, options.height, 3);
    std::memcpy(out.pixels.data(), img.data, out.pixels.size());
    return out;
}

}  // namespace ds::io
