#include "core/jobs/session.h"

#include <cmath>
#include <filesystem>
#include <regex>

#include "core/data/mnist.h"
#include "core/diffusion/mnist_predictor.h"
#include "core/diffusion/schedule.h"
#include "core/diffusion/techniques.h"
#include "core/engine/errors.h"
#include "core/engine/hashing.h"
#include "core/io/tensor_image.h"
#include "core/io/text_checks.h"
#include "core/jobs/image_prep.h"
#include "core/jobs/predictors.h"
#include "core/models/if_config.h"

namespace ds::jobs {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Auto resolved for the model; Learned refused for a model without variance channels.
VarianceChoice resolve_variance(VarianceChoice v, const diffusion::NoisePredictor& m) {
    if (v == VarianceChoice::Auto)
        // Without learned channels: the posterior variance, which on strided lists is smaller
        // than the skipped step's beta and leaves less grain.
        return m.has_learned_variance() ? VarianceChoice::Learned : VarianceChoice::Posterior;
    if (v == VarianceChoice::Learned && !m.has_learned_variance())
        throw InvalidRequest("this model has no learned variance channels: use variance beta, posterior or none");
    return v;
}

// "mnist:test:7" / "fashion-mnist:train:0": an image of a dataset split; empty if `path` is not
// of that form.
Image dataset_image(const Session& ss, const std::string& path) {
    static const std::regex form(R"(^(mnist|fashion-mnist):(train|test):(\d{1,6})$)");
    std::smatch m;
    if (!std::regex_match(path, m, form)) {
        if ((path.rfind("mnist:", 0) == 0 || path.rfind("fashion-mnist:", 0) == 0) && !fs::exists(path))
            throw InvalidRequest(io::quoted(path) + " is not a data-set image: write DATASET:SPLIT:INDEX, e.g. "
                                 "mnist:test:7 (DATASET mnist or fashion-mnist, SPLIT train or test, INDEX a number)");
        return {};
    }
    auto split = data::load_mnist(m[1], ss.data_dir, m[2] == "train");
    const long index = std::stol(m[3]);
    if (index >= split.images.size(0))
        throw InvalidRequest("'" + path + "': the split has " + std::to_string(split.images.size(0)) + " images");
    return io::tensor_to_image(split.images[index]);
}

}  // namespace

Image Session::grid(const torch::Tensor& x, int columns) const {
    return io::tensor_grid(x, columns > 0 ? columns : std::min<int>(x.size(0), kMaxColumns), range.first,
                           range.second, 2, scale);
}

Image Session::tile(const torch::Tensor& chw) const {
    return scale_nearest(io::tensor_to_image(chw, range.first, range.second), scale);
}

std::vector<Image> Session::images(const torch::Tensor& batch) const {
    std::vector<Image> out;
    for (std::int64_t i = 0; i < batch.size(0); ++i) out.push_back(io::tensor_to_image(batch[i], range.first, range.second));
    return out;
}

Reporter Session::reporter(const Callbacks& callbacks, const std::string& phase, int total, int columns) const {
    return Reporter(callbacks, phase, total, [this, columns](const torch::Tensor& x) { return grid(x, columns); },
                    start);
}

Session open_session(const RunContext& ctx, const SamplerSettings& s, const std::string& technique,
                     double guidance_default_override) {
    if (s.count < 1 || s.count > kMaxCount) throw InvalidRequest("count must be in 1.." + std::to_string(kMaxCount));
    if (s.guidance > 100 || std::isnan(s.guidance)) throw InvalidRequest("guidance must be at most 100");
    const bool is_if = models::is_if_folder(s.model);
    Session ss;
    if (is_if) check_if_memory(ctx, s.model, "", {s.prompt, s.negative_prompt});
    ss.model = open_predictor(ctx, s.model);
    if (auto* mnist = dynamic_cast<diffusion::MnistNoisePredictor*>(ss.model.get()); mnist && !mnist->model().warning.empty())
        ss.notes.push_back(mnist->model().warning);
    ss.data_dir = ctx.data_dir;
    auto& m = *ss.model;
    ss.timesteps = s.timesteps.empty() ? diffusion::default_strided_timesteps(m.num_timesteps()) : s.timesteps;
    diffusion::check_timesteps(ss.timesteps, m.num_timesteps());
    const double fallback = guidance_default_override >= 0 ? guidance_default_override : m.default_guidance();
    ss.guidance = !m.is_conditional() ? 1.0 : (s.guidance < 0 ? fallback : s.guidance);
    ss.variance = resolve_variance(s.variance, m);
    ss.x0.mode = s.x0_limit;
    ss.gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
    ss.range = m.value_range();
    ss.shape = m.sample_shape();
    ss.scale = std::max<int>(1, kFigurePixels / std::max<std::int64_t>(1, ss.shape[1]));
    ss.recipe = {{"format", "ds.recipe/1"},
                 {"technique", technique},
                 {"model", s.model},
                 {"seed", s.seed},
                 {"guidance", ss.guidance},
                 {"timesteps", ss.timesteps},
                 {"variance", to_string(s.variance)},
                 {"x0_limit", to_string(s.x0_limit)},
                 {"count", s.count}};
    if (!s.negative_prompt.empty()) ss.recipe["negative_prompt"] = s.negative_prompt;
    // IF results depend on the precision; fp32 (the default) is left out, as in older recipes.
    if (is_if && ctx.if_precision().name() != "fp32") ss.recipe["dtype"] = ctx.if_precision().name();
    // So does an MNIST result made in bf16 (--dtype bf16 or auto): its replay uses it.
    const std::string mnist_dtype = models::Precision(ctx.mnist_precision.cpu_compute()).name();
    if (!is_if && mnist_dtype != "fp32") ss.recipe["dtype"] = mnist_dtype;
    if (is_if && !ctx.if_precision().device.is_cpu()) ss.recipe["device"] = ctx.if_precision().device.str();
    return ss;
}

diffusion::Conditioning encode(Session& ss, const std::string& prompt, int n, const SamplerSettings& s) {
    return ss.model->encode_prompts(std::vector<std::string>(n, prompt), s.negative_prompt);
}

torch::Tensor load_image(Session& ss, const ImageInput& in, const char* key) {
    Image img = dataset_image(ss, in.path);
    if (img.empty()) img = load_input(in, key);
    json j = {{"fit", to_string(in.fit)}, {"invert", to_string(in.invert)}};
    if (!in.path.empty()) {
        j["path"] = in.path;
        j["sha256"] = fs::exists(in.path) ? sha256_file(in.path)
                                          : sha256_hex(std::string(img.pixels.begin(), img.pixels.end()));
    } else {
        j["sha256"] = sha256_hex(std::string(img.pixels.begin(), img.pixels.end()));
        j["size"] = {img.width, img.height, img.channels};
    }
    ss.recipe[key] = j;
    return prepare_image(img, int(ss.shape[0]), int(ss.shape[1]), int(ss.shape[2]), in.fit, in.invert, ss.range,
                         ss.notes);
}

diffusion::IterativeOptions make_options(Session& ss, Reporter& rep, const CancelToken& cancel, int i_start) {
    diffusion::IterativeOptions o;
    o.timesteps = ss.timesteps;
    o.i_start = i_start;
    o.variance = ss.variance;
    o.x0 = ss.x0;
    o.guidance = ss.guidance;
    o.generator = ss.gen;
    o.cancel = &cancel;
    o.on_step = [&rep](const diffusion::StepInfo& s) { rep.step(s.step, s.total, double(s.t_next), *s.x, *s.x0); };
    return o;
}

void check_i_start(const Session& ss, int i_start) {
    const int n = static_cast<int>(ss.timesteps.size());
    if (i_start < 0 || i_start >= n)
        throw InvalidRequest("i_start " + std::to_string(i_start) + " is outside 0.." + std::to_string(n - 1) +
                             " (the timestep list has " + std::to_string(n) + " entries)");
}

PartAResult finish(Session& ss, PartAResult r) {
    r.notes.insert(r.notes.end(), ss.notes.begin(), ss.notes.end());
    ss.recipe["notes"] = r.notes;
    r.recipe_json = ss.recipe.dump(2);
    r.seconds = std::chrono::duration<double>(Clock::now() - ss.start).count();
    return r;
}

PartAResult cancelled(const Session& ss) {
    PartAResult r;
    r.outcome = Outcome::Cancelled;
    r.seconds = std::chrono::duration<double>(Clock::now() - ss.start).count();
    return r;
}

std::string t_caption(const std::string& what, const std::vector<std::int64_t>& ts) {
    std::string s = what;
    for (size_t i = 0; i < ts.size(); ++i) s += (i ? ", " : " ") + std::to_string(ts[i]);
    return s;
}

std::string prompt_label(const std::string& p) { return p.empty() ? "(unconditional)" : io::quoted(p, 200); }

}  // namespace ds::jobs
