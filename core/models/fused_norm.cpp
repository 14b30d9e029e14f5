#include "core/models/fused_norm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include "core/engine/errors.h"
#include "core/models/fused_norm_kernels.h"

namespace ds::models {

namespace {

std::atomic<bool> g_force_scalar{false};

bool cpu_has_avx512() {
#if defined(DS_HAVE_AVX512_KERNELS) && (defined(__x86_64__) || defined(__i386__))
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    return ok;
#else
    return false;
#endif
}

bool use_avx512() { return cpu_has_avx512() && !g_force_scalar.load(); }

float bf16_bits_to_float(std::uint16_t v) {
    const std::uint32_t bits = std::uint32_t(v) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

std::uint16_t float_to_bf16_bits(float f) {
    return c10::BFloat16(f).x;  // round to nearest even, as torch's .to(kBFloat16)
}

void stats_rows_scalar(const std::uint16_t* x, std::int64_t rows, std::int64_t C, const float* origin,
                       float* sum, float* sumsq) {
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < C; ++c) {
            const float v = bf16_bits_to_float(x[r * C + c]) - origin[c];
            sum[c] += v;
            sumsq[c] += v * v;
        }
}

void apply_rows_scalar(const std::uint16_t* x, std::uint16_t* y, std::int64_t rows, std::int64_t C,
                       const float* a, const float* d, bool gelu) {
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < C; ++c) {
            float v = bf16_bits_to_float(x[r * C + c]) * a[c] + d[c];
            if (gelu) v = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
            y[r * C + c] = float_to_bf16_bits(v);
        }
}

constexpr std::int64_t kRowsPerTask = 64;  // statistics: fp32 partial sums over at most 64 rows

}  // namespace

bool group_norm_act_applies(const torch::Tensor& x) {
    return x.defined() && x.scalar_type() == torch::kBFloat16 && x.dim() == 4 && x.device().is_cpu() &&
           x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

bool gelu_bf16_applies(const torch::Tensor& x) {
    return x.defined() && x.scalar_type() == torch::kBFloat16 && x.device().is_cpu() &&
           (x.is_contiguous() || (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast)));
}

torch::Tensor gelu_bf16(const torch::Tensor& x) {
    RECORD_FUNCTION("ds::gelu_bf16", std::vector<c10::IValue>());
    if (!gelu_bf16_applies(x)) throw InvalidRequest("gelu_bf16 needs a dense bf16 CPU tensor");
    auto y = torch::empty_strided(x.sizes(), x.strides(), x.options());  // the same memory order
    const auto* xp = reinterpret_cast<const std::uint16_t*>(x.data_ptr<at::BFloat16>());
    auto* yp = reinterpret_cast<std::uint16_t*>(y.data_ptr<at::BFloat16>());
    const bool vec = use_avx512();
    at::parallel_for(0, x.numel(), 16384, [&](std::int64_t begin, std::int64_t end) {
        if (vec) {
            fused_detail::gelu_flat_avx512(xp + begin, yp + begin, end - begin);
            return;
        }
        for (std::int64_t i = begin; i < end; ++i) {
            const float v = bf16_bits_to_float(xp[i]);
            yp[i] = float_to_bf16_bits(0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)));
        }
    });
    return y;
}

const char* group_norm_act_kernel() { return use_avx512() ? "avx512" : "scalar"; }
void set_group_norm_act_scalar(bool scalar) { g_force_scalar = scalar; }

torch::Tensor group_norm_act(const torch::Tensor& x, std::int64_t groups, const torch::Tensor& gamma,
                             const torch::Tensor& beta, double eps, const torch::Tensor& scale,
                             const torch::Tensor& shift, bool gelu) {
    RECORD_FUNCTION("ds::group_norm_act", std::vector<c10::IValue>());  // named in op profiles
    if (!group_norm_act_applies(x))
        throw InvalidRequest("group_norm_act needs a 4-D bf16 channels-last CPU tensor");
    const std::int64_t B = x.size(0), C = x.size(1), N = x.size(2) * x.size(3);
    if (groups <= 0 || C % groups) throw InvalidRequest("group_norm_act: channels are not divisible by the groups");
    if (gamma.numel() != C || beta.numel() != C) throw InvalidRequest("group_norm_act: gamma/beta need one value per channel");
    const bool has_ss = scale.defined();
    if (has_ss != shift.defined() || (has_ss && (scale.numel() != B * C || shift.numel() != B * C)))
        throw InvalidRequest("group_norm_act: scale and shift must both be [B, C] or both absent");
    const std::int64_t Cg = C / groups;
    auto y = torch::empty_like(x, at::MemoryFormat::ChannelsLast);
    if (x.numel() == 0) return y;
    const auto* xp = reinterpret_cast<const std::uint16_t*>(x.data_ptr<at::BFloat16>());
    auto* yp = reinterpret_cast<std::uint16_t*>(y.data_ptr<at::BFloat16>());
    const bool vec = use_avx512();
    auto stats_rows = vec ? fused_detail::stats_rows_avx512 : stats_rows_scalar;
    auto apply_rows = vec ? fused_detail::apply_rows_avx512 : apply_rows_scalar;

    // Statistics: per (b, chunk of rows) fp32 partial sums of x - origin, where origin is the
    // image's first pixel (shifted sums keep E[x^2] - E[x]^2 accurate when the mean is large).
    const std::int64_t chunks = (N + kRowsPerTask - 1) / kRowsPerTask;
    std::vector<float> origin(std::size_t(B * C));
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t c = 0; c < C; ++c) origin[std::size_t(b * C + c)] = bf16_bits_to_float(xp[b * N * C + c]);
    std::vector<float> sum(std::size_t(B * chunks * C), 0.0f), sumsq(sum.size(), 0.0f);
    at::parallel_for(0, B * chunks, 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t task = begin; task < end; ++task) {
            const std::int64_t b = task / chunks, k = task % chunks;
            const std::int64_t r0 = k * kRowsPerTask, rows = std::min(kRowsPerTask, N - r0);
            stats_rows(xp + (b * N + r0) * C, rows, C, origin.data() + b * C, sum.data() + task * C,
                       sumsq.data() + task * C);
        }
    });
    // Per (b, c): y = x * a + d folds the normalisation, the affine and the scale-shift.
    auto g32 = gamma.to(torch::kFloat32).contiguous(), b32 = beta.to(torch::kFloat32).contiguous();
    torch::Tensor s32, h32;
    if (has_ss) {
        s32 = scale.to(torch::kFloat32).reshape({B, C}).contiguous();
        h32 = shift.to(torch::kFloat32).reshape({B, C}).contiguous();
    }
    const float* gp = g32.data_ptr<float>();
    const float* bp = b32.data_ptr<float>();
    std::vector<float> a(std::size_t(B * C)), d(std::size_t(B * C));
    std::vector<double> s_c(static_cast<std::size_t>(C)), ss_c(static_cast<std::size_t>(C));
    for (std::int64_t b = 0; b < B; ++b) {
        std::fill(s_c.begin(), s_c.end(), 0.0);
        std::fill(ss_c.begin(), ss_c.end(), 0.0);
        for (std::int64_t k = 0; k < chunks; ++k)
            for (std::int64_t c = 0; c < C; ++c) {
                s_c[std::size_t(c)] += sum[std::size_t((b * chunks + k) * C + c)];
                ss_c[std::size_t(c)] += sumsq[std::size_t((b * chunks + k) * C + c)];
            }
        for (std::int64_t g = 0; g < groups; ++g) {
            double sx = 0, sxx = 0;
            for (std::int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
                const double o = origin[std::size_t(b * C + c)], s = s_c[std::size_t(c)];
                sx += s + double(N) * o;
                sxx += ss_c[std::size_t(c)] + 2.0 * o * s + double(N) * o * o;
            }
            const double count = double(N) * double(Cg), mean = sx / count;
            const double var = std::max(sxx / count - mean * mean, 0.0);
            const double rstd = 1.0 / std::sqrt(var + eps);
            for (std::int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
                double ac = rstd * gp[c], dc = bp[c] - mean * rstd * gp[c];
                if (has_ss) {
                    const double sc = 1.0 + s32.data_ptr<float>()[b * C + c];
                    ac *= sc;
                    dc = dc * sc + h32.data_ptr<float>()[b * C + c];
                }
                a[std::size_t(b * C + c)] = float(ac);
                d[std::size_t(b * C + c)] = float(dc);
            }
        }
    }
    at::parallel_for(0, B * chunks, 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t task = begin; task < end; ++task) {
            const std::int64_t b = task / chunks, k = task % chunks;
            const std::int64_t r0 = k * kRowsPerTask, rows = std::min(kRowsPerTask, N - r0);
            apply_rows(xp + (b * N + r0) * C, yp + (b * N + r0) * C, rows, C, a.data() + b * C, d.data() + b * C, gelu);
        }
    });
    return y;
}

}  // namespace ds::models
