#pragma once
// ds::Image <-> QImage (deep copies: neither side owns the other's buffer).
#include <QImage>

#include "core/engine/image.h"

namespace ui {

QImage toQImage(const ds::Image& image);
ds::Image fromQImage(const QImage& image);

}  // namespace ui
