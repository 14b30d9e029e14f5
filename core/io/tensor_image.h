#pragma once
// Conversions between torch tensors and ds::Image (the facade's pixel type).
#include <torch/types.h>

#include "core/engine/image.h"

namespace ds::io {

// chw [C,H,W] with values in [lo, hi] -> 8-bit image (clamped, rounded).
Image tensor_to_image(const torch::Tensor& chw, double lo = 0.0, double hi = 1.0);
// nchw batch -> one grid image (`columns` tiles per row, 0 = all in one row).
Image tensor_grid(const torch::Tensor& nchw, int columns, double lo = 0.0, double hi = 1.0,
                  int padding = 2, int scale = 1);
// 8-bit image -> float32 [C,H,W] in [lo, hi].
torch::Tensor image_to_tensor(const Image& image, double lo = 0.0, double hi = 1.0);

}  // namespace ds::io
