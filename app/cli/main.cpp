// dstudio: the Diffusion Studio command line. Talks to the engine facade only.
// Exit codes: 0 ok, 1 error, 2 usage, 128 + signal when stopped by SIGINT (130), SIGTERM (143)
// or SIGHUP (129).
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "core/engine/engine.h"

namespace {

const char* kUsage = R"(dstudio — Diffusion Studio command line

usage: dstudio [--threads N] [--assets DIR] [--data DIR] [--dtype auto|fp32|bf16|fp16|fp32-w16]
               [--device cpu|cuda|cuda:N] <command> [options]

Part B (MNIST from scratch):
  train      train a denoiser, DDPM or flow-matching model (or the scoring classifier)
  sample     sample images / "k per digit" grids from a model; optional GIF and raw tensor
  noise      visualise z = x + sigma*eps on test digits for a list of sigmas
  denoise    run a denoiser over test digits noised at several sigmas (OOD sweep)
  plot       plot training loss curves to PNG
  eval       score class-conditioned samples with a classifier
Part A (any noise predictor; the bundled MNIST DDPMs by default):
  forward    the forward process x_t at a few timesteps (course 1.1)
  blur       noisy images and their Gaussian-blur denoising (1.2)
  one-step   noisy images and the one-step x0 estimate (1.3); `explore` shows all three
  iterate    iterative denoising of a noised image, or sampling from pure noise (1.4-1.6)
  sdedit     image-to-image at several noise levels, optionally with another prompt (1.7)
  inpaint    regenerate the white part of a mask (1.7.2)
  anagram    one image, a different prompt under each view (flip, rotate, jigsaw, ...) (1.8)
  hybrid     one prompt from afar, another up close (1.9)
  replay     re-run the recipe of an output and check the bytes match
DeepFloyd IF (point --weights at a diffusers folder; every Part A command takes --weights too):
  generate   text-to-image, stage I (64 px) and optionally stage II (256 px)
  prompts    import the course's prompt_embeds_dict.pth into the embedding cache
  debug      t5 / unet diagnostics against reference outputs
Models and speed:
  models     list the bundled models
  export     turn a training run into a standalone (optionally fp16) model file
  bench      speed benchmarks, JSON on stdout

Global options:
  --threads N   intra-op threads (default: all cores)
  --assets DIR  bundled models folder (default: $DS_ASSETS_DIR or the installed assets)
  --data DIR    datasets folder (default: $DS_DATA_DIR or <source>/data)
  --dtype T     weights and arithmetic for inference: auto (default: per model family, what
                measured fastest on this CPU, bf16 or fp32, fp16 for IF on a GPU; measured
                once, about a second, then cached; `dstudio models --verbose` shows it), fp32,
                bf16 (fast only on CPUs with AVX-512; MNIST models sample ~1.5x faster with
                AVX512-BF16 on some CPUs), or
                fp32-w16: DeepFloyd IF weights kept in 16 bits (half the memory of fp32),
                arithmetic in fp32; fp16 on a GPU only. Training has its own --precision.
  --device D    where DeepFloyd IF (UNets, T5) runs: cpu (default), cuda or cuda:N; needs a
                build against a CUDA LibTorch. Noise comes from the CPU generator, so a seed
                gives the same image on any device. The MNIST models run on the CPU.

`dstudio <command> --help` describes each command.
)";

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    ds::EngineOptions options;
    options.dtype = "auto";  // the command line's default; the library's stays fp32
    size_t i = 0;
    try {
        for (; i < args.size() && args[i].rfind("--", 0) == 0; ++i) {
            const std::string& a = args[i];
            if (a == "--help" || a == "-h") {
                std::cout << kUsage;
                return 0;
            }
            if (i + 1 >= args.size()) throw cli::UsageError(a + " needs a value");
            if (a == "--threads") {
                cli::Args one({"--threads", args[i + 1]}, {"threads"}, {});
                options.threads = one.integer("threads", 0);
            } else if (a == "--assets") {
                options.assets_dir = args[i + 1];
            } else if (a == "--data") {
                options.data_dir = args[i + 1];
            } else if (a == "--dtype") {
                options.dtype = args[i + 1];
            } else if (a == "--device") {
                options.device = args[i + 1];
            } else {
                throw cli::UsageError("unknown global option " + a);
            }
            ++i;
        }
        if (i >= args.size()) {
            std::cerr << kUsage;
            return 2;
        }
        const std::string command = args[i];
        std::vector<std::string> rest(args.begin() + i + 1, args.end());
        if (const auto warning = ds::Engine::dtype_warning(options.dtype, options.device); !warning.empty())
            std::cerr << "dstudio: warning: --dtype bf16: " << warning << "\n";
        return cli::run_command(command, rest, options);
    } catch (const cli::UsageError& e) {
        std::cerr << "dstudio: " << e.what() << "\n";
        return 2;
    } catch (const ds::InvalidRequest& e) {
        std::cerr << "dstudio: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "dstudio: error: " << e.what() << "\n";
        return 1;
    }
}
