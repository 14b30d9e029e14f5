#include "ui/bridge/image_convert.h"

#include <cstring>

namespace ui {

QImage toQImage(const ds::Image& image) {
    if (image.empty()) return {};
    QImage::Format fmt = image.channels == 1   ? QImage::Format_Grayscale8
                         : image.channels == 3 ? QImage::Format_RGB888
                                               : QImage::Format_RGBA8888;
    QImage view(image.pixels.data(), image.width, image.height, image.width * image.channels, fmt);
    return view.copy();  // detach from the engine's buffer
}

ds::Image fromQImage(const QImage& source) {
    const bool gray = source.isGrayscale();
    QImage img = source.convertToFormat(gray ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
    ds::Image out(img.width(), img.height(), gray ? 1 : 3);
    const int row = img.width() * out.channels;
    for (int y = 0; y < img.height(); ++y)
        std::memcpy(out.pixels.data() + size_t(y) * row, img.constScanLine(y), row);
    return out;
}

}  // namespace ui
