#include "core/engine/part_a_requests.h"

#include "core/engine/errors.h"

namespace ds {

namespace {
template <typename E>
E parse_enum(const std::string& text, const std::vector<std::pair<const char*, E>>& names,
             const char* what) {
    std::string list;
    for (const auto& [n, v] : names) {
        if (text == n) return v;
        list += (list.empty() ? "" : ", ") + std::string(n);
    }
    throw InvalidRequest("unknown " + std::string(what) + " '" + text + "' (valid: " + list + ")");
}
template <typename E>
std::string name_of(E value, const std::vector<std::pair<const char*, E>>& names) {
    for (const auto& [n, v] : names)
        if (v == value) return n;
    return "?";
}

const std::vector<std::pair<const char*, VarianceChoice>> kVariance = {
    {"auto", VarianceChoice::Auto},         {"beta", VarianceChoice::Beta},
    {"posterior", VarianceChoice::Posterior}, {"learned", VarianceChoice::Learned},
    {"none", VarianceChoice::None}};
const std::vector<std::pair<const char*, X0Limit>> kX0 = {
    {"none", X0Limit::None}, {"clip", X0Limit::Clip}, {"dynamic", X0Limit::Dynamic}};
const std::vector<std::pair<const char*, InputFit>> kFit = {
    {"auto", InputFit::Auto}, {"stretch", InputFit::Stretch}, {"crop", InputFit::CenterCrop},
    {"pad", InputFit::Pad},   {"digit", InputFit::Digit}};
const std::vector<std::pair<const char*, Invert>> kInvert = {
    {"auto", Invert::Auto}, {"yes", Invert::Yes}, {"no", Invert::No}};
}  // namespace

std::string to_string(VarianceChoice v) { return name_of(v, kVariance); }
std::string to_string(X0Limit v) { return name_of(v, kX0); }
std::string to_string(InputFit v) { return name_of(v, kFit); }
std::string to_string(Invert v) { return name_of(v, kInvert); }
VarianceChoice parse_variance_choice(const std::string& t) { return parse_enum(t, kVariance, "variance"); }
X0Limit parse_x0_limit(const std::string& t) { return parse_enum(t, kX0, "x0 limit"); }
InputFit parse_input_fit(const std::string& t) { return parse_enum(t, kFit, "fit"); }
Invert parse_invert(const std::string& t) { return parse_enum(t, kInvert, "invert mode"); }

}  // namespace ds
