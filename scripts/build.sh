#!/usr/bin/env bash
# Configures and builds Diffusion Studio into build/ (binaries in build/bin/).
# Extra arguments go to CMake's configure step, e.g. -DDS_BUILD_GUI=OFF.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
if [ ! -f build/CMakeCache.txt ]; then
    cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif [ $# -gt 0 ]; then
    cmake -S . -B build "$@"
fi
cmake --build build --parallel "$(nproc)"
