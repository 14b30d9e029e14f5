#!/usr/bin/env bash
# Regenerates every Part B figure of docs/part-b.md (course §3): the noising figure, the
# out-of-distribution sweep, samples and sampling animations of the bundled models, and, from
# the training run folders under RUNS (default runs/, as the commands in docs/part-b.md name
# them), the per-epoch grids and loss curves. A figure whose run folder is missing is skipped and
# listed at the end with the command that makes it; existing figures are then left as they are.
# Usage: scripts/make_part_b_figures.sh [extra global dstudio options, e.g. --threads 1]
# Environment: RUNS (run folders), OUT (default docs/figures/part-b), DSTUDIO (the binary).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dstudio="${DSTUDIO:-build/bin/dstudio}"
runs="${RUNS:-runs}"
out="${OUT:-docs/figures/part-b}"
G=("$@")
ds() { "$dstudio" "${G[@]}" "$@"; }
mkdir -p "$out"
pending=()

# grid RUN EPOCH FILE: the run's fixed-noise grid after EPOCH.
grid() {
    local f
    f="$runs/$1/samples/epoch_$(printf %03d "$2").png"
    if [ -f "$f" ]; then cp "$f" "$out/$3"; else pending+=("$3 <- $f"); fi
}
# loss FILE TITLE RUN [RUN...]: loss curves of one or more runs (names: folder names); a
# `smooth=N` before the call sets the moving-average window (dstudio plot's default otherwise).
loss() {
    local file="$1" title="$2"
    shift 2
    local r
    for r in "$@"; do
        [ -f "$runs/$r/metrics.jsonl" ] || { pending+=("$file <- $runs/$r/metrics.jsonl"); return 0; }
    done
    ds plot "${@/#/$runs/}" --names "$(IFS=,; echo "$*")" --title "$title" ${smooth:+--smooth "$smooth"} \
        --out "$out/$file" >/dev/null
}

# 1.1 the noising process (no model)
ds noise --index 0,1,2 --sigmas 0,0.2,0.4,0.5,0.6,0.8,1.0 --out "$out/noising.png"
# 1.2 the single-step denoiser: outputs after epochs 1 and 5, loss; 1.2.2 the sigma sweep
grid denoiser 1 denoiser_epoch1.png
grid denoiser 5 denoiser_epoch5.png
smooth=10 loss denoiser_loss.png "single-step denoiser (sigma 0.5), 5 epochs" denoiser
ds denoise --model mnist-denoiser --index 0,1 --out "$out/denoiser_ood.png"
# 1.2.3 the pure-noise denoiser: loss, outputs after epochs 1 and 5, its samples
grid pure-noise 1 pure_noise_epoch1.png
grid pure-noise 5 pure_noise_epoch5.png
loss pure_noise_loss.png "denoiser trained on pure noise" pure-noise
if [ -d "$runs/pure-noise" ]; then
    ds sample --model "$runs/pure-noise" --count 10 --out "$out/pure_noise.png" >/dev/null
else
    pending+=("pure_noise.png <- $runs/pure-noise")
fi
# 2 time-conditioned DDPM and 3 class-conditioned DDPM: grids after epochs 1, 5, 20; loss
for e in 1 5 20; do
    grid time-ddpm20 "$e" "time_ddpm_epoch$e.png"
    grid class-ddpm20 "$e" "class_ddpm_epoch$e.png"
done
loss time_ddpm_loss.png "time-conditioned DDPM, 20 epochs" time-ddpm20
loss class_ddpm_loss.png "class-conditioned DDPM, 20 epochs" class-ddpm20
# 4 flow matching, time- and class-conditioned: grids after epochs 1, 5, 10; loss
for e in 1 5 10; do
    grid time-fm10 "$e" "time_fm10_epoch$(printf %03d "$e").png"
    grid class-fm10 "$e" "class_fm10_epoch$(printf %03d "$e").png"
done
loss time_fm10_loss.png "time-conditioned flow matching, 10 epochs" time-fm10
loss class_fm10_loss.png "class-conditioned flow matching, 10 epochs" class-fm10
# "Can we get rid of the learning-rate scheduler?": the constant-lr run (grids after epochs 1, 5,
# 10 and its loss, beside the scheduled run's above; both curves in one plot when both folders
# are there)
for e in 1 5 10; do
    grid class-fm10-constant-lr "$e" "class_fm10_constant_lr_epoch$(printf %03d "$e").png"
done
loss class_fm10_constant_lr_loss.png "class-conditioned flow matching, constant lr 2e-3, 10 epochs" class-fm10-constant-lr
loss fm_no_scheduler_loss.png "class flow matching: ExponentialLR vs constant lr" class-fm10 class-fm10-constant-lr
# "More epochs" for the time-conditioned models (the bundled ones): 10 more epochs warm-started
# from the course runs; grids after 5 and 10 of them (epochs 25/30 and 15/20 in all) and losses
for e in 5 10; do
    grid time-ddpm-more "$e" "time_ddpm_more_epoch$(printf %03d "$e").png"
    grid time-fm-more "$e" "time_fm_more_epoch$(printf %03d "$e").png"
done
loss time_ddpm_more_loss.png "time-conditioned DDPM, 10 more epochs (lr 1e-4 to 1e-5)" time-ddpm-more
loss time_fm_more_loss.png "time-conditioned flow matching, 10 more epochs (lr 1e-3 to 1e-4)" time-fm-more
# Samples and sampling animations of the bundled models
ds sample --model mnist-time-ddpm --count 40 --seed 1 --out "$out/time_ddpm_samples.png" >/dev/null
ds sample --model mnist-time-ddpm --count 10 --seed 1 --out "$out/.gif_grid.png" \
    --gif "$out/time_ddpm.gif" --gif-every 15 >/dev/null
ds sample --model mnist-class-ddpm --per-class 4 --seed 0 --out "$out/class_ddpm_samples.png" \
    --gif "$out/class_ddpm.gif" --gif-every 10 >/dev/null
ds sample --model mnist-time-fm --count 40 --seed 1 --out "$out/time_fm_samples.png" >/dev/null
ds sample --model mnist-time-fm --count 10 --seed 1 --out "$out/.gif_grid.png" \
    --gif "$out/time_fm.gif" --gif-every 2 >/dev/null
ds sample --model mnist-class-fm --per-class 4 --seed 0 --out "$out/class_fm_samples.png" \
    --gif "$out/class_fm.gif" --gif-every 10 >/dev/null
rm -f "$out/.gif_grid.png" "$out/.gif_grid.json"

echo "wrote the Part B figures to $out"
if ((${#pending[@]})); then
    echo "pending (run folder missing; docs/part-b.md has the training commands):"
    printf '  %s\n' "${pending[@]}"
fi
