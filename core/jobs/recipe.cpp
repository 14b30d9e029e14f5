#include "core/engine/recipe.h"

#include <filesystem>
#include <regex>

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "core/engine/errors.h"
#include "core/engine/hashing.h"
#include "core/engine/image.h"
#include "core/io/bounded_json.h"

namespace ds {

bool RecipeInput::is_dataset_image() const {
    static const std::regex form(R"(^(mnist|fashion-mnist):(train|test):\d{1,6}$)");
    std::error_code ec;
    return std::regex_match(path, form) && !std::filesystem::exists(path, ec);
}


namespace {
using json = nlohmann::json;

// Options that name files to write, or stop the command from running: only the user's own
// command line may give them.
const std::set<std::string> kForbiddenOptions = {"out", "gif", "raw", "help"};
// Options that only shape a GIF the user's own command line asks for (older recipes carry them):
// dropped from argv, with their value, rather than refused.
const std::set<std::string> kDroppedOptions = {"gif-every", "gif-x0"};
const std::set<std::string> kDroppedFlags = {"gif-x0"};  // take no value

bool contains(const std::vector<std::string>& list, const std::string& s) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

struct Checker {
    const std::string& source;
    [[noreturn]] void fail(const std::string& what) const {
        throw DataError("'" + source + "' is not a usable recipe: " + what);
    }
    std::string text(const json& v, const std::string& field) const {
        if (!v.is_string()) fail("\"" + field + "\" must be a string");
        const auto& s = v.get_ref<const std::string&>();
        if (s.size() > kMaxRecipeText) fail("\"" + field + "\" is longer than " + std::to_string(kMaxRecipeText) + " bytes");
        if (s.find('\0') != std::string::npos) fail("\"" + field + "\" contains a NUL byte");
        return s;
    }
    void number(const json& r, const char* field, double lo, double hi) const {
        if (!r.contains(field)) return;
        const auto& v = r[field];
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo || v.get<double>() > hi)
            fail(std::string("\"") + field + "\" must be a number in [" + json(lo).dump() + ", " + json(hi).dump() + "]");
    }
    void integers(const json& r, const char* field, double lo, double hi) const {
        if (!r.contains(field)) return;
        const auto& v = r[field];
        if (!v.is_array() || v.size() > 100000) fail(std::string("\"") + field + "\" must be a list of integers");
        for (const auto& e : v)
            if (!e.is_number_integer() || e.get<double>() < lo || e.get<double>() > hi)
                fail(std::string("\"") + field + "\" must hold integers in [" + json(lo).dump() + ", " + json(hi).dump() + "]");
    }
    void numbers(const json& r, const char* field, double lo, double hi, std::size_t max_count) const {
        if (!r.contains(field)) return;
        const auto& v = r[field];
        if (!v.is_array() || v.size() > max_count)
            fail(std::string("\"") + field + "\" must be a list of at most " + std::to_string(max_count) + " numbers");
        for (const auto& e : v)
            if (!e.is_number() || !std::isfinite(e.get<double>()) || e.get<double>() < lo || e.get<double>() > hi)
                fail(std::string("\"") + field + "\" must hold numbers in [" + json(lo).dump() + ", " + json(hi).dump() + "]");
    }
    void flag(const json& r, const char* field) const {
        if (r.contains(field) && !r[field].is_boolean()) fail(std::string("\"") + field + "\" must be true or false");
    }
    void strings(const json& r, const char* field, std::size_t max_count) const {
        if (!r.contains(field)) return;
        const auto& v = r[field];
        if (!v.is_array() || v.size() > max_count)
            fail(std::string("\"") + field + "\" must be a list of at most " + std::to_string(max_count) + " strings");
        for (const auto& e : v) text(e, field);
    }
};
}  // namespace

namespace {
// Options that name output files, or only shape one (the GIF's frame spacing): left out of a
// recipe's argv.
const std::set<std::string> kOutputOptions = {"out", "gif", "raw", "gif-every"};
const std::set<std::string> kOutputFlags = {"gif-x0"};
}  // namespace

std::string recipe_sidecar_path(const std::string& png) {
    return std::filesystem::path(png).replace_extension(".json").string();
}

void save_result_png(const Image& figure, const std::string& out, const std::string& recipe_json,
                     const std::string& command, const std::vector<std::string>& argv) {
    json recipe = io::parse_json_bounded(recipe_json, "recipe of '" + out + "'", kMaxRecipeBytes);
    if (!recipe.is_object()) throw DataError("the recipe of '" + out + "' is not a JSON object");
    if (!command.empty()) {
        std::vector<std::string> kept;
        for (std::size_t i = 0; i < argv.size(); ++i) {
            const bool option = argv[i].rfind("--", 0) == 0;
            if (option && kOutputFlags.count(argv[i].substr(2))) continue;
            if (option && kOutputOptions.count(argv[i].substr(2))) {
                ++i;  // and its value
                continue;
            }
            kept.push_back(argv[i]);
        }
        recipe["command"] = command;
        recipe["argv"] = kept;
    }
    write_png(figure, out, {{"ds.recipe", recipe.dump(2)}});
    recipe["output"] = {{"file", std::filesystem::path(out).filename().string()}, {"sha256", sha256_file(out)}};
    write_text_file(recipe_sidecar_path(out), recipe.dump(2) + "\n");
}

const std::vector<std::string>& replayable_commands() {
    static const std::vector<std::string> c = {"forward", "blur",    "one-step", "explore", "iterate", "sdedit",
                                               "inpaint", "anagram", "hybrid",   "generate", "sample",
                                               "denoise"};
    return c;
}

const std::vector<std::string>& recipe_techniques() {
    // "sample" is Part A sampling from pure noise (an iterate without input); Part B generation
    // grids (dstudio sample) are "part-b-sample" (older ones said "sample" with command "sample").
    static const std::vector<std::string> t = {"explore", "iterate", "sample", "sdedit", "inpaint", "anagram",
                                               "hybrid", "if-generate", "denoise", "part-b-sample"};
    return t;
}

Recipe parse_recipe(const std::string& text, const std::string& source) {
    const json r = io::parse_json_bounded(text, "recipe '" + source + "'", kMaxRecipeBytes);
    const Checker c{source};
    if (!r.is_object()) c.fail("not a JSON object");
    if (!r.contains("format") || r["format"] != "ds.recipe/1") c.fail("no \"format\": \"ds.recipe/1\"");
    Recipe out;
    if (!r.contains("technique")) c.fail("no \"technique\"");
    out.technique = c.text(r["technique"], "technique");
    if (!contains(recipe_techniques(), out.technique)) c.fail("unknown technique '" + out.technique + "'");

    if (r.contains("command") || r.contains("argv")) {
        if (!r.contains("command") || !r.contains("argv")) c.fail("\"command\" and \"argv\" go together");
        out.command = c.text(r["command"], "command");
        if (!contains(replayable_commands(), out.command))
            c.fail("command '" + out.command + "' cannot be replayed (only sampling commands can: forward, blur, "
                   "one-step, explore, iterate, sdedit, inpaint, anagram, hybrid, generate, sample, denoise)");
        const auto& a = r["argv"];
        if (!a.is_array() || a.size() > kMaxRecipeArgs)
            c.fail("\"argv\" must be a list of at most " + std::to_string(kMaxRecipeArgs) + " strings");
        std::vector<std::string> given;
        for (const auto& e : a) given.push_back(c.text(e, "argv"));
        for (size_t i = 0; i < given.size(); ++i) {
            const std::string& arg = given[i];
            const std::string name = arg.rfind("--", 0) == 0 ? arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2) : "";
            if (kDroppedOptions.count(name)) {
                if (!kDroppedFlags.count(name) && arg.find('=') == std::string::npos) ++i;  // and its value
                continue;
            }
            out.argv.push_back(arg);
        }
        // Inpainting recipes from before mask.cover existed shrank a large mask by half coverage.
        if (out.command == "inpaint" && r.contains("mask") && r["mask"].is_object() &&
            !r["mask"].contains("cover") &&
            std::none_of(out.argv.begin(), out.argv.end(), [](const std::string& s) { return s.rfind("--mask-cover", 0) == 0; })) {
            out.argv.push_back("--mask-cover");
            out.argv.push_back("half");
        }
        for (const auto& arg : out.argv) {
            if (arg == "-h") c.fail("\"argv\" asks for help");
            if (arg.rfind("--", 0) != 0) continue;
            const std::string name = arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
            if (kForbiddenOptions.count(name))
                c.fail("\"argv\" gives --" + name + "; output files come only from your own command line");
        }
    }
    if (r.contains("dtype")) {
        out.dtype = c.text(r["dtype"], "dtype");
        if (out.dtype != "fp32" && out.dtype != "bf16" && out.dtype != "fp16" && out.dtype != "fp32-w16")
            c.fail("dtype '" + out.dtype + "' (fp32, bf16, fp16 or fp32-w16)");
    }
    if (r.contains("device")) {
        out.device = c.text(r["device"], "device");
        const bool cuda_n = out.device.rfind("cuda:", 0) == 0 && out.device.size() > 5 && out.device.size() <= 8 &&
                            out.device.find_first_not_of("0123456789", 5) == std::string::npos;
        if (out.device != "cpu" && out.device != "cuda" && !cuda_n)
            c.fail("device '" + out.device + "' (cpu, cuda or cuda:N)");
    }
    for (const char* key : {"input", "mask"}) {
        if (!r.contains(key)) continue;
        const auto& v = r[key];
        if (!v.is_object()) c.fail(std::string("\"") + key + "\" must be an object");
        if (!v.contains("path")) continue;
        RecipeInput in{key, c.text(v["path"], std::string(key) + ".path"), ""};
        if (v.contains("sha256")) in.sha256 = c.text(v["sha256"], std::string(key) + ".sha256");
        if (in.path.empty()) c.fail(std::string("\"") + key + ".path\" is empty");
        c.number(v, "grow", 0, 1000);
        c.number(v, "feather", 0, 1000);
        if (v.contains("cover")) {
            const std::string cover = c.text(v["cover"], std::string(key) + ".cover");
            if (cover != "any" && cover != "half") c.fail("\"" + std::string(key) + ".cover\" must be any or half");
        }
        out.inputs.push_back(in);
    }
    if (r.contains("output")) {
        const auto& o = r["output"];
        if (!o.is_object()) c.fail("\"output\" must be an object");
        if (o.contains("sha256")) out.output_sha256 = c.text(o["sha256"], "output.sha256");
    }
    // The settings the GUI restores: types and ranges (the commands check the rest when replayed).
    for (const char* f : {"model", "weights", "upscaler", "prompt", "negative_prompt", "prompt_far", "prompt_near"})
        if (r.contains(f)) c.text(r[f], f);
    c.number(r, "seed", 0, 18446744073709551615.0);
    c.number(r, "guidance", -1000, 1000);
    c.number(r, "count", 0, 100000);
    c.number(r, "steps", 0, 100000);
    c.number(r, "upscale_steps", 0, 100000);
    c.number(r, "i_start", -1, 100000);
    c.number(r, "kernel", 0, 1001);
    c.number(r, "sigma", 0, 1000);
    c.number(r, "flow_steps", 0, 100000);
    c.numbers(r, "sweep", 0, 1000, 64);
    c.flag(r, "pure_noise");
    c.integers(r, "timesteps", 0, 100000);
    c.integers(r, "i_starts", -1, 100000);
    c.integers(r, "t_list", 0, 100000);
    c.strings(r, "prompts", 64);
    c.strings(r, "views", 64);

    RecipeSettings& st = out.settings;
    auto str = [&](const char* f) { return r.contains(f) ? r[f].get<std::string>() : std::string(); };
    auto integer = [&](const char* f) { return r.contains(f) ? std::optional<int>(int(r[f].get<double>())) : std::nullopt; };
    auto real = [&](const char* f) { return r.contains(f) ? std::optional<double>(r[f].get<double>()) : std::nullopt; };
    st.model = r.contains("model") ? str("model") : str("weights");
    st.upscaler = str("upscaler");
    if (r.contains("seed")) st.seed = r["seed"].is_number_unsigned() ? r["seed"].get<std::uint64_t>()
                                                                     : std::uint64_t(r["seed"].get<double>());
    st.guidance = real("guidance");
    st.count = integer("count");
    st.steps = integer("steps");
    st.upscale_steps = integer("upscale_steps");
    st.flow_steps = integer("flow_steps");
    st.i_start = integer("i_start");
    st.kernel = integer("kernel");
    st.sigma = real("sigma");
    if (r.contains("pure_noise")) st.pure_noise = r["pure_noise"].get<bool>();
    if (r.contains("timesteps")) st.timesteps = r["timesteps"].get<std::vector<std::int64_t>>();
    if (r.contains("i_starts")) st.i_starts = r["i_starts"].get<std::vector<int>>();
    if (r.contains("t_list")) st.t_list = r["t_list"].get<std::vector<std::int64_t>>();
    if (r.contains("sweep")) st.sweep = r["sweep"].get<std::vector<double>>();
    if (r.contains("views")) st.views = r["views"].get<std::vector<std::string>>();
    st.negative_prompt = str("negative_prompt");
    if (r.contains("prompt_far") || r.contains("prompt_near")) {
        st.prompts = {str("prompt_far"), str("prompt_near")};
    } else {
        if (r.contains("prompt")) st.prompts.push_back(str("prompt"));
        if (r.contains("prompts"))
            for (const auto& p : r["prompts"]) st.prompts.push_back(p.get<std::string>());
    }
    if (r.contains("mask")) {  // an object (checked above)
        const auto& m = r["mask"];
        c.number(m, "grow", 0, 1000);
        c.number(m, "feather", 0, 1000);
        if (m.contains("grow")) st.mask_grow = m["grow"].get<double>();
        if (m.contains("feather")) st.mask_feather = m["feather"].get<double>();
    }
    return out;
}

}  // namespace ds
