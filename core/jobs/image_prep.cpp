#include "core/jobs/image_prep.h"

#include <cmath>

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "core/diffusion/filters.h"
#include "core/engine/errors.h"
#include "core/io/image_check.h"
#include "core/io/tensor_image.h"

namespace ds::jobs {

namespace {

constexpr double kDigitBox = 20.0 / 28.0;  // MNIST: digits fill a 20x20 box of the 28x28 frame
constexpr double kInkThreshold = 0.2;      // digit framing: pixels above 20% of the max are ink

cv::Mat to_mat(const Image& image) {
    const int type = image.channels == 1 ? CV_8UC1 : image.channels == 3 ? CV_8UC3 : CV_8UC4;
    return cv::Mat(image.height, image.width, type, const_cast<std::uint8_t*>(image.pixels.data()))
        .clone();
}

// Gray or RGB float [0,1] Mat with the requested channel count (alpha composited on white).
cv::Mat float_channels(const Image& image, int channels) {
    cv::Mat m = to_mat(image), f;
    if (image.channels == 4) {  // composite on white: transparent drawings read as paper
        std::vector<cv::Mat> parts;
        cv::split(m, parts);
        cv::Mat a;
        parts[3].convertTo(a, CV_32F, 1.0 / 255);
        for (int i = 0; i < 3; ++i) {
            cv::Mat c;
            parts[i].convertTo(c, CV_32F, 1.0 / 255);
            parts[i] = c.mul(a) + (1.0 - a);
        }
        parts.pop_back();
        cv::merge(parts, f);
    } else {
        m.convertTo(f, CV_32F, 1.0 / 255);
    }
    if (f.channels() == channels) return f;
    cv::Mat out;
    cv::cvtColor(f, out, channels == 1 ? cv::COLOR_RGB2GRAY : cv::COLOR_GRAY2RGB);
    return out;
}

cv::Mat resize_to(const cv::Mat& m, int w, int h) {
    cv::Mat out;
    const bool shrink = w < m.cols || h < m.rows;
    cv::resize(m, out, cv::Size(w, h), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    return out;
}

cv::Mat frame_levelled(const cv::Mat& gray, int w, int h, std::vector<std::string>& notes);

// MNIST framing: ink bounding box scaled to 20/28 of the frame, centred by centre of mass.
cv::Mat frame_digit(const cv::Mat& gray, int w, int h, std::vector<std::string>& notes) {
    // Paper is rarely pure black after inversion: map the border level to 0 and the brightest
    // ink to 1, as MNIST's background is exactly 0.
    cv::Mat border = cv::Mat::ones(gray.size(), CV_8U) * 255;
    if (gray.rows > 2 && gray.cols > 2) border(cv::Rect(1, 1, gray.cols - 2, gray.rows - 2)) = 0;
    const double paper = cv::mean(gray, border)[0];
    double lo, hi;
    cv::minMaxLoc(gray, &lo, &hi);
    if (hi - paper <= 0.05) throw InvalidRequest("the image is blank (no strokes found after inversion)");
    cv::Mat levelled;
    cv::max((gray - paper) / (hi - paper), 0.0, levelled);
    return frame_levelled(levelled, w, h, notes);
}

cv::Mat frame_levelled(const cv::Mat& gray, int w, int h, std::vector<std::string>& notes) {
    const double hi = 1.0;
    cv::Mat ink = gray > hi * kInkThreshold;
    cv::Rect box = cv::boundingRect(ink);
    cv::Mat crop = gray(box);
    const double target = kDigitBox * std::min(w, h);
    const double s = target / std::max(box.width, box.height);
    const int cw = std::max(1, int(std::lround(box.width * s)));
    const int ch = std::max(1, int(std::lround(box.height * s)));
    cv::Mat small = resize_to(crop, cw, ch);
    cv::Moments mo = cv::moments(small);
    const double cx = mo.m00 > 0 ? mo.m10 / mo.m00 : cw / 2.0;
    const double cy = mo.m00 > 0 ? mo.m01 / mo.m00 : ch / 2.0;
    int x0 = int(std::lround(w / 2.0 - cx)), y0 = int(std::lround(h / 2.0 - cy));
    x0 = std::clamp(x0, 0, w - cw);
    y0 = std::clamp(y0, 0, h - ch);
    cv::Mat out = cv::Mat::zeros(h, w, CV_32F);
    small.copyTo(out(cv::Rect(x0, y0, cw, ch)));
    notes.push_back("framed the strokes like an MNIST digit (20x20 box, centred by mass)");
    return out;
}

}  // namespace

Image load_input(const ImageInput& input, const char* what) {
    if (!input.path.empty()) return read_image(input.path, 0);
    if (input.image.empty())
        throw InvalidRequest(std::string("no ") + what + " given (a file or pixels are required)");
    io::validate_image(input.image, what);
    return input.image;
}

torch::Tensor prepare_image(const Image& image, int channels, int height, int width,
                            InputFit fit, Invert invert, std::pair<double, double> range,
                            std::vector<std::string>& notes) {
    io::validate_image(image, "input image");
    if (channels != 1 && channels != 3)
        throw InvalidRequest("models with " + std::to_string(channels) + " channels are not supported");
    cv::Mat f = float_channels(image, channels);
    if (fit == InputFit::Auto) fit = channels == 1 ? InputFit::Digit : InputFit::CenterCrop;
    if (channels == 1 && invert != Invert::No) {
        bool flip = invert == Invert::Yes;
        if (invert == Invert::Auto) {  // mean of the 1-pixel border: light paper => invert
            cv::Mat border = cv::Mat::ones(f.size(), CV_8U) * 255;
            if (f.rows > 2 && f.cols > 2) border(cv::Rect(1, 1, f.cols - 2, f.rows - 2)) = 0;
            flip = cv::mean(f, border)[0] > 0.5;
        }
        if (flip) {
            f = 1.0 - f;
            notes.push_back("inverted the image (dark strokes on light paper -> light on dark, as MNIST)");
        }
    }
    const bool same_size = f.cols == width && f.rows == height;
    cv::Mat out;
    if (fit == InputFit::Digit && channels == 1) {
        out = same_size ? f : frame_digit(f, width, height, notes);
    } else if (same_size || fit == InputFit::Stretch || fit == InputFit::Digit) {
        out = same_size ? f : resize_to(f, width, height);
    } else if (fit == InputFit::CenterCrop) {
        const double s = std::max(double(width) / f.cols, double(height) / f.rows);
        const int cw = std::min(f.cols, int(std::lround(width / s)));
        const int ch = std::min(f.rows, int(std::lround(height / s)));
        cv::Rect box((f.cols - cw) / 2, (f.rows - ch) / 2, cw, ch);
        out = resize_to(f(box), width, height);
    } else {  // Pad: letterbox on black
        const double s = std::min(double(width) / f.cols, double(height) / f.rows);
        const int cw = std::max(1, int(std::lround(f.cols * s)));
        const int ch = std::max(1, int(std::lround(f.rows * s)));
        out = cv::Mat::zeros(height, width, f.type());
        resize_to(f, cw, ch).copyTo(out(cv::Rect((width - cw) / 2, (height - ch) / 2, cw, ch)));
    }
    if (!same_size)
        notes.push_back("resized the input from " + std::to_string(image.width) + "x" +
                        std::to_string(image.height) + " to " + std::to_string(width) + "x" +
                        std::to_string(height) + " (" + to_string(fit) + ")");
    out = out.clone();  // continuous
    auto t = torch::from_blob(out.data, {out.rows, out.cols, out.channels()}, torch::kFloat32)
                 .permute({2, 0, 1})
                 .clone()
                 .clamp(0, 1);
    return (t * (range.second - range.first) + range.first).unsqueeze(0);
}

torch::Tensor prepare_mask(const Image& mask, int height, int width, int grow, double feather,
                           bool any_cover, std::vector<std::string>& notes) {
    io::validate_image(mask, "mask");
    if (grow < 0 || grow > std::max(height, width))
        throw InvalidRequest("mask grow must be in 0.." + std::to_string(std::max(height, width)) + " pixels");
    if (!(feather >= 0 && feather <= 64)) throw InvalidRequest("mask feather must be in [0, 64] pixels");
    cv::Mat f = float_channels(mask, 1);
    if (f.cols != width || f.rows != height) {
        notes.push_back("resized the mask from " + std::to_string(mask.width) + "x" +
                        std::to_string(mask.height) + " to " + std::to_string(width) + "x" +
                        std::to_string(height));
        const bool shrink = width < f.cols || height < f.rows;
        if (shrink && any_cover) {
            // Binarise the painted pixels first (a soft brush edge or JPEG noise is not paint),
            // then a model pixel any of them touches is regenerated.
            cv::Mat painted;
            cv::threshold(f, painted, 0.5 - 1e-6, 1.0, cv::THRESH_BINARY);
            f = resize_to(painted, width, height);
            cv::threshold(f, f, 1e-6, 1.0, cv::THRESH_BINARY);
        } else {
            f = resize_to(f, width, height);
        }
    }
    f = f.clone();
    auto m = torch::from_blob(f.data, {1, 1, height, width}, torch::kFloat32).clone();
    m = (m >= 0.5).to(torch::kFloat32);
    if (m.sum().item<double>() == 0)
        throw InvalidRequest("the mask is empty (all black): nothing to generate. White marks the "
                             "region to generate, black the part to keep");
    if (grow > 0)
        m = torch::max_pool2d(m, {2 * grow + 1, 2 * grow + 1}, {1, 1}, {grow, grow});
    if (feather > 0) {
        const int k = 2 * int(std::ceil(3 * feather)) + 1;
        m = torch::max(m, diffusion::gaussian_blur(m, k, feather)).clamp(0, 1);
    }
    if (m.min().item<double>() >= 1.0)
        notes.push_back("the mask covers the whole image: this is plain sampling");
    return m;
}

}  // namespace ds::jobs
