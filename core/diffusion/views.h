#pragma once
// Views for visual anagrams (Geng et al. 2024; course §2.9 and its bells & whistles): orthogonal
// transforms of the image that keep i.i.d. Gaussian noise i.i.d. Gaussian — pixel permutations
// (flips, rotations, transpose, jigsaw) and negation.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace ds::diffusion {

enum class ViewKind { Identity, FlipV, FlipH, Rot90, Rot180, Rot270, Transpose, Jigsaw, Negate };

struct View {
    ViewKind kind = ViewKind::Identity;
    int patches = 4;         // jigsaw: the image is cut into patches x patches tiles
    std::uint64_t seed = 0;  // jigsaw: which permutation of the tiles
};

// Names: identity, flipv (upside down), fliph (mirror), rot90, rot180, rot270, transpose,
// jigsawN[:SEED] (e.g. jigsaw4, jigsaw4:7), negate. Throws InvalidRequest listing them.
View parse_view(const std::string& name);
std::string view_name(const View& view);
// The views a front end offers (identity first; jigsaw in its 2- and 4-patch forms).
std::vector<std::string> common_view_names();

// The view of an iterate x_t (NCHW). Negation reflects the data around the centre of the value
// range, which for x_t = sqrt(abar) x0 + sqrt(1-abar) eps means x -> 2 c sqrt(abar) - x.
torch::Tensor apply_view(const View& view, const torch::Tensor& x_t, double abar = 1.0,
                         double centre = 0.0);
// Maps a prediction made on the view back to the original frame. eps of a negated view changes
// sign; variance channels (`is_eps` false) do not.
torch::Tensor unview(const View& view, const torch::Tensor& prediction, bool is_eps = true);

// Jigsaw: the tile permutation (tile i of the view = tile perm[i] of the image), fixed by seed.
std::vector<int> jigsaw_permutation(int patches, std::uint64_t seed);

}  // namespace ds::diffusion
