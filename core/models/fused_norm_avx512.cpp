// AVX-512 row kernels of group_norm_act (fused_norm.h). This file is compiled with AVX-512 flags
// and includes nothing but <immintrin.h> and <cstdint>, so no inline function of a shared header is
// emitted with AVX-512 code (the linker could pick that copy for callers on other CPUs); it runs
// only after fused_norm.cpp checked the CPU.
#include <cstdint>
// GCC 12 warns inside its own AVX-512 headers (the "undefined" source operand of conversions).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "core/models/fused_norm_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__)

namespace ds::models::fused_detail {

namespace {

inline __m512 load_bf16(const std::uint16_t* p) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

// Round to nearest even, NaN kept a (quiet) NaN: the conversion torch uses.
inline void store_bf16(std::uint16_t* p, __m512 v) {
    __m512i bits = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    bits = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    bits = _mm512_srli_epi32(bits, 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    bits = _mm512_mask_mov_epi32(bits, nan, _mm512_set1_epi32(0x7FC0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(bits));
}

// e^z for z <= 0 (clamped at -87): z = n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor
// polynomial (relative error < 2e-7), scaled by 2^n.
inline __m512 exp_nonpositive(__m512 z) {
    z = _mm512_max_ps(z, _mm512_set1_ps(-87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), z);  // ln2 split: hi + lo
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

// Exact GELU, 0.5 y (1 + erf(y / sqrt 2)), with erf from Abramowitz & Stegun 7.1.26
// (absolute error <= 1.5e-7, below bf16's resolution).
inline __m512 gelu(__m512 y) {
    const __m512 x = _mm512_abs_ps(_mm512_mul_ps(y, _mm512_set1_ps(0.70710678118654752f)));
    const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(x, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    const __m512 erf_abs = _mm512_fnmadd_ps(p, exp_nonpositive(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), x)),
                                            _mm512_set1_ps(1.0f));
    // erf(y/sqrt2) carries y's sign: 1 + erf = 1 + erf_abs for y >= 0, 1 - erf_abs for y < 0.
    const __mmask16 neg = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 erf = _mm512_mask_sub_ps(erf_abs, neg, _mm512_setzero_ps(), erf_abs);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), y), _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
}

inline float bf16_to_float(std::uint16_t v) {
    const std::uint32_t bits = std::uint32_t(v) << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof f);
    return f;
}

}  // namespace

void stats_rows_avx512(const std::uint16_t* x, std::int64_t rows, std::int64_t C, const float* origin,
                       float* sum, float* sumsq) {
    const std::int64_t C16 = C - C % 16;
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::uint16_t* row = x + r * C;
        for (std::int64_t c = 0; c < C16; c += 16) {
            const __m512 v = _mm512_sub_ps(load_bf16(row + c), _mm512_loadu_ps(origin + c));
            _mm512_storeu_ps(sum + c, _mm512_add_ps(_mm512_loadu_ps(sum + c), v));
            _mm512_storeu_ps(sumsq + c, _mm512_fmadd_ps(v, v, _mm512_loadu_ps(sumsq + c)));
        }
        for (std::int64_t c = C16; c < C; ++c) {
            const float v = bf16_to_float(row[c]) - origin[c];
            sum[c] += v;
            sumsq[c] += v * v;
        }
    }
}

void apply_rows_avx512(const std::uint16_t* x, std::uint16_t* y, std::int64_t rows, std::int64_t C,
                       const float* a, const float* d, bool use_gelu) {
    const std::int64_t C16 = C - C % 16;
    const std::int64_t tail = C - C16;
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::uint16_t* in = x + r * C;
        std::uint16_t* out = y + r * C;
        for (std::int64_t c = 0; c < C16; c += 16) {
            __m512 v = _mm512_fmadd_ps(load_bf16(in + c), _mm512_loadu_ps(a + c), _mm512_loadu_ps(d + c));
            if (use_gelu) v = gelu(v);
            store_bf16(out + c, v);
        }
        if (tail) {  // the last C % 16 channels, through a zero-padded buffer
            alignas(64) std::uint16_t buf_in[16] = {}, buf_out[16];
            alignas(64) float buf_a[16] = {}, buf_d[16] = {};
            for (std::int64_t c = 0; c < tail; ++c) {
                buf_in[c] = in[C16 + c];
                buf_a[c] = a[C16 + c];
                buf_d[c] = d[C16 + c];
            }
            __m512 v = _mm512_fmadd_ps(load_bf16(buf_in), _mm512_load_ps(buf_a), _mm512_load_ps(buf_d));
            if (use_gelu) v = gelu(v);
            store_bf16(buf_out, v);
            for (std::int64_t c = 0; c < tail; ++c) out[C16 + c] = buf_out[c];
        }
    }
}

void gelu_flat_avx512(const std::uint16_t* x, std::uint16_t* y, std::int64_t n) {
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16) store_bf16(y + i, gelu(load_bf16(x + i)));
    if (i < n) {  // the last n % 16 values, through a zero-padded buffer
        alignas(64) std::uint16_t buf_in[16] = {}, buf_out[16];
        for (std::int64_t k = 0; k < n - i; ++k) buf_in[k] = x[i + k];
        store_bf16(buf_out, gelu(load_bf16(buf_in)));
        for (std::int64_t k = 0; k < n - i; ++k) y[i + k] = buf_out[k];
    }
}

}  // namespace ds::models::fused_detail

#endif
