#!/usr/bin/env bash
# DeepFloyd IF on a GPU: builds tools/gpu_check (LibTorch + nlohmann-json headers only) against the
# local PyTorch's LibTorch and runs it: fixture parity in fp32/bf16/fp16 on the device, then with
# --bench the real-scale fp16 step and T5-XXL timings. JSON on stdout, and in $OUT/gpu_check.json
# when $OUT is set. DS_DEVICE picks the device (default cuda); DS_NLOHMANN_INCLUDE a folder with
# nlohmann/json.hpp when neither the system nor the PyTorch wheel has one (build-deps/include is
# tried too); DS_TORCH_PREFIX a LibTorch CMake prefix instead of the python3 one. Usage: scripts/gpu_check.sh [--bench] [--reps N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
prefix="${DS_TORCH_PREFIX:-$(python3 -c "import torch;print(torch.utils.cmake_prefix_path)")}"
build="${DS_GPU_BUILD:-$here/build-gpu}"
nl="${DS_NLOHMANN_INCLUDE:-}"
if [ -z "$nl" ] && [ ! -f /usr/include/nlohmann/json.hpp ] && [ -f "$here/build-deps/include/nlohmann/json.hpp" ]; then
    nl="$here/build-deps/include"
fi
mkdir -p "$build"
cmake -S tools/gpu_check -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
      ${nl:+-DDS_NLOHMANN_INCLUDE="$nl"} > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc)"
if [ -n "${OUT:-}" ]; then
    "$build/if_gpu_check" --device "${DS_DEVICE:-cuda}" "$@" | tee "$OUT/gpu_check.json"
else
    "$build/if_gpu_check" --device "${DS_DEVICE:-cuda}" "$@"
fi
