#pragma once
// Helpers shared by the dstudio subcommands.
#include <string>
#include <vector>

#include "core/engine/cancel.h"
#include "core/engine/events.h"
#include "core/engine/image.h"

namespace cli {

// While alive, SIGINT, SIGTERM and SIGHUP (Ctrl+C, `kill`, a closed terminal) set `token`
// (cancel now: training saves its checkpoint first); a second one exits at once with 128 + its
// number. exit_code() is 128 + the number of the first signal caught (0 when none was).
class InterruptScope {
public:
    explicit InterruptScope(ds::CancelToken& token);
    ~InterruptScope();
    InterruptScope(const InterruptScope&) = delete;
    InterruptScope& operator=(const InterruptScope&) = delete;
    static int exit_code();
};

void log_line(ds::LogLevel level, const std::string& message);
bool wants_help(const std::vector<std::string>& args);
// "a,b,c" -> {"a", "b", "c"} (empty text -> {}).
std::vector<std::string> split_list(const std::string& text, char sep = ',');

// Writes `figure` to `out` with the recipe (plus the command and its argv minus output paths) in
// a ds.recipe text chunk, and the recipe with the output's SHA-256 to the .json next to it.
void write_figure(const std::string& command, const std::vector<std::string>& raw_args,
                  const std::string& recipe_json, const ds::Image& figure, const std::string& out);
std::string sidecar_path(const std::string& png);
// Throws IoError unless the folder `path` would be written into exists and is writable, so a
// long run fails before it starts rather than when it saves.
void check_output_folder(const std::string& path);

}  // namespace cli
