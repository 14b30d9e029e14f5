#!/usr/bin/env bash
# DeepFloyd IF end to end at real scale from hub-layout folders (docs/deepfloyd-if.md, "Real scale,
# end to end"). Runs one dstudio command, timestamps its progress lines (every event) and samples
# its memory every 0.2 s, then prints JSON: per stage its time window and peak memory in GiB
# (anon: the process's own; rss: plus the pages of the mapped weight files, page cache).
# Name the output image differently from LABEL: dstudio writes OUT.json next to it.
#
#   scripts/if_real_scale.sh LABEL OUT_DIR -- dstudio-arguments...
#   e.g. scripts/if_real_scale.sh generate-bf16 /tmp/e2e -- --dtype bf16 generate --weights IF-I-XL \
#            --upscaler IF-II-L --steps 2 --upscale-steps 2 --out /tmp/e2e/bf16.png "a prompt"
# Folders with random weights at the real configs: build/bin/ds-make-if-folder (see the docs).
set -euo pipefail
label=$1; out=$2; shift 2; [ "$1" = "--" ] && shift
dstudio=${DSTUDIO:-build/bin/dstudio}
mkdir -p "$out"
log="$out/$label.progress"; mem="$out/$label.rss"
: > "$log"; : > "$mem"
start=$(date +%s.%N)
DS_PROGRESS_INTERVAL=0 "$dstudio" "$@" 2> >(while IFS= read -r line; do printf '%.2f %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$line"; done >> "$log") &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
    # RssAnon: the process's own memory (weights, activations); VmRSS adds the mapped weight
    # files' pages, which are page cache the kernel can drop.
    rss=$(awk '/^RssAnon:/ {a = $2} /^VmRSS:/ {v = $2} END {if (a != "") print a, v}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && printf '%.2f %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$rss" >> "$mem"
    sleep 0.2
done
wait "$pid"; rc=$?
sleep 0.5
end=$(echo "$(date +%s.%N) - $start" | bc)
# Stages: from the end of the previous one (so a load's window holds what ran before its first
# line, e.g. T5 encoding before stage I loads) to its last line; the first line of a load is
# printed at 1 %, of steps after the first step (non-TTY progress prints a line at least every 10 s).
awk -v label="$label" -v total="$end" -v memfile="$mem" -v rc="$rc" '
    BEGIN { while ((getline l < memfile) > 0) { split(l, f, " "); mt[++nm] = f[1]; mv[nm] = f[2]; mr[nm] = f[3] } }
    function peak(a, b,   i, p) { p = 0; for (i = 1; i <= nm; i++) if (mt[i] >= a && mt[i] <= b && mv[i] > p) p = mv[i]; return p / 1048576 }
    function peakrss(a, b,   i, p) { p = 0; for (i = 1; i <= nm; i++) if (mt[i] >= a && mt[i] <= b && mr[i] > p) p = mr[i]; return p / 1048576 }
    {
        t = $1; phase = "";
        if ($0 ~ /loading the T5/) phase = "T5 load";
        else if ($0 ~ /loading the IF stage I UNet/) phase = "stage I load";
        else if ($0 ~ /loading the IF stage II UNet/) phase = "stage II load";
        else if ($0 ~ /stage II step/) phase = "stage II steps";
        else if ($0 ~ /stage I step/ || $0 ~ /(sdedit|iterate|sample) step/) phase = "stage I steps";
        if (phase == "") next;
        if (!(phase in first)) { first[phase] = t; order[++n] = phase }
        last[phase] = t;
        if ($0 ~ / step [0-9]+\/[0-9]+/) { steps[phase]++ }
    }
    END {
        printf "{\"label\": \"%s\", \"exit\": %d, \"total_s\": %.1f, \"peak_anon_gib\": %.2f, \"peak_rss_gib\": %.2f, \"stages\": [", label, rc, total, peak(0, total), peakrss(0, total);
        prev = 0;
        for (i = 1; i <= n; i++) {
            p = order[i];
            printf "%s{\"stage\": \"%s\", \"from_s\": %.1f, \"first_line_s\": %.1f, \"to_s\": %.1f, \"steps\": %d, \"peak_anon_gib\": %.2f, \"peak_rss_gib\": %.2f}", (i > 1 ? ", " : ""), p, prev, first[p], last[p], steps[p], peak(prev, last[p]), peakrss(prev, last[p]);
            prev = last[p];
        }
        printf "]}\n";
    }' "$log"
exit "$rc"
