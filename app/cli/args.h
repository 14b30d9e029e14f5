#pragma once
// The commands' option parser, on CLI11: `--name value` / `--name=value` (the last one given wins),
// `--flag`, positionals (everything after `--` too); unknown options are errors. Typed accessors
// give the project's own messages.
#include <map>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Args {
public:
    // `flags` take no value; every other known option takes exactly one.
    Args(const std::vector<std::string>& argv, const std::set<std::string>& options,
         const std::set<std::string>& flags);

    bool has(const std::string& name) const;
    std::string str(const std::string& name, const std::string& fallback = "") const;
    int integer(const std::string& name, int fallback) const;
    std::uint64_t u64(const std::string& name, std::uint64_t fallback) const;
    double number(const std::string& name, double fallback) const;
    std::vector<double> numbers(const std::string& name, const std::vector<double>& fallback) const;
    std::vector<int> integers(const std::string& name, const std::vector<int>& fallback) const;
    const std::vector<std::string>& positionals() const { return positionals_; }

private:
    std::map<std::string, std::string> values_;
    std::vector<std::string> positionals_;
};

}  // namespace cli
