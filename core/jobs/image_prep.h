#pragma once
// Turning user images (photos, web images, drawings, masks) into model inputs: size, channels,
// value range, MNIST-style digit framing, dark-on-light inversion, and inpainting masks.
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "core/engine/part_a_requests.h"

namespace ds::jobs {

// The pixels of an ImageInput (reads the file when a path is given). Throws IoError / InvalidRequest.
Image load_input(const ImageInput& input, const char* what);

// [1, C, H, W] float32 in `range`. `notes` receives what was adjusted (resized, inverted, ...).
torch::Tensor prepare_image(const Image& image, int channels, int height, int width,
                            InputFit fit, Invert invert, std::pair<double, double> range,
                            std::vector<std::string>& notes);

// [1, 1, H, W] float32 in [0, 1]: white (>= 128) = 1 = generate. A larger mask is shrunk: with
// `any_cover` a model pixel is 1 when any white pixel of the mask falls in it, else when at least
// half of it is white. A smaller mask is enlarged (bilinear, then >= 0.5). `grow` dilates by that
// many pixels; `feather` (sigma, pixels) softens the edge. Throws InvalidRequest for an empty
// mask; notes a resize and a mask that covers everything.
torch::Tensor prepare_mask(const Image& mask, int height, int width, int grow, double feather,
                           bool any_cover, std::vector<std::string>& notes);

}  // namespace ds::jobs
