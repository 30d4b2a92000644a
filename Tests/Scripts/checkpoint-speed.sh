#!/usr/bin/env bash
# Checkpoint save speed vs the raw sequential write speed of the same bytes on the same disk (the bar:
# target ≥ 50%). For Configs/bench.yaml (6,340,176 parameters + 2 RMSProp slots ≈ 76 MB):
#   save  `vt train --steps 0` writes the step-0 checkpoint; its log line gives the whole save's time:
#         HDF5 writes + CRC-32C of every tensor + user-block index + fsync + rename + directory fsync +
#         the `latest` pointer (write, fsync, rename, directory fsync)
#   raw   `dd bs=8M conv=fsync` copies that very file (read from the page cache) to a new file beside it
# alternately (the disk otherwise idle: `sync` between them), ROUNDS (9) times each; prints every pair, the
# medians and their ratio.
#
# Usage: bash Tests/Scripts/checkpoint-speed.sh   (builds vt in release; VT=path/to/vt to skip; DIR=folder on the disk to test)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${VT:-}" ]; then
    swift build -c release --scratch-path .build-ckpt --product vt > /dev/null
    VT=.build-ckpt/release/vt
fi
rounds=${ROUNDS:-9}
work=$(mktemp -d "${DIR:-${TMPDIR:-/tmp}}/vt-checkpoint-speed.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "disk: $(df -h "$work" | awk 'NR == 2 { print $1 " mounted on " $6 ", " $4 " free" }')"
printf '%-6s %-34s %-34s\n' round "checkpoint save (vt)" "raw sequential write (dd, fsync)"
saves=(); raws=()
for round in $(seq 1 "$rounds"); do
    "$VT" train --config Configs/bench.yaml --steps 0 --checkpoint-dir "$work/ckpt" --run-dir "$work/run" > "$work/train.log" 2>&1 \
        || { cat "$work/train.log"; exit 1; }
    line=$(grep '^checkpoint: .*step_00000000.h5' "$work/train.log")
    megabytes=$(echo "$line" | sed -E 's/.*, ([0-9.]+) MB in ([0-9.]+) s.*/\1/')
    seconds=$(echo "$line" | sed -E 's/.*, ([0-9.]+) MB in ([0-9.]+) s.*/\2/')
    bytes=$(stat -c %s "$work/ckpt/step_00000000.h5")
    cp "$work/ckpt/step_00000000.h5" "$work/source.bin"  # dd's input, in the page cache
    rm -rf "$work/ckpt"; sync
    raw=$(dd if="$work/source.bin" of="$work/raw.bin" bs=8M conv=fsync 2>&1 | tail -1)
    raw_seconds=$(echo "$raw" | sed -E 's/.* copied, ([0-9.e-]+) s.*/\1/')
    save_rate=$(awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.0f", b / 1e6 / s }')
    raw_rate=$(awk -v b="$bytes" -v s="$raw_seconds" 'BEGIN { printf "%.0f", b / 1e6 / s }')
    saves+=("$save_rate"); raws+=("$raw_rate")
    printf '%-6s %-34s %-34s\n' "$round" "$megabytes MB in $seconds s = $save_rate MB/s" \
        "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB in $(printf '%.3f' "$raw_seconds") s = $raw_rate MB/s"
    rm -f "$work/source.bin" "$work/raw.bin"; sync
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
best() { printf '%s\n' "$@" | sort -n | tail -1; }
ratio() { awk -v s="$1" -v r="$2" 'BEGIN { printf "%.0f%%", 100 * s / r }'; }
ratios=(); for i in "${!saves[@]}"; do ratios+=("$(awk -v s="${saves[$i]}" -v r="${raws[$i]}" 'BEGIN { printf "%.0f", 100 * s / r }')"); done
echo "best:   save $(best "${saves[@]}") MB/s, raw $(best "${raws[@]}") MB/s → $(ratio "$(best "${saves[@]}")" "$(best "${raws[@]}")") of raw"
echo "median: save $(median "${saves[@]}") MB/s, raw $(median "${raws[@]}") MB/s → $(ratio "$(median "${saves[@]}")" "$(median "${raws[@]}")") of raw;" \
     "median of the per-round ratios $(median "${ratios[@]}")% (target ≥ 50%)"
