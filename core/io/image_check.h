#pragma once
#include "core/engine/image.h"

namespace ds::io {

// Throws InvalidRequest (prefixed with `what`) unless the image is non-empty, has 1, 3 or 4
// channels and exactly width*height*channels bytes.
void validate_image(const Image& image, const char* what);

}  // namespace ds::io
