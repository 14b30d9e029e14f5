#include "core/models/model_spec.h"

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/io/bounded_json.h"

namespace ds {

std::string to_string(ModelKind kind) {
    switch (kind) {
        case ModelKind::Denoiser: return "denoiser";
        case ModelKind::TimeDdpm: return "time-ddpm";
        case ModelKind::ClassDdpm: return "class-ddpm";
        case ModelKind::TimeFm: return "time-fm";
        case ModelKind::ClassFm: return "class-fm";
        case ModelKind::Classifier: return "classifier";
    }
    return "?";
}

ModelKind parse_model_kind(const std::string& text) {
    for (auto k : {ModelKind::Denoiser, ModelKind::TimeDdpm, ModelKind::ClassDdpm, ModelKind::TimeFm,
                   ModelKind::ClassFm, ModelKind::Classifier}) {
        if (to_string(k) == text) return k;
    }
    throw InvalidRequest("unknown model kind '" + text +
                         "': use one of denoiser, time-ddpm, class-ddpm, time-fm, class-fm, "
                         "classifier");
}

}  // namespace ds

namespace ds::models {

bool ModelSpec::is_class_conditioned() const {
    return kind == ModelKind::ClassDdpm || kind == ModelKind::ClassFm;
}
bool ModelSpec::is_ddpm() const { return kind == ModelKind::TimeDdpm || kind == ModelKind::ClassDdpm; }
bool ModelSpec::is_flow() const { return kind == ModelKind::TimeFm || kind == ModelKind::ClassFm; }

UNetConfig ModelSpec::unet_config() const {
    UNetConfig c;
    c.in_channels = in_channels;
    c.hidden = hidden;
    c.image_size = image_size;
    c.num_classes = is_class_conditioned() ? num_classes : 0;
    // fa24 DDPM adds time; fa25 flow matching multiplies (time-only UNet). Class models: c*h + t.
    if (kind == ModelKind::TimeFm) c.time_mode = TimeMode::Multiplicative;
    else if (kind == ModelKind::Denoiser || kind == ModelKind::Classifier) c.time_mode = TimeMode::None;
    else c.time_mode = TimeMode::Additive;
    return c;
}

std::string ModelSpec::to_json() const {
    nlohmann::json j = {{"kind", ds::to_string(kind)},   {"hidden", hidden},
                        {"in_channels", in_channels},    {"image_size", image_size},
                        {"num_classes", num_classes},    {"timesteps", timesteps},
                        {"beta1", beta1},                {"beta2", beta2},
                        {"sigma", sigma},                {"pure_noise", pure_noise},
                        {"dataset", dataset},            {"class_names", class_names}};
    return j.dump();
}

ModelSpec ModelSpec::from_json(const std::string& text, const std::string& where) {
    ModelSpec s;
    try {
        auto j = io::parse_json_bounded(text, where + ": model spec", 1 << 20);
        if (!j.is_object()) throw std::invalid_argument("not a JSON object");
        s.kind = parse_model_kind(j.at("kind").get<std::string>());
        s.hidden = j.value("hidden", s.hidden);
        s.in_channels = j.value("in_channels", s.in_channels);
        s.image_size = j.value("image_size", s.image_size);
        s.num_classes = j.value("num_classes", s.num_classes);
        s.timesteps = j.value("timesteps", s.timesteps);
        s.beta1 = j.value("beta1", s.beta1);
        s.beta2 = j.value("beta2", s.beta2);
        s.sigma = j.value("sigma", s.sigma);
        s.pure_noise = j.value("pure_noise", s.pure_noise);
        s.dataset = j.value("dataset", s.dataset);
        s.class_names = j.value("class_names", s.class_names);
    } catch (const std::exception& e) {
        throw ModelLoadError(where + ": invalid model spec in metadata '" + kSpecKey + "': " +
                             e.what());
    }
    const bool ok = s.hidden > 0 && s.hidden <= kMaxModelHidden && s.in_channels > 0 && s.in_channels <= 4 &&
                    s.image_size > 0 && s.image_size <= kMaxModelImageSide && s.image_size % 4 == 0 &&
                    s.num_classes >= 0 && s.num_classes <= 1000 && s.timesteps >= 2 && s.timesteps <= 100000 &&
                    s.class_names.size() <= 1000 && s.dataset.size() <= 4096;
    if (!ok) {
        throw ModelLoadError(where + ": model spec out of range (D 1.." + std::to_string(kMaxModelHidden) +
                             ", 1-4 channels, images of at most " + std::to_string(kMaxModelImageSide) +
                             " px with a side divisible by 4, up to 1000 classes, T 2..100000): " +
                             text.substr(0, 300) + (text.size() > 300 ? "..." : ""));
    }
    return s;
}

ModelSpec ModelSpec::defaults(ModelKind kind) {
    ModelSpec s;
    s.kind = kind;
    s.hidden = kind == ModelKind::Denoiser ? 128 : 64;
    s.num_classes = (kind == ModelKind::ClassDdpm || kind == ModelKind::ClassFm ||
                     kind == ModelKind::Classifier) ? 10 : 0;
    return s;
}

}  // namespace ds::models
