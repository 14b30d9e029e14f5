#include "app/cli/args.h"

#include <cmath>
#include <sstream>

namespace cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& options,
           const std::set<std::string>& flags) {
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.rfind("--", 0) != 0 || a == "--") {
            positionals_.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        auto eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (flags.count(name)) {
            if (eq != std::string::npos) throw UsageError("--" + name + " takes no value");
            values_[name] = "1";
        } else if (options.count(name)) {
            if (eq == std::string::npos) {
                if (i + 1 >= argv.size()) throw UsageError("--" + name + " needs a value");
                value = argv[++i];
            }
            values_[name] = value;
        } else {
            throw UsageError("unknown option --" + name + " (see --help)");
        }
    }
}

bool Args::has(const std::string& name) const { return values_.count(name) > 0; }

std::string Args::str(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

namespace {
double parse_number(const std::string& name, const std::string& text) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (...) {
        used = 0;
    }
    if (used != text.size() || text.empty() || !std::isfinite(v))
        throw UsageError("--" + name + ": '" + text + "' is not a number");
    return v;
}
}  // namespace

int Args::integer(const std::string& name, int fallback) const {
    if (!has(name)) return fallback;
    double v = parse_number(name, str(name));
    if (v != std::floor(v) || std::fabs(v) > 2e9) throw UsageError("--" + name + " must be an integer");
    return static_cast<int>(v);
}

std::uint64_t Args::u64(const std::string& name, std::uint64_t fallback) const {
    if (!has(name)) return fallback;
    const std::string s = str(name);
    size_t used = 0;
    std::uint64_t v = 0;
    try {
        v = std::stoull(s, &used);
    } catch (...) {
        used = 0;
    }
    if (used != s.size() || s.empty() || s[0] == '-')
        throw UsageError("--" + name + ": '" + s + "' is not a non-negative integer");
    return v;
}

double Args::number(const std::string& name, double fallback) const {
    return has(name) ? parse_number(name, str(name)) : fallback;
}

std::vector<double> Args::numbers(const std::string& name, const std::vector<double>& fallback) const {
    if (!has(name)) return fallback;
    std::vector<double> out;
    std::stringstream ss(str(name));
    for (std::string item; std::getline(ss, item, ',');) out.push_back(parse_number(name, item));
    if (out.empty()) throw UsageError("--" + name + " needs a comma-separated list");
    return out;
}

std::vector<int> Args::integers(const std::string& name, const std::vector<int>& fallback) const {
    if (!has(name)) return fallback;
    std::vector<int> out;
    for (double v : numbers(name, {})) {
        if (v != std::floor(v)) throw UsageError("--" + name + " needs integers");
        out.push_back(static_cast<int>(v));
    }
    return out;
}

}  // namespace cli
