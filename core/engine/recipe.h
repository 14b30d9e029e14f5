#pragma once
// Recipes (the JSON of an output: a PNG's ds.recipe text chunk or its .json sidecar) are data a
// user may have been sent. parse_recipe checks one against an allow-list before anything uses
// it: `dstudio replay` re-runs only the sampling commands below with their own options (never an
// output path, never replay or train), and the GUI restores only validated settings.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ds {

inline constexpr std::size_t kMaxRecipeBytes = 1 << 20;  // 1 MiB of JSON
inline constexpr std::size_t kMaxRecipeArgs = 256;       // entries of "argv"
inline constexpr std::size_t kMaxRecipeText = 4096;      // bytes of any one string in it

struct RecipeInput {
    std::string key;     // "input" or "mask"
    std::string path;    // where the file was read from, or a data-set image ("mnist:test:7")
    std::string sha256;  // its hash then ("" when unrecorded)
    // "mnist:test:7", "fashion-mnist:train:0": an image of a data set (read from the data folder
    // when replayed), not a file.
    bool is_dataset_image() const;
};

// The settings of a recipe a front end restores, read and range-checked by parse_recipe (absent
// fields stay empty). The dstudio commands re-check everything when a recipe is replayed.
struct RecipeSettings {
    std::string model;                    // "model", or an IF text-to-image recipe's "weights"
    std::string upscaler;                 // IF stage II folder ("" when none)
    std::optional<std::uint64_t> seed;
    std::optional<double> guidance;
    std::optional<int> count;
    std::optional<int> steps;             // Part B sample steps / IF stage I steps
    std::optional<int> upscale_steps;     // IF stage II steps
    std::optional<int> flow_steps;        // flow-matching Euler steps
    std::vector<std::int64_t> timesteps;  // the strided list (empty when absent)
    std::optional<int> i_start;
    std::vector<int> i_starts;            // SDEdit strip
    std::vector<std::int64_t> t_list;     // noise explorer
    std::vector<std::string> prompts;     // "prompt", then "prompts"; a hybrid's far and near
    std::string negative_prompt;
    std::vector<std::string> views;       // anagram views
    std::optional<int> kernel;            // hybrid low-pass kernel
    std::optional<double> sigma;          // hybrid low-pass sigma, or the denoiser's noise level
    std::vector<double> sweep;            // denoiser sigma sweep
    std::optional<bool> pure_noise;       // denoiser on pure noise
    std::optional<double> mask_grow, mask_feather;  // inpainting mask
};

struct Recipe {
    std::string technique;          // explore, iterate, sample, sdedit, inpaint, anagram, hybrid, if-generate, denoise,
                                    // part-b-sample (dstudio sample's grids)
    std::string command;            // dstudio subcommand that wrote it ("" for the GUI's own results)
    std::vector<std::string> argv;  // that command's options (output options never appear)
    std::string dtype = "fp32";     // IF precision it was made with
    std::string device = "cpu";     // IF device it was made on
    std::vector<RecipeInput> inputs;
    std::string output_sha256;      // the sidecar's record of the output ("" when none)
    RecipeSettings settings;        // what a front end restores
};

// The dstudio commands a recipe may name.
const std::vector<std::string>& replayable_commands();
// The techniques a recipe may name.
const std::vector<std::string>& recipe_techniques();

// Saves a result: `figure` as a PNG at `out` carrying its recipe (text chunk "ds.recipe"), and
// the recipe beside it as a .json sidecar (recipe_sidecar_path) that also records the PNG's name
// and SHA-256. `command` and `argv`: the dstudio command that made it and its options, output
// options (--out, --gif, --raw, --gif-every, --gif-x0) left out so that a replay to another file
// writes the same bytes; empty for the GUI's own results. Each file is written atomically.
// Throws DataError for a recipe that is not a JSON object, IoError when a file cannot be written.
struct Image;
void save_result_png(const Image& figure, const std::string& out, const std::string& recipe_json,
                     const std::string& command = {}, const std::vector<std::string>& argv = {});
// "dir/result.png" -> "dir/result.json".
std::string recipe_sidecar_path(const std::string& png);

// Validates `text` (from `source`, named in errors). Throws DataError when it is too large or
// deep, not JSON, not a ds.recipe/1 object, names a technique or command outside the allow-lists,
// carries an output option (--out, --gif, --raw, ...) or help in its argv, or has a field of the
// wrong type or out of range.
Recipe parse_recipe(const std::string& text, const std::string& source);

}  // namespace ds
