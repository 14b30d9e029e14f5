#include "app/cli/args.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& options,
           const std::set<std::string>& flags) {
    // A flag given a value (--check=1) is a mistake CLI11 would accept as true/false.
    for (const std::string& a : argv) {
        if (a == "--") break;
        const auto eq = a.find('=');
        if (a.rfind("--", 0) == 0 && eq != std::string::npos && flags.count(a.substr(2, eq - 2)))
            throw UsageError(a.substr(0, eq) + " takes no value");
    }
    CLI::App app;
    app.set_help_flag();  // each command prints its own help (wants_help) before parsing
    std::map<std::string, CLI::Option*> given;
    for (const std::string& name : options)
        given[name] = app.add_option("--" + name)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    for (const std::string& name : flags) given[name] = app.add_flag("--" + name);
    app.add_option("positionals", positionals_);
    std::vector<std::string> reversed(argv.rbegin(), argv.rend());  // CLI11 takes them last first
    try {
        app.parse(reversed);
    } catch (const CLI::ArgumentMismatch& e) {
        for (const auto& [name, opt] : given)
            if (std::string(e.what()).rfind("--" + name + ":", 0) == 0) throw UsageError("--" + name + " needs a value");
        throw UsageError(e.what());
    } catch (const CLI::ExtrasError&) {
        // Name the first unknown option (CLI11 lists them all, in its own words).
        for (std::size_t i = 0; i < argv.size() && argv[i] != "--"; ++i) {
            const std::string& a = argv[i];
            if (a.size() < 2 || a[0] != '-') continue;
            const std::string name = a[1] == '-' ? a.substr(2, a.find('=') - 2) : "";
            if (given.count(name)) {
                if (options.count(name) && a.find('=') == std::string::npos) ++i;  // its value
                continue;
            }
            throw UsageError("unknown option " + a.substr(0, a.find('=')) + " (see --help)");
        }
        throw UsageError("unexpected arguments (see --help)");
    } catch (const CLI::ParseError& e) {
        throw UsageError(e.what());
    }
    for (const auto& [name, opt] : given)
        if (opt->count() > 0) values_[name] = flags.count(name) ? "1" : opt->as<std::string>();
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
