#pragma once
// The one progress and frame reporter of every job: a step done gives a ProgressEvent (phase,
// step of the whole job, steps per second, ETA) and, every preview_interval steps and at each
// run's last step, a FrameEvent with the iterate and the clean estimate drawn as grids. Model
// loads report percent done and MB/s through load_progress().
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "core/engine/cancel.h"
#include "core/engine/events.h"
#include "core/models/weight_loading.h"

namespace ds::jobs {

class Reporter {
public:
    using Grid = std::function<Image(const torch::Tensor&)>;
    using Views = std::function<std::vector<std::pair<std::string, torch::Tensor>>(const torch::Tensor&)>;

    // `total`: steps of the whole job (several runs, e.g. an SDEdit strip, add up; 0 = the job is
    // one run of the `steps` given with each step); `grid` draws a batch for a frame (none: the
    // job streams no frames).
    Reporter(const Callbacks& callbacks, std::string phase, int total, Grid grid,
             std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now());

    // Named transformed versions of the clean estimate streamed with each frame (anagram views).
    void set_views(Views views) { views_ = std::move(views); }
    void set_phase(std::string phase) { phase_ = std::move(phase); }

    // One step of a run of `steps` done (step is 1-based within that run). t: the DDPM timestep
    // reached (-1 = clean) or the flow-matching time.
    void step(int step, int steps, double t, const torch::Tensor& x, const torch::Tensor& x0);
    int done() const { return done_; }

private:
    const Callbacks& cb_;
    std::string phase_;
    int total_;
    int done_ = 0;
    Grid grid_;
    Views views_;
    std::chrono::steady_clock::time_point start_;
};

// A model load's progress hook: "PHASE (8.0 GB)", step = percent of 100, items_per_sec = MB/s;
// throws Cancelled when `cancel` is set. Either pointer may be null.
models::LoadProgress load_progress(const Callbacks* callbacks, const CancelToken* cancel, const std::string& phase);

// "8.0 GB"
std::string gb_text(std::int64_t bytes);

}  // namespace ds::jobs
