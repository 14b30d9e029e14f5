// A training request's recipe: the course defaults, the range checks, recipe.json and what a
// --resume takes back from a checkpoint's recipe.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/diffusion/generate.h"
#include "core/engine/errors.h"
#include "core/train/run.h"
#include "core/train/trainer.h"

namespace ds::train {

TrainRequest with_defaults(const TrainRequest& in) {
    TrainRequest r = in;
    const bool ddpm = r.kind == ModelKind::TimeDdpm || r.kind == ModelKind::ClassDdpm;
    const bool flow = r.kind == ModelKind::TimeFm || r.kind == ModelKind::ClassFm;
    if (r.epochs <= 0) r.epochs = ddpm ? 20 : flow ? 10 : r.kind == ModelKind::Classifier ? 4 : 5;
    if (r.batch_size <= 0) r.batch_size = ddpm || r.kind == ModelKind::Classifier ? 128 : flow ? 64 : 256;
    if (r.hidden <= 0) r.hidden = r.kind == ModelKind::Denoiser ? 128 : 64;
    if (r.lr <= 0) r.lr = ddpm || r.kind == ModelKind::Classifier ? 1e-3 : flow ? 1e-2 : 1e-4;
    if (r.lr_decay < 0) r.lr_decay = (ddpm || flow || r.kind == ModelKind::Classifier) ? 1 : 0;
    if (r.sample_steps <= 0) r.sample_steps = diffusion::default_flow_steps(r.kind);
    if (r.precision.empty()) r.precision = "fp32";
    if (r.epoch_grids < 0) r.epoch_grids = 1;
    if (r.checkpoint_minutes == -1) r.checkpoint_minutes = kDefaultCheckpointMinutes;
    if (r.checkpoint_steps == -1) r.checkpoint_steps = 0;
    return r;
}

void validate(const TrainRequest& r) {
    auto bad = [](const std::string& m) { throw InvalidRequest("invalid training request: " + m); };
    if (r.out_dir.empty()) bad("an output folder is required (--out DIR)");
    if (r.epochs < 1 || r.epochs > 10000) bad("epochs must be in 1..10000");
    if (r.batch_size < 1 || r.batch_size > 65536) bad("batch size must be in 1..65536");
    if (r.hidden < 1 || r.hidden > 1024) bad("hidden width D must be in 1..1024");
    if (!(r.lr > 0 && r.lr < 10)) bad("learning rate must be in (0, 10)");
    if (!(std::isfinite(r.sigma) && r.sigma >= 0 && r.sigma <= 100)) bad("sigma must be in [0, 100]");
    if (!(r.p_uncond >= 0 && r.p_uncond <= 1)) bad("p_uncond must be in [0, 1]");
    if (!(std::isfinite(r.grad_clip) && r.grad_clip >= 0)) bad("grad clip must be >= 0");
    if (r.timesteps < 2 || r.timesteps > 10000) bad("timesteps must be in 2..10000");
    if (r.limit < 0) bad("limit must be >= 0");
    if (!r.init_from.empty() && r.resume)
        bad("--init starts a new run from a model's weights; it cannot be combined with --resume");
    if (!std::isfinite(r.guidance)) bad("guidance must be finite");
    if (!(r.ema == -1 || (r.ema >= 0 && r.ema < 1)))
        bad("EMA decay must be in [0, 1) (e.g. 0.999; 0 = off)");
    if (!r.precision.empty() && r.precision != "fp32" && r.precision != "bf16")
        bad("precision must be fp32 or bf16 (got '" + r.precision + "')");
    if (!(std::isfinite(r.checkpoint_minutes) && r.checkpoint_minutes >= 0 && r.checkpoint_minutes <= 24 * 60))
        bad("checkpoint interval must be in 0..1440 minutes (0 = only at epoch ends)");
    if (r.checkpoint_steps < 0) bad("checkpoint steps must be >= 0 (0 = off)");
}

namespace detail {

json recipe_json(const TrainRequest& r) {
    return {{"kind", to_string(r.kind)}, {"dataset", r.dataset},   {"epochs", r.epochs},
            {"batch_size", r.batch_size}, {"hidden", r.hidden},    {"lr", r.lr},
            {"lr_decay", r.lr_decay},   {"sigma", r.sigma},        {"pure_noise", r.pure_noise},
            {"p_uncond", r.p_uncond},   {"grad_clip", r.grad_clip}, {"timesteps", r.timesteps},
            {"sample_steps", r.sample_steps}, {"guidance", r.guidance},
            {"seed", r.seed},           {"limit", r.limit}, {"init_from", r.init_from},
            {"ema", std::max(r.ema, 0.0)}, {"precision", r.precision.empty() ? "fp32" : r.precision},
            {"epoch_grids", r.epoch_grids != 0}, {"checkpoint_minutes", r.checkpoint_minutes},
            {"checkpoint_steps", r.checkpoint_steps}};
}

// --resume continues the run as it was started: every hyperparameter the request leaves at its
// default (sentinel or built-in default value) is taken from the checkpoint's recipe; values
// given explicitly win (e.g. more --epochs). Returns "name value" for each adopted field.
std::vector<std::string> adopt_recipe(TrainRequest& r, const json& recipe) {
    std::vector<std::string> taken;
    const TrainRequest defaults;
    if (r.kind_from_run && recipe.contains("kind")) {
        r.kind = parse_model_kind(recipe.at("kind").get<std::string>());
        taken.push_back("kind " + to_string(r.kind));
    }
    auto take = [&](const char* key, auto& field, bool is_default) {
        using T = std::decay_t<decltype(field)>;
        if (!is_default || !recipe.contains(key)) return;
        const T saved = recipe.at(key).get<T>();
        if (saved == field) return;
        field = saved;
        std::ostringstream v;
        v << key << " " << saved;
        taken.push_back(v.str());
    };
    take("epochs", r.epochs, r.epochs <= 0);
    take("batch_size", r.batch_size, r.batch_size <= 0);
    take("hidden", r.hidden, r.hidden <= 0);
    take("lr", r.lr, r.lr <= 0);
    take("lr_decay", r.lr_decay, r.lr_decay < 0);
    take("sample_steps", r.sample_steps, r.sample_steps <= 0);
    take("dataset", r.dataset, r.dataset == defaults.dataset);
    take("sigma", r.sigma, r.sigma == defaults.sigma);
    take("pure_noise", r.pure_noise, r.pure_noise == defaults.pure_noise);
    take("p_uncond", r.p_uncond, r.p_uncond == defaults.p_uncond);
    take("grad_clip", r.grad_clip, r.grad_clip == defaults.grad_clip);
    take("timesteps", r.timesteps, r.timesteps == defaults.timesteps);
    take("guidance", r.guidance, r.guidance == defaults.guidance);
    take("seed", r.seed, r.seed == defaults.seed);
    take("limit", r.limit, r.limit == defaults.limit);
    take("ema", r.ema, r.ema < 0);
    take("precision", r.precision, r.precision.empty());
    take("checkpoint_minutes", r.checkpoint_minutes, r.checkpoint_minutes == -1);
    take("checkpoint_steps", r.checkpoint_steps, r.checkpoint_steps == -1);
    if (r.epoch_grids < 0 && recipe.contains("epoch_grids")) {
        const bool saved = recipe.at("epoch_grids").get<bool>();
        r.epoch_grids = saved ? 1 : 0;
        if (!saved) taken.push_back("no epoch grids");
    }
    return taken;
}

}  // namespace detail
}  // namespace ds::train
