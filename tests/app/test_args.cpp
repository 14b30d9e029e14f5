// The commands' option parser (app/cli/args, on CLI11): values, flags, positionals, repeats and
// the messages of every usage error.
#include <catch2/catch.hpp>

#include "app/cli/args.h"

using cli::Args;
using cli::UsageError;
using Catch::Contains;
using V = std::vector<std::string>;

namespace {
std::string error_of(const V& argv) {
    try {
        Args(argv, {"seed", "guidance", "out", "prompt"}, {"check"});
    } catch (const UsageError& e) {
        return e.what();
    }
    return "accepted";
}
}  // namespace

TEST_CASE("options, flags and positionals parse as the commands expect", "[cli][args]") {
    const Args a({"a prompt", "--seed", "7", "--guidance=-1.5", "--check", "tail", "--out", "o.png"},
                 {"seed", "guidance", "out"}, {"check"});
    CHECK(a.integer("seed", 0) == 7);
    CHECK(a.number("guidance", 0) == -1.5);
    CHECK(a.has("check"));
    CHECK(a.str("out") == "o.png");
    CHECK(a.positionals() == V{"a prompt", "tail"});
    CHECK_FALSE(a.has("prompt"));
    CHECK(a.str("prompt", "fallback") == "fallback");
    // A negative value after a space, the last of repeated options, everything after --.
    const Args b({"--guidance", "-2", "--seed", "1", "--seed", "2", "--", "--seed"}, {"seed", "guidance"}, {});
    CHECK(b.number("guidance", 0) == -2);
    CHECK(b.u64("seed", 0) == 2);
    CHECK(b.positionals() == V{"--seed"});
    const Args lists({"--guidance", "1,2.5,3"}, {"guidance"}, {});
    CHECK(lists.numbers("guidance", {}) == std::vector<double>{1, 2.5, 3});
    CHECK_THROWS_WITH(lists.integers("guidance", {}), Contains("needs integers"));
}

TEST_CASE("usage errors name the option and what is wrong", "[cli][args]") {
    CHECK_THAT(error_of({"--bogus", "1"}), Contains("unknown option --bogus (see --help)"));
    CHECK_THAT(error_of({"--seed", "1", "--bogus=2"}), Contains("unknown option --bogus"));
    CHECK_THAT(error_of({"--guidance", "-1", "-x"}), Contains("unknown option -x"));
    CHECK_THAT(error_of({"--out"}), Contains("--out needs a value"));
    CHECK_THAT(error_of({"--check=1"}), Contains("--check takes no value"));
    CHECK(error_of({"--seed", "1", "--check", "p"}) == "accepted");
    const Args bad({"--seed", "abc", "--guidance", "1e999"}, {"seed", "guidance"}, {});
    CHECK_THROWS_WITH(bad.integer("seed", 0), Contains("'abc' is not a number"));
    CHECK_THROWS_WITH(bad.number("guidance", 0), Contains("is not a number"));
    const Args neg({"--seed", "-3"}, {"seed"}, {});
    CHECK_THROWS_WITH(neg.u64("seed", 0), Contains("not a non-negative integer"));
}
