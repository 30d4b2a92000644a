#!/usr/bin/env bash
# Kill test for checkpoints and exact resume, on the real `vt` binary:
#   1. an uninterrupted reference run of a very small model (240 steps, a checkpoint every 2 steps);
#   2. the same run interrupted again and again — `kill -9` at random moments (many inside a checkpoint
#      write: VT_CHECKPOINT_TEST_DELAY makes every write pause halfway), and every fourth time SIGTERM or
#      SIGINT, which must save and exit 0 — each time resumed with `--resume` until it finishes;
#   3. after every interruption, every checkpoint on disk must verify (`vt inspect checkpoint`), and
#      `latest` must name one of them;
#   4. at the end: the final parameters and optimizer state are bitwise those of the reference (same
#      CRC-32C and norm for every tensor) and metrics.jsonl has the same loss at every step, once.
# Also: a checkpoint with one flipped byte is rejected naming the dataset.
#
# Usage: bash Tests/Scripts/checkpoint-kill-test.sh            (builds vt like scripts/test.sh does)
#        VT=path/to/vt bash Tests/Scripts/checkpoint-kill-test.sh
# Takes about a minute. Exit status 0 on success.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${VT:-}" ]; then
    swift build -c release -Xswiftc -enable-testing --scratch-path .build-test --product vt >/dev/null
    VT=.build-test/release/vt
fi
VT=$(cd "$(dirname "$VT")" && pwd)/$(basename "$VT")
work=$(mktemp -d "${TMPDIR:-/tmp}/vt-kill-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
model_yaml=$PWD/Tests/Scripts/tiny-model.yaml
cd "$work"
steps=240

{ echo '# 12 synthetic videos, global batch 4: an epoch is 3 steps, so the run crosses 80 epoch boundaries.'
  cat "$model_yaml"
  cat <<'EOF'
optimizer:
  name: adam
  learning_rate: 3.0e-3
  warmup_steps: 5
  schedule: cosine
  minimum_learning_rate: 1.0e-4
  clip_norm: 1.0
training:
  batch_size: 4
  steps: 240
  seed: 3
  log_every: 1000
data:
  synthetic_videos: 12
  synthetic_seed: 2
checkpoint:
  every: 2
  keep_last: 3
  milestones: [50]
EOF
} > kill.yaml

fail() { echo "kill test FAILED: $*" >&2; exit 1; }

# Per tensor: name, CRC-32C and norm — equal for two files exactly when the tensors are bitwise equal
# (up to CRC collisions); plus the step and the optimizer's step.
fingerprint() {
    "$VT" inspect checkpoint "$1" --json | grep -E '"(name|crc32c|norm)"|^  "step"|^    "step"'
}

losses() { grep -o '"step":[0-9]*,"loss":[^,]*' "$1"; }

verify_all() {  # every committed checkpoint verifies; latest names one of them
    local directory=$1 file count=0
    for file in "$directory"/step_*.h5; do
        [ -e "$file" ] || continue
        "$VT" inspect checkpoint "$file" --json > /dev/null 2> verify.err || fail "$(basename "$file") does not verify: $(cat verify.err)"
        count=$((count + 1))
    done
    if [ -e "$directory/latest" ]; then
        [ -e "$directory/$(cat "$directory/latest")" ] || fail "latest names $(cat "$directory/latest"), which is missing"
    fi
    echo "$count"
}

echo "reference: $steps uninterrupted steps"
"$VT" train --config kill.yaml --checkpoint-dir ref --run-dir ref-run > ref.log 2>&1 || { cat ref.log; fail "reference run"; }
[ -e ref/step_00000240.h5 ] || fail "no final reference checkpoint"

echo "interrupted: kill -9 at random moments (writes pause ${VT_CHECKPOINT_TEST_DELAY:-0.02} s halfway), SIGTERM/SIGINT every fourth time"
export VT_CHECKPOINT_TEST_DELAY=${VT_CHECKPOINT_TEST_DELAY:-0.02}
RANDOM=${KILL_TEST_SEED:-5}
kills=0; mid_write=0; graceful=0; launches=0
while :; do
    launches=$((launches + 1))
    [ "$launches" -le 150 ] || fail "the run did not finish after 150 launches"
    "$VT" train --config kill.yaml --checkpoint-dir run --run-dir run-log --resume > "launch-$launches.log" 2>&1 &
    pid=$!
    # 0.15–0.6 s: startup takes ~0.1 s, so most interruptions land while training or writing.
    sleep "0.$((15 + RANDOM % 45))"
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" || { cat "launch-$launches.log"; fail "launch $launches failed"; }
        echo "  launch $launches: finished on its own"
        break
    fi
    if [ $((launches % 4)) -eq 0 ]; then
        action="SIGTERM, clean stop"; [ $((launches % 8)) -eq 0 ] && action="SIGINT, clean stop"
        signal=$([ $((launches % 8)) -eq 0 ] && echo INT || echo TERM)
        kill -"$signal" "$pid"
        if wait "$pid"; then status=0; else status=$?; fi
        [ "$status" -eq 0 ] || { cat "launch-$launches.log"; fail "SIG$signal: exit status $status, expected a clean exit"; }
        if grep -q "stopped by SIG$signal at step" "launch-$launches.log"; then
            graceful=$((graceful + 1))
            stopped=$(grep -o "stopped by SIG$signal at step [0-9]*" "launch-$launches.log" | grep -o '[0-9]*$')
            [ "$(cat run/latest)" = "$(printf 'step_%08d.h5' "$stopped")" ] || fail "SIG$signal at step $stopped: latest is $(cat run/latest)"
        fi
    else
        kill -9 "$pid"
        wait "$pid" 2>/dev/null || true
        kills=$((kills + 1))
        action="kill -9"
        if ls run/.step_*.tmp.* > /dev/null 2>&1; then mid_write=$((mid_write + 1)); action="kill -9 inside a checkpoint write"; fi
    fi
    committed=$(verify_all run)
    printf '  launch %2d: %-34s %s checkpoints on disk, all verify; latest %s\n' "$launches" \
        "$action;" "$committed" "$(cat run/latest 2>/dev/null || echo none)"
done
echo "  $kills kill -9 ($mid_write inside a checkpoint write), $graceful clean stops on SIGTERM/SIGINT, $launches launches"
[ "$kills" -ge 5 ] || fail "only $kills kills before the run finished (slow it down: VT_CHECKPOINT_TEST_DELAY=0.05)"
[ "$mid_write" -ge 1 ] || fail "no kill landed inside a checkpoint write (try another KILL_TEST_SEED)"
[ "$graceful" -ge 1 ] || fail "no SIGTERM/SIGINT stop was observed"
ls run/.step_* > /dev/null 2>&1 && fail "temporary files remain after the last run: $(ls -a run)"

echo "final state: bitwise equal to the reference"
fingerprint ref/step_00000240.h5 > ref.fingerprint
fingerprint run/step_00000240.h5 > run.fingerprint
diff ref.fingerprint run.fingerprint > /dev/null || fail "final checkpoints differ: $(diff ref.fingerprint run.fingerprint | head -5)"
echo "  $(grep -c '"name"' ref.fingerprint) tensors identical (params and both Adam slots)"
losses ref-run/metrics.jsonl > ref.losses
losses run-log/metrics.jsonl > run.losses
[ "$(wc -l < ref.losses)" -eq "$steps" ] || fail "reference metrics has $(wc -l < ref.losses) lines"
diff ref.losses run.losses > /dev/null || fail "per-step losses differ: $(diff ref.losses run.losses | head -5)"
echo "  $steps per-step losses identical"

echo "a flipped byte is rejected naming the dataset"
cp run/step_00000240.h5 flipped.h5
size=$(stat -c %s flipped.h5)
offset=$((size / 2))  # the middle of the file: tensor data (params/encoder/embedding dominates)
byte=$(dd if=flipped.h5 bs=1 skip="$offset" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of=flipped.h5 bs=1 seek="$offset" conv=notrunc 2>/dev/null
if "$VT" inspect checkpoint flipped.h5 > /dev/null 2> flipped.log; then fail "a damaged checkpoint verified"; fi
grep -q "^error: checkpoint flipped.h5: /.*: fails its CRC-32C check" flipped.log || fail "unexpected message: $(tail -1 flipped.log)"
echo "  $(grep 'error:' flipped.log)"
echo "kill test passed"
