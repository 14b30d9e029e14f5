#pragma once
// A terminal progress bar (redrawn in place on a TTY; a line every 10 s otherwise).
#include "core/engine/events.h"

namespace cli {

class ProgressPrinter {
public:
    void update(const ds::ProgressEvent& e);
    void clear();

private:
    double last_draw_ = -1;
    bool drawn_ = false;
};

}  // namespace cli
