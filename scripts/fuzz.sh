#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang + ASan/UBSan, in build-fuzz/) and runs each for
# SECONDS over a scratch copy of its committed corpus. Exits 0 with a notice when clang is not
# installed (the corpus itself is replayed by the default test suite with any compiler); exits 1
# on any finding, leaving the input in build-fuzz/findings/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 60 recipe png_text
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
seconds="${1:-10}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors idx idx_file png_text recipe if_config)

if ! command -v clang++ >/dev/null 2>&1; then
    echo "fuzz: clang++ not installed (apt-get install clang); corpus replay only (ds_tests [robust])"
    exit 0
fi
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
mkdir -p build-fuzz
if [ ! -f build-fuzz/CMakeCache.txt ]; then
    CXX=clang++ cmake -S . -B build-fuzz "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDS_BUILD_FUZZERS=ON \
        -DDS_BUILD_GUI=OFF -DDS_BUILD_TESTS=OFF >build-fuzz/build.log 2>&1 || { cat build-fuzz/build.log; exit 1; }
fi
cmake --build build-fuzz --parallel "$(nproc)" --target "${targets[@]/#/fuzz_}" >>build-fuzz/build.log 2>&1 ||
    { tail -50 build-fuzz/build.log; exit 1; }

# Inputs up to a few MB: large safetensors headers and PNG text are where the limits are.
declare -A max_len=([safetensors]=262144 [png_text]=1048576 [idx_file]=1048576 [idx]=65536
                    [recipe]=1048576 [if_config]=65536)
mkdir -p build-fuzz/findings
status=0
for t in "${targets[@]}"; do
    work="$(mktemp -d)"
    cp tests/fuzz/corpus/"$t"/* "$work"/
    dict=(); [ -f "tests/fuzz/dicts/$t.dict" ] && dict=(-dict="tests/fuzz/dicts/$t.dict")
    log="build-fuzz/fuzz_$t.log"
    if build-fuzz/bin/fuzz_"$t" "$work" "${dict[@]}" -max_len="${max_len[$t]}" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -timeout=10 -artifact_prefix=build-fuzz/findings/"$t"- -print_final_stats=1 \
        >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        echo "fuzz $t: ${seconds}s, $runs executions, no finding"
    else
        echo "fuzz $t: FINDING (log $log)"; tail -30 "$log"; status=1
    fi
    rm -rf "$work"
done
exit $status
