#pragma once
// Recipes (the JSON of an output: a PNG's ds.recipe text chunk or its .json sidecar) are data a
// user may have been sent. parse_recipe checks one against an allow-list before anything uses
// it: `dstudio replay` re-runs only the sampling commands below with their own options (never an
// output path, never replay or train), and the GUI restores only validated settings.
#include <cstddef>
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

struct Recipe {
    std::string technique;          // explore, iterate, sample, sdedit, inpaint, anagram, hybrid, if-generate, denoise
    std::string command;            // dstudio subcommand that wrote it ("" for the GUI's own results)
    std::vector<std::string> argv;  // that command's options (output options never appear)
    std::string dtype = "fp32";     // IF precision it was made with
    std::string device = "cpu";     // IF device it was made on
    std::vector<RecipeInput> inputs;
    std::string output_sha256;      // the sidecar's record of the output ("" when none)
};

// The dstudio commands a recipe may name.
const std::vector<std::string>& replayable_commands();
// The techniques a recipe may name.
const std::vector<std::string>& recipe_techniques();

// Validates `text` (from `source`, named in errors). Throws DataError when it is too large or
// deep, not JSON, not a ds.recipe/1 object, names a technique or command outside the allow-lists,
// carries an output option (--out, --gif, --raw, ...) or help in its argv, or has a field of the
// wrong type or out of range.
Recipe parse_recipe(const std::string& text, const std::string& source);

}  // namespace ds
