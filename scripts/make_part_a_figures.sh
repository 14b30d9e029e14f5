#!/usr/bin/env bash
# Regenerates the Part A figures of docs/part-a-mnist.md with the bundled MNIST models.
# Each figure gets a .json recipe beside it; `dstudio replay FIG.json --check` reproduces its bytes.
# Usage: scripts/make_part_a_figures.sh [extra global dstudio options, e.g. --threads 1]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ds() { build/bin/dstudio "$@"; }
G=("$@")
out=docs/figures/part-a
mkdir -p "$out"
M=mnist-class-ddpm

# 1.1-1.3 forward process, blur baseline and one-step estimate of a test "7" at t = 75, 150, 225
ds "${G[@]}" forward  --model $M --input mnist:test:0 --out $out/forward.png
ds "${G[@]}" explore  --model $M --input mnist:test:0 --prompt 7 --out $out/explore.png
# 1.4 iterative denoising from i_start = 10 (t = 207) vs one-step vs blur
ds "${G[@]}" iterate  --model $M --input mnist:test:0 --prompt 7 --i-start 10 --out $out/iterate.png \
   --gif $out/iterate.gif
# 1.5 / 1.6 five samples: unconditional, conditional without CFG, and with CFG (gamma = 5)
ds "${G[@]}" iterate  --model $M --count 5 --prompt "" --seed 1 --out $out/sample-uncond.png
ds "${G[@]}" iterate  --model $M --count 5 --prompt 3 --guidance 1 --seed 1 --out $out/sample-cond.png
ds "${G[@]}" iterate  --model $M --count 5 --prompt 3 --guidance 5 --seed 1 --out $out/sample-cfg.png
# 1.7 SDEdit of a test digit and of hand-drawn digits at i_start 1,3,5,7,10,20
ds "${G[@]}" sdedit   --model $M --input mnist:test:1 --prompt 2 --count 2 --out $out/sdedit-test.png
ds "${G[@]}" sdedit   --model $M --input assets/images/drawn-7.png --prompt 7 --count 2 --out $out/sdedit-drawn-7.png
ds "${G[@]}" sdedit   --model $M --input assets/images/drawn-3.png --prompt 3 --count 2 --out $out/sdedit-drawn-3.png
# 1.7.2 inpainting the top of a test "4" as a 9, and of the "7" as a 7
ds "${G[@]}" inpaint  --model $M --input mnist:test:4 --mask assets/images/mask-top.png --prompt 9 --count 4 \
   --out $out/inpaint-4-to-9.png
ds "${G[@]}" inpaint  --model $M --input mnist:test:0 --mask assets/images/mask-top.png --prompt 7 --count 4 \
   --out $out/inpaint-7.png
# 1.7.3 class-conditional image-to-image: a test "1" turned into a 7
ds "${G[@]}" sdedit   --model $M --input mnist:test:2 --prompt 7 --count 2 --out $out/img2img-1-to-7.png
# 1.8 visual anagrams: 6 upright / 9 rotated by 180 degrees; 2 / 5 in a mirror
ds "${G[@]}" anagram  --model $M --prompts 6,9 --views identity,rot180 --count 6 --seed 1 \
   --out $out/anagram-6-9.png --gif $out/anagram-6-9.gif --gif-every 3
ds "${G[@]}" anagram  --model $M --prompts 2,5 --views identity,fliph --count 6 --seed 2 \
   --out $out/anagram-2-5.png
# 1.9 hybrid: a 0 from afar, an 8 up close
ds "${G[@]}" hybrid   --model $M --far 0 --near 8 --count 6 --seed 1 --out $out/hybrid-0-8.png
