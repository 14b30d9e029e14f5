#pragma once
// `--dtype auto`: the arithmetic that measured fastest on this CPU, per model family. bf16 is
// 1.4-1.6x faster than fp32 on CPUs with AMX or (some) AVX512-BF16 and slower elsewhere, and the
// CPU model alone does not tell (an AVX512-BF16 Xeon without AMX measured bf16 slower, an AVX512-BF16
// AMD EPYC faster), so it is measured: once per CPU model, ISA, torch version, thread count and
// family, a few representative convolutions and matrix products in fp32 and in bf16; the answer
// is cached in a small JSON file (hostile or stale files are ignored and rewritten).
#include <string>

namespace ds::models {

enum class Family { MnistUnet, DeepFloydIf };

struct AutoPrecision {
    std::string dtype;    // fp32 or bf16 (fp16 for IF on a GPU): never "auto"
    std::string reason;   // one line for the status bar and `dstudio models --verbose`
    double fp32_ms = 0;   // the measurement behind it (0 when decided without measuring)
    double bf16_ms = 0;
};

const char* family_name(Family f);

// `requested` other than "auto" is returned as it is. On a CPU without bf16 instructions
// (avx512_bf16 or amx_bf16) auto is fp32 without measuring; on a GPU, fp16 for IF and fp32 for
// the MNIST models (they always run on the CPU). `cache_file` "" = default_auto_cache_file().
AutoPrecision resolve_precision(const std::string& requested, Family family, const std::string& device = "cpu",
                                const std::string& cache_file = "");

// $DS_CACHE_DIR/precision-auto.json, else ~/.cache/diffusion-studio/precision-auto.json.
std::string default_auto_cache_file();

// bf16 must be at least this much faster to be chosen (ties keep fp32's accuracy).
inline constexpr double kBf16MinSpeedup = 1.10;

}  // namespace ds::models
