#!/usr/bin/env bash
# Data-parallel training benchmark (issue 25): images/s of the class-conditioned DDPM at the
# course recipe (D = 64, global batch 128) with N ranks x T threads, alternating the
# configurations (A B A B ...) so a drifting machine affects both alike. Prints one JSON object
# (docs/performance.md#data-parallel-training); run it on an otherwise idle machine.
#
#   scripts/bench_data_parallel.sh [--rounds R] [--steps S] [--configs "1x2 2x1"] [--dstudio PATH]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dstudio="$here/build/bin/dstudio"
rounds=2
steps=60
configs="1x2 2x1"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --configs) configs="$2"; shift 2 ;;
        --dstudio) dstudio="$2"; shift 2 ;;
        *) echo "usage: $0 [--rounds R] [--steps S] [--configs \"1x2 2x1\"] [--dstudio PATH]" >&2; exit 2 ;;
    esac
done
[[ -x "$dstudio" ]] || { echo "no dstudio binary at $dstudio (build it first)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
batch=128
limit=$((steps * batch))
results="$work/results.jsonl"
for round in $(seq 1 "$rounds"); do
    for c in $configs; do
        n="${c%x*}"; t="${c#*x}"
        out="$work/run-$c-$round"
        log="$work/log-$c-$round"
        "$dstudio" --threads "$t" train --kind class-ddpm --nproc "$n" --batch "$batch" --limit "$limit" \
            --epochs 1 --no-grids --checkpoint-minutes 0 --out "$out" > "$log" 2>&1 \
            || { echo "run $c failed:" >&2; cat "$log" >&2; exit 1; }
        python3 - "$out/metrics.jsonl" "$log" "$c" "$round" "$batch" >> "$results" <<'EOF'
import json, re, sys
metrics, log, config, rnd, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
times = [json.loads(l)["time"] for l in open(metrics) if l.strip()]
# steady state: from the end of step 5 to the end of the last step
rate = (len(times) - 5) * batch / (times[-1] - times[4])
text = open(log).read()
m = re.search(r"gradient all-reduce ([0-9.]+) ms per step, all collectives \(BatchNorm included\) ([0-9.]+) ms", text)
n, t = config.split("x")
print(json.dumps({"config": config, "ranks": int(n), "threads_per_rank": int(t), "round": rnd,
                  "img_per_s": round(rate, 1),
                  "grad_allreduce_ms_per_step": float(m.group(1)) if m else None,
                  "collectives_ms_per_step": float(m.group(2)) if m else None}))
EOF
    done
done
python3 - "$results" "$steps" <<'EOF'
import json, sys, platform, subprocess
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
summary = {}
for r in rows:
    s = summary.setdefault(r["config"], {"img_per_s": [], "grad_allreduce_ms_per_step": [], "collectives_ms_per_step": []})
    for k in s:
        if r[k] is not None: s[k].append(r[k])
for c, s in summary.items():
    for k in list(s):
        v = sorted(s[k])
        s[k + "_median"] = v[len(v) // 2] if v else None
print(json.dumps({"bench": "data-parallel training", "model": "class-ddpm D=64, global batch 128, fp32",
                  "steps_per_run": int(sys.argv[2]), "cpu": {"model": cpu, "isa": isa,
                  "cores": len([l for l in open("/proc/cpuinfo") if l.startswith("processor")])},
                  "runs": rows, "summary": summary}, indent=2))
EOF
