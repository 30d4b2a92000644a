#!/usr/bin/env bash
# Tests/Fuzz/run.sh: coverage-guided fuzzing (libFuzzer) of vt's parsers — TFRecord framing, tf.Example and
# BAIR decoding, the Kinetics annotation CSV, run-config YAML, video shards and checkpoints (HDF5 files,
# mutated as whole files). See Tests/Fuzz/README.md.
#
# Usage: bash Tests/Fuzz/run.sh [--budget SECONDS] [--jobs N] [HARNESS...]
#   --budget  seconds of fuzzing per harness (default 10)
#   --jobs    harnesses fuzzed at once, and compile jobs (default 2)
#   HARNESS   a subset of: tfrecord tfexample kinetics_csv run_config video_shard checkpoint
#
# Builds every harness into .build-fuzz/ (cached by source contents: a second run rebuilds nothing), fuzzes
# each from a temporary copy of its committed seeds (Tests/Fuzz/corpus/<harness>/, which stay clean),
# prints the executions run per harness, and exits 1 naming the input of any crash, trap, hang or
# out-of-memory (kept in .build-fuzz/crashes/<harness>/). Exits 0 with one "skipped: ..." line where
# swiftc has no -sanitize=fuzzer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
budget=10
jobs=2
harnesses=()
all=(tfrecord tfexample kinetics_csv run_config video_shard checkpoint)
while [ "$#" -gt 0 ]; do
    case "$1" in
        --budget) budget=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) harnesses+=("$1"); shift ;;
    esac
done
[ "${#harnesses[@]}" -gt 0 ] || harnesses=("${all[@]}")
for harness in "${harnesses[@]}"; do
    [ -f "$here/Harnesses/$harness.swift" ] || { echo "run.sh: no harness '$harness' (have: ${all[*]})" >&2; exit 2; }
done
[[ "$budget" =~ ^[0-9]+$ && "$budget" -ge 1 ]] || { echo "run.sh: --budget must be a whole number of seconds ≥ 1" >&2; exit 2; }
[[ "$jobs" =~ ^[0-9]+$ && "$jobs" -ge 1 ]] || { echo "run.sh: --jobs must be a whole number ≥ 1" >&2; exit 2; }

export FUZZ_JOBS=$jobs
# shellcheck source=build.sh
source "$here/build.sh"
started=$SECONDS

# Can this toolchain fuzz at all? (libFuzzer ships with the Linux toolchains, not with every one.)
probe_directory="$FUZZ_BUILD/probe"
mkdir -p "$probe_directory"
if ! command -v "$SWIFTC" > /dev/null; then
    echo "skipped: no swiftc on PATH, so no libFuzzer build"
    exit 0
fi
probe_key=$(fuzz_hash "probe $(command -v "$SWIFTC")")
if [ ! -f "$probe_directory/ok-$probe_key" ]; then
    printf '@_cdecl("LLVMFuzzerTestOneInput") public func probe(_ d: UnsafePointer<UInt8>?, _ n: Int) -> CInt { 0 }\n' \
        > "$probe_directory/probe.swift"
    if ! "$SWIFTC" -sanitize=fuzzer,address -parse-as-library "$probe_directory/probe.swift" -o "$probe_directory/probe" \
            > "$probe_directory/probe.log" 2>&1; then
        echo "skipped: this swiftc cannot build with -sanitize=fuzzer ($(grep -m1 -i error "$probe_directory/probe.log" || echo 'see .build-fuzz/probe/probe.log'))"
        exit 0
    fi
    touch "$probe_directory/ok-$probe_key"
fi

fuzz_build_modules
declare -A binary=()
for harness in "${harnesses[@]}"; do
    binary[$harness]=$(fuzz_link "$harness" "$here/Harnesses/FuzzSupport.swift" "$here/Harnesses/$harness.swift")
done
echo "fuzz: built in $((SECONDS - started)) s; fuzzing ${#harnesses[@]} harnesses for $budget s each, $jobs at a time"

work=$(mktemp -d "${TMPDIR:-/tmp}/vt-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Crashes outlive the run; each run starts with an empty folder per harness.
crashes="$FUZZ_BUILD/crashes"

# Whether the crash in log $1 happened inside the HDF5 C library: the first stack frame outside the
# sanitizer and libFuzzer runtimes and libc is in libhdf5. Swift cannot validate what HDF5 parses there
# (see known-hdf5/README.md); any other crash, vt's own code included, fails the run.
crashed_in_hdf5() {
    local frame
    frame=$(grep -E '^ +#[0-9]+ 0x' "$1" | grep -v -E 'compiler-rt/lib/|libc\.so|in (__asan|__sanitizer|__interceptor|fuzzer::)' \
        | head -1 || true)
    [[ "$frame" == *libhdf5* ]]
}

fuzz_one() {
    local harness=$1 directory="$work/$1"
    mkdir -p "$directory/corpus" "$directory/tmp"
    rm -rf "${crashes:?}/$harness"; mkdir -p "$crashes/$harness"
    cp "$here/corpus/$harness"/* "$directory/corpus/" 2> /dev/null || true
    local deadline=$((SECONDS + budget)) runs=0 hdf5=0 status=0 attempt=0 log dictionary=()
    [ ! -f "$here/dict/$harness.dict" ] || dictionary=(-dict="$here/dict/$harness.dict")
    # A crash inside HDF5 ends that fuzzer process; the next one goes on from the corpus grown so far,
    # until the budget is spent.
    while [ "$SECONDS" -lt "$deadline" ] && [ "$attempt" -lt 50 ]; do
        attempt=$((attempt + 1)); status=0
        log="$directory/log-$attempt"
        # SWIFT_BACKTRACE off: Swift's own crash reporter would run first and can take half a minute; the
        # sanitizer and libFuzzer report the crash and save the input. Leaks are not findings: Foundation
        # leaks a 4 kB buffer reading an empty file, and libhdf5 leaks after some failed opens.
        TMPDIR="$directory/tmp" SWIFT_BACKTRACE=enable=no \
            ASAN_OPTIONS=detect_leaks=${FUZZ_LEAKS:-0}:abort_on_error=0:symbolize=1:handle_abort=1 \
            "${binary[$harness]}" "$directory/corpus" -max_total_time="$((deadline - SECONDS))" \
            -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -artifact_prefix="$crashes/$harness/" \
            "${dictionary[@]}" -print_final_stats=1 > "$log" 2>&1 || status=$?
        runs=$((runs + $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)))
        [ "$status" -ne 0 ] || break
        local input
        input=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/Test unit written to //' || true)
        if [ -n "$input" ] && [ -f "$input" ] && crashed_in_hdf5 "$log"; then
            mkdir -p "$crashes/$harness/hdf5"
            mv "$input" "$crashes/$harness/hdf5/"
            cp "$log" "$crashes/$harness/hdf5/$(basename "$input").log"
            hdf5=$((hdf5 + 1)); status=0
            continue
        fi
        cp "$log" "$crashes/$harness/fuzz.log"
        local what
        what=$(grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer)|Fatal error|SUMMARY:' "$log" | sed 's/^==[0-9]*== *//' || true)
        printf '%-13s %9s executions; FAILED: %s\n              input: %s\n              log: %s\n              reproduce: SWIFT_BACKTRACE=enable=no %s %s\n' \
            "$harness" "$runs" "${what:-exit status $status}" "${input:-(none saved)}" "$crashes/$harness/fuzz.log" \
            "${binary[$harness]}" "${input:-INPUT}" > "$directory/summary"
        touch "$directory/failed"
        return
    done
    local seeds found note=""
    seeds=$(find "$here/corpus/$harness" -type f | wc -l)
    found=$(find "$directory/corpus" -type f | wc -l)
    [ "$hdf5" -eq 0 ] || note="; $hdf5 crash(es) inside libhdf5 (not vt's code; inputs in $crashes/$harness/hdf5/)"
    printf '%-13s %9s executions in %s s; corpus %d seeds → %d inputs; ok%s\n' "$harness" "$runs" "$budget" "$seeds" "$found" \
        "$note" > "$directory/summary"
}

running=()
for harness in "${harnesses[@]}"; do
    fuzz_one "$harness" &
    running+=($!)
    if [ "${#running[@]}" -ge "$jobs" ]; then wait "${running[0]}"; running=("${running[@]:1}"); fi
done
for pid in "${running[@]}"; do wait "$pid"; done

failed=0
for harness in "${harnesses[@]}"; do
    cat "$work/$harness/summary"
    [ ! -f "$work/$harness/failed" ] || failed=1
done
echo "fuzz: $((SECONDS - started)) s in all"
if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED — a harness crashed, trapped, hung or ran out of memory in vt's code (see above)" >&2
    exit 1
fi
