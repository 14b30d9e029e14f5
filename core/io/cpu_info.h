#pragma once
// What the CPU offers: its model name and the vector-ISA flags that decide which oneDNN kernels
// torch uses (AVX2 vs AVX-512, bf16, AMX). Read once from /proc/cpuinfo (empty elsewhere).
#include <string>
#include <vector>

namespace ds::io {

std::string cpu_model();
// The flags among avx2, fma, avx512f, avx512_vnni, avx512_bf16, amx_bf16, amx_tile present here.
std::vector<std::string> cpu_isa();
bool cpu_has(const std::string& flag);

}  // namespace ds::io
