#!/usr/bin/env bash
# ZeRO stage 1 against replicated optimizer state on 2 ranks (issue 12, item 3: step time within 5%,
# optimizer slots and master weights per rank = 1/2). For Configs/bench.yaml (or CONFIG), ROUNDS (4)
# rounds of two `mpirun -np 2 vt train` runs — replicated then sharded, the order swapped every round so
# that a drifting load on the shared host hits both alike — each STEPS (9) steps; a run's time is the
# median step_seconds of its steps 2…STEPS (step 1 warms up). Prints every run, the medians over runs,
# their ratio and the median of the per-round ratios, and the state-per-rank log lines.
#
# Usage: bash Tests/Scripts/zero1-step-time.sh   (builds vt in release; VT=path/to/vt to skip;
#        PRECISION=fp32|bf16 overrides the config's)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${VT:-}" ]; then
    swift build -c release --scratch-path .build-zero1 --product vt > /dev/null
    VT=.build-zero1/release/vt
fi
VT=$(cd "$(dirname "$VT")" && pwd)/$(basename "$VT")
config=$(cd "$(dirname "${CONFIG:-Configs/bench.yaml}")" && pwd)/$(basename "${CONFIG:-Configs/bench.yaml}")
rounds=${ROUNDS:-4}; steps=${STEPS:-9}
precision=(); [ -n "${PRECISION:-}" ] && precision=(--precision "$PRECISION")
work=$(mktemp -d "${TMPDIR:-/tmp}/vt-zero1-step-time.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

run() {  # run <name> <flag>: prints "<median step seconds> <median exposed communication seconds>"
    local name=$1 flag=$2
    mpirun --allow-run-as-root --oversubscribe -np 2 "$VT" train --config "$config" "${precision[@]}" --steps "$steps" \
        --run-dir "$work/$name" --checkpoint-dir "$work/$name-checkpoints" "$flag" > "$work/$name.log" 2>&1 \
        || { tail -20 "$work/$name.log"; exit 1; }
    rm -rf "$work/$name-checkpoints"
    local rows; rows=$(tail -n +2 "$work/$name/metrics.jsonl")
    local step; step=$(echo "$rows" | sed -E 's/.*"step_seconds":([0-9.e+-]+).*/\1/' | median)
    local exposed; exposed=$(echo "$rows" | sed -E 's/.*"step_seconds":([0-9.e+-]+).*"communication_fraction":([0-9.e+-]+).*/\1 \2/' \
        | awk '{ print $1 * $2 }' | median)
    echo "$step $exposed"
}

printf '%-6s %-28s %-28s %s\n' round "replicated: step (exposed comm)" "ZeRO-1: step (exposed comm)" "ZeRO-1 / replicated"
replicated=(); sharded=(); ratios=()
for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) -eq 1 ]; then
        read -r r rc <<< "$(run "replicated-$round" --no-shard-optimizer)"; read -r s sc <<< "$(run "sharded-$round" --shard-optimizer)"
    else
        read -r s sc <<< "$(run "sharded-$round" --shard-optimizer)"; read -r r rc <<< "$(run "replicated-$round" --no-shard-optimizer)"
    fi
    ratio=$(awk -v a="$s" -v b="$r" 'BEGIN { printf "%.4f", a / b }')
    replicated+=("$r"); sharded+=("$s"); ratios+=("$ratio")
    printf '%-6s %-28s %-28s %s\n' "$round" "$(printf '%.4f s (%.4f s)' "$r" "$rc")" "$(printf '%.4f s (%.4f s)' "$s" "$sc")" "$ratio"
done
mr=$(printf '%s\n' "${replicated[@]}" | median); ms=$(printf '%s\n' "${sharded[@]}" | median)
echo "medians over runs: replicated $mr s, ZeRO-1 $ms s, ratio $(awk -v a="$ms" -v b="$mr" 'BEGIN { printf "%.4f", a / b }');" \
     "median of per-round ratios $(printf '%s\n' "${ratios[@]}" | median)"
grep -h "^state per rank" "$work/replicated-1.log" "$work/sharded-1.log"
