// libFuzzer entry point; DS_FUZZ_TARGET (set per binary in CMakeLists.txt) names the function
// of fuzz_targets.h this binary drives.
#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return ds::fuzz::DS_FUZZ_TARGET(data, size);
}
