#include "core/io/tensor_image.h"

#include <cstring>

#include <torch/torch.h>

#include "core/engine/errors.h"

namespace ds::io {

Image tensor_to_image(const torch::Tensor& chw, double lo, double hi) {
    if (chw.dim() != 3) throw InvalidRequest("tensor_to_image expects [C,H,W]");
    const auto f = chw.detach().to(torch::kFloat32).cpu();
    // NaN would silently become black pixels (and Inf white ones): a result like that is an error.
    if (!torch::isfinite(f).all().item<bool>())
        throw DataError("the result holds NaN or infinite values, so no image was made: the model's "
                        "weights are probably corrupt (a diverged run or a damaged file)");
    auto u8 = ((f - lo) * (255.0 / (hi - lo)))
                  .clamp(0, 255)
                  .round()
                  .to(torch::kUInt8)
                  .permute({1, 2, 0})
                  .contiguous();
    Image img(static_cast<int>(chw.size(2)), static_cast<int>(chw.size(1)),
              static_cast<int>(chw.size(0)));
    std::memcpy(img.pixels.data(), u8.data_ptr<std::uint8_t>(), img.pixels.size());
    return img;
}

Image tensor_grid(const torch::Tensor& nchw, int columns, double lo, double hi, int padding,
                  int scale) {
    std::vector<Image> tiles;
    for (std::int64_t i = 0; i < nchw.size(0); ++i) tiles.push_back(tensor_to_image(nchw[i], lo, hi));
    if (columns <= 0) columns = static_cast<int>(tiles.size());
    return make_grid(tiles, columns, padding, scale);
}

torch::Tensor image_to_tensor(const Image& image, double lo, double hi) {
    if (image.empty() ||
        image.pixels.size() != size_t(image.width) * image.height * image.channels)
        throw InvalidRequest("image_to_tensor: empty or inconsistent image");
    auto t = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                              {image.height, image.width, image.channels}, torch::kUInt8)
                 .permute({2, 0, 1})
                 .to(torch::kFloat32);
    return t * ((hi - lo) / 255.0) + lo;
}

}  // namespace ds::io
