#include "core/diffusion/views.h"

#include <numeric>
#include <random>

#include <torch/torch.h>

#include "core/engine/errors.h"

namespace ds::diffusion {

namespace {
const char* kViewNames = "identity, flipv, fliph, rot90, rot180, rot270, transpose, jigsawN[:SEED], negate";

// Moves tiles: out tile i = in tile from[i] (tiles row-major in a patches x patches grid).
torch::Tensor move_tiles(const torch::Tensor& x, int patches, const std::vector<int>& from) {
    const auto h = x.size(-2), w = x.size(-1);
    if (h % patches || w % patches)
        throw InvalidRequest("jigsaw" + std::to_string(patches) + " needs an image size divisible by " +
                             std::to_string(patches) + " (got " + std::to_string(h) + "x" +
                             std::to_string(w) + ")");
    const auto th = h / patches, tw = w / patches;
    auto out = torch::empty_like(x);
    for (int i = 0; i < patches * patches; ++i) {
        const int j = from[i];
        out.narrow(-2, (i / patches) * th, th).narrow(-1, (i % patches) * tw, tw)
            .copy_(x.narrow(-2, (j / patches) * th, th).narrow(-1, (j % patches) * tw, tw));
    }
    return out;
}
}  // namespace

std::vector<int> jigsaw_permutation(int patches, std::uint64_t seed) {
    std::vector<int> perm(patches * patches);
    std::iota(perm.begin(), perm.end(), 0);
    // Reverse order for seed 0 (a fixed, clearly visible shuffle), else a seeded shuffle.
    if (seed == 0) {
        std::reverse(perm.begin(), perm.end());
    } else {
        std::mt19937_64 rng(seed);
        for (int i = static_cast<int>(perm.size()) - 1; i > 0; --i)
            std::swap(perm[i], perm[std::uniform_int_distribution<int>(0, i)(rng)]);
    }
    return perm;
}

std::vector<std::string> common_view_names() {
    return {"identity", "rot180", "flipv", "fliph", "rot90", "rot270", "transpose", "jigsaw2", "jigsaw4", "negate"};
}

View parse_view(const std::string& name) {
    static const std::vector<std::pair<std::string, ViewKind>> simple = {
        {"identity", ViewKind::Identity}, {"flipv", ViewKind::FlipV},   {"fliph", ViewKind::FlipH},
        {"rot90", ViewKind::Rot90},       {"rot180", ViewKind::Rot180}, {"rot270", ViewKind::Rot270},
        {"transpose", ViewKind::Transpose}, {"negate", ViewKind::Negate}};
    for (const auto& [n, k] : simple)
        if (name == n) return View{k};
    if (name.rfind("jigsaw", 0) == 0) {
        View v{ViewKind::Jigsaw};
        const std::string rest = name.substr(6);
        const auto colon = rest.find(':');
        try {
            size_t used = 0;
            const std::string p = rest.substr(0, colon);
            v.patches = p.empty() ? 4 : std::stoi(p, &used);
            if (!p.empty() && used != p.size()) throw std::invalid_argument(p);
            if (colon != std::string::npos) v.seed = std::stoull(rest.substr(colon + 1), &used);
        } catch (const std::exception&) {
            throw InvalidRequest("bad jigsaw view '" + name + "': use jigsawN or jigsawN:SEED, e.g. jigsaw4");
        }
        if (v.patches < 2 || v.patches > 64)
            throw InvalidRequest("jigsaw needs 2..64 patches per side (got '" + name + "')");
        return v;
    }
    throw InvalidRequest("unknown view '" + name + "'; views: " + kViewNames);
}

std::string view_name(const View& v) {
    switch (v.kind) {
        case ViewKind::Identity: return "identity";
        case ViewKind::FlipV: return "flipv";
        case ViewKind::FlipH: return "fliph";
        case ViewKind::Rot90: return "rot90";
        case ViewKind::Rot180: return "rot180";
        case ViewKind::Rot270: return "rot270";
        case ViewKind::Transpose: return "transpose";
        case ViewKind::Negate: return "negate";
        case ViewKind::Jigsaw:
            return "jigsaw" + std::to_string(v.patches) + (v.seed ? ":" + std::to_string(v.seed) : "");
    }
    return "?";
}

torch::Tensor apply_view(const View& v, const torch::Tensor& x, double abar, double centre) {
    switch (v.kind) {
        case ViewKind::Identity: return x;
        case ViewKind::FlipV: return x.flip({-2});
        case ViewKind::FlipH: return x.flip({-1});
        case ViewKind::Rot90: return x.rot90(1, {-2, -1});  // counter-clockwise
        case ViewKind::Rot180: return x.flip({-2, -1});
        case ViewKind::Rot270: return x.rot90(3, {-2, -1});
        case ViewKind::Transpose: return x.transpose(-2, -1).contiguous();
        case ViewKind::Negate: return 2.0 * centre * std::sqrt(abar) - x;
        case ViewKind::Jigsaw: return move_tiles(x, v.patches, jigsaw_permutation(v.patches, v.seed));
    }
    return x;
}

torch::Tensor unview(const View& v, const torch::Tensor& p, bool is_eps) {
    switch (v.kind) {
        case ViewKind::Identity: return p;
        case ViewKind::FlipV: return p.flip({-2});
        case ViewKind::FlipH: return p.flip({-1});
        case ViewKind::Rot90: return p.rot90(3, {-2, -1});
        case ViewKind::Rot180: return p.flip({-2, -1});
        case ViewKind::Rot270: return p.rot90(1, {-2, -1});
        case ViewKind::Transpose: return p.transpose(-2, -1).contiguous();
        case ViewKind::Negate: return is_eps ? -p : p;
        case ViewKind::Jigsaw: {
            auto perm = jigsaw_permutation(v.patches, v.seed);
            std::vector<int> inverse(perm.size());
            for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int>(i);
            return move_tiles(p, v.patches, inverse);
        }
    }
    return p;
}

}  // namespace ds::diffusion
