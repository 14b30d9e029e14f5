#pragma once
// Per-request callbacks. They run on the thread that executes the request (the worker).
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/image.h"

namespace ds {

enum class Outcome { Completed, Cancelled };

struct ProgressEvent {
    std::string phase;         // "train", "sample", "eval", ...
    std::int64_t step = 0;     // steps done in this phase (1-based after the first step)
    std::int64_t total = 0;    // steps in this phase
    int epoch = 0;             // training: current epoch (1-based), else 0
    int epochs = 0;            // training: number of epochs, else 0
    double loss = 0;           // training: loss of the last batch
    double lr = 0;             // training: current learning rate
    double items_per_sec = 0;  // images per second (training) or steps per second (sampling)
    double eta_seconds = -1;   // estimated time left in the whole request; -1 = unknown
};

struct FrameEvent {
    int step = 0;   // 1-based step that produced this frame
    int total = 0;  // number of steps of the run
    double t = 0;   // timestep of x_t: integer DDPM timestep, or flow-matching time in [0,1]
    Image x_t;      // current iterate (grid of the batch)
    Image x0_hat;   // current clean estimate (grid of the batch)
    // Anagram runs: x0_hat seen through each view ("view rot180", ...), so a front end can show
    // every reading while it forms. Empty for other runs.
    std::vector<std::pair<std::string, Image>> views;
};

enum class LogLevel { Info, Warning, Error };

struct Callbacks {
    std::function<void(const ProgressEvent&)> on_progress;
    std::function<void(const FrameEvent&)> on_frame;
    std::function<void(LogLevel, const std::string&)> on_log;
    int preview_interval = 1;  // send a frame every N steps (the last step is always sent)
};

}  // namespace ds
