// Loss curves of run folders (metrics.jsonl), raw and smoothed, as a PNG.
#include "core/jobs/jobs.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/io/plot.h"
#include "core/train/trainer.h"

namespace ds::jobs {

namespace fs = std::filesystem;
using json = nlohmann::json;

void plot_losses(const LossPlotRequest& r) {
    if (r.runs.empty()) throw InvalidRequest("give at least one run folder or metrics.jsonl");
    if (r.out_png.empty()) throw InvalidRequest("an output PNG path is required");
    std::vector<io::Curve> curves;
    for (size_t i = 0; i < r.runs.size(); ++i) {
        fs::path p(r.runs[i]);
        if (fs::is_directory(p)) p /= train::kMetricsFile;
        std::ifstream in(p);
        if (!in) throw IoError("cannot read metrics '" + p.string() + "' (a run folder holds metrics.jsonl)");
        io::Curve raw, smooth;
        std::string name = i < r.names.size() ? r.names[i] : p.parent_path().filename().string();
        raw.name = name;  // same name: the faint raw curve shares the colour and legend entry
        raw.faint = true;
        smooth.name = name;
        int line_no = 0, bad_line = 0;
        for (std::string line; std::getline(in, line);) {
            ++line_no;
            if (line.empty()) continue;
            // A bad line is an error unless it is the last one: a run killed while writing
            // leaves a torn last line, which is skipped.
            if (bad_line) throw DataError(p.string() + ":" + std::to_string(bad_line) + ": not a metrics line");
            try {
                if (line.size() > 4096) throw std::length_error("line too long");
                auto j = json::parse(line);
                const double x = j.at("step").get<double>(), y = j.at("loss").get<double>();
                raw.x.push_back(x);
                raw.y.push_back(y);
            } catch (const std::exception&) {
                bad_line = line_no;
            }
        }
        if (raw.x.empty()) throw DataError(p.string() + " has no loss values yet");
        const int w = std::max(1, r.smooth);
        double acc = 0;
        for (size_t k = 0; k < raw.y.size(); ++k) {
            acc += raw.y[k];
            if (k >= size_t(w)) acc -= raw.y[k - w];
            smooth.x.push_back(raw.x[k]);
            smooth.y.push_back(acc / std::min<size_t>(k + 1, w));
        }
        curves.push_back(raw);
        curves.push_back(smooth);
    }
    io::PlotOptions opt;
    opt.title = r.title;
    opt.log_y = r.log_scale;
    opt.width = r.width;
    opt.height = r.height;
    write_png(io::plot_curves(curves, opt), r.out_png);
}

}  // namespace ds::jobs
