#!/usr/bin/env bash
# Regenerates every screenshot in docs/screenshots/ (the README's hero and the user guide's) with
# the commands the user guide gives beside each, under Xvfb, each from a fresh workspace so no
# earlier session leaks in. The Train tab's shot needs a finished run folder: TRAIN_RUN (default
# runs/time-fm10, made by the command in docs/part-b.md); without it that shot is skipped.
# Usage: scripts/make_screenshots.sh        Environment: OUT (default docs/screenshots).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
app="${APP:-build/bin/diffusion-studio}"
out="${OUT:-docs/screenshots}"
run="${TRAIN_RUN:-runs/time-fm10}"
command -v xvfb-run >/dev/null || { echo "xvfb-run is needed (apt-get install xvfb)" >&2; exit 1; }
mkdir -p "$out"
failed=0
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT

# shot NAME ARGS...: a fresh home (so a fresh workspace), 1600x900, the window saved after the run.
shot() {
    local name="$1"
    shift
    rm -rf "${home:?}" && mkdir -p "$home"  # dot folders too: settings and workspace live there
    local try
    for try in 1 2; do  # xvfb-run -a can lose a race for a display number: one retry
        if HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" \
            xvfb-run -a -s "-screen 0 1600x900x24" "$app" --threads 2 "$@" --screenshot "$out/$name.png" >/dev/null 2>&1; then
            echo "wrote $out/$name.png"
            return 0
        fi
    done
    echo "FAILED: $name ($app $*)" >&2
    failed=1
}

shot generate --mode 0 --run
shot explore --mode 1 --image assets/images/drawn-3.png --run
shot sdedit --mode 2 --image assets/images/drawn-7.png --run
shot compare --mode 2 --image assets/images/drawn-7.png --run --view 1
shot inpaint --mode 3 --image assets/images/drawn-7.png --mask assets/images/mask-top.png --run
shot anagram --recipe docs/figures/part-a/anagram-6-9.json --run --view 1
shot hybrid --recipe docs/figures/part-a/hybrid-0-8.json --run
shot denoise --mode 6 --image assets/images/drawn-3.png --run
if [ -f "$run/metrics.jsonl" ]; then
    shot train --tab 1 --run-folder "$run"
else
    echo "skipped train.png: no run folder $run (TRAIN_RUN)"
fi
exit "$failed"
