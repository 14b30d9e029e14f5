#pragma once
// Row kernels of group_norm_act (fused_norm.h), torch-free so that fused_norm_avx512.cpp can be
// compiled with AVX-512 flags without including any shared header code. Rows are channels-last:
// C consecutive bf16 values (raw bits) per pixel.
#include <cstdint>

namespace ds::models::fused_detail {

// For each of `rows` rows: sum[c] += x[c] - origin[c], sumsq[c] += (x[c] - origin[c])^2.
void stats_rows_avx512(const std::uint16_t* x, std::int64_t rows, std::int64_t C, const float* origin,
                       float* sum, float* sumsq);
// y = x * a[c] + d[c], then exact GELU when `gelu`; bf16 out, rounded to nearest even.
void apply_rows_avx512(const std::uint16_t* x, std::uint16_t* y, std::int64_t rows, std::int64_t C,
                       const float* a, const float* d, bool gelu);

// y = exact GELU(x) over n consecutive bf16 values (any memory format: elementwise).
void gelu_flat_avx512(const std::uint16_t* x, std::uint16_t* y, std::int64_t n);

}  // namespace ds::models::fused_detail
