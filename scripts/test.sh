#!/usr/bin/env bash
# The test command, in release mode (numerical tests are fast there). Three ways to call it:
#
#   bash scripts/test.sh              everything, what CI runs (.ci/run): installs the packages (scripts/setup.sh)
#                                     and FVD's environment (scripts/setup-fvd.sh), builds, runs the end-to-end
#                                     scripts (checkpoint kill, Slurm, multi-host, fuzzing, FVD's self-test) and
#                                     then the whole Swift suite: the unit targets and IntegrationTests.
#   bash scripts/test.sh --quick [ARGS]
#                                     the fast tier: the unit targets only (IntegrationTests skipped: no vt binary,
#                                     mpirun, ffmpeg or FVD runs, no long training), no apt, no FVD set-up, no
#                                     end-to-end scripts. Under 3 minutes with the build up to date. ARGS go to
#                                     `swift test` too (e.g. --quick --filter KernelsTests).
#   bash scripts/test.sh ARGS         `swift test ARGS` (e.g. --filter ReferenceTests, --skip X): no apt, no FVD
#                                     set-up, no end-to-end scripts — the selection runs against what is installed
#                                     (run `bash scripts/setup.sh` / `bash scripts/setup-fvd.sh` once, or add
#                                     --setup to do both first). Selected integration tests whose tool is missing
#                                     are skipped with the reason.
#
# Every way ends with one line: how many tests ran, passed, failed and were skipped, and how long it took.
# With CI=true a missing vt binary, mpirun, ffmpeg or FVD environment fails the tests that need it.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
mode=selection setup=no arguments=()
[ "$#" -eq 0 ] && mode=full setup=yes
for argument in "$@"; do
    case "$argument" in
        --quick) mode=quick ;;
        --setup) setup=yes ;;
        *) arguments+=("$argument") ;;
    esac
done
if [ "$mode" = quick ] && [ "$setup" = yes ]; then
    echo "error: --quick runs no set-up; run bash scripts/setup.sh first, or drop --quick" >&2
    exit 2
fi
if [ "$setup" = yes ]; then
    bash scripts/setup.sh
    # The pinned Python environment of FVD and LPIPS (tools/fvd; quick when already set up): their tests need it.
    bash scripts/setup-fvd.sh
fi
# mpirun refuses root without these; tests launch `mpirun --oversubscribe` themselves.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(-c release -Xswiftc -enable-testing --scratch-path .build-test)
swift build "${flags[@]}" --build-tests
built=$SECONDS
if [ "$mode" = full ]; then
    # End-to-end crash safety on the real binary (kill -9 during checkpoint writes, resume, bitwise result).
    VT=.build-test/release/vt bash Tests/Scripts/checkpoint-kill-test.sh
    # A throwaway single-host Slurm cluster (root on Debian; skipped with one line elsewhere): the shipped
    # Launch/slurm-*.sh train, checkpoint before the limit, requeue and resume bitwise; node failure; scancel.
    VT=.build-test/release/vt bash Tests/Scripts/slurm-test.sh
    # 2 and 3 "hosts" (network namespaces, Open MPI over TCP, Launch/mpirun-hosts.sh): bitwise equal to one
    # host; kill -9, a silent link, a full disk each end the job with one message, nothing left running.
    VT=.build-test/release/vt bash Tests/Scripts/multihost-test.sh
    # Coverage-guided fuzzing (libFuzzer) of every parser, 10 s each from the committed seeds: 0 crashes.
    bash Tests/Fuzz/run.sh --budget 10 --jobs 2
    # The Python metrics' own tests: Fréchet distance vs SciPy, I3D features vs the committed fixture, LPIPS vs an
    # independent NumPy implementation on committed frames, CLI, caches.
    "${VT_FVD_ENV:-$HOME/.cache/vt/fvd-env}/bin/python" -m vt_fvd selftest
fi
selection=()
# The fast tier is the unit targets: every test but IntegrationTests'.
[ "$mode" = quick ] && selection=(--skip '^IntegrationTests\.')
log=$(mktemp "${TMPDIR:-/tmp}/vt-test.XXXXXX")
trap 'rm -f "$log"' EXIT
tested=$SECONDS
status=0
swift test "${flags[@]}" --skip-build --disable-xctest ${selection[@]+"${selection[@]}"} ${arguments[@]+"${arguments[@]}"} 2>&1 \
    | tee "$log" || status=$?
# The summary, counted from Swift Testing's lines: one "Test x() passed/failed after" or "Test x() skipped"
# per test function (a parameterised test counts once, as in Swift Testing's own "Test run with N tests").
count() { grep -E "^[^ ]+ Test .*$1" "$log" | grep -vc '^[^ ]* Test run with' || true; }
passed=$(count ' passed after ') failed=$(count ' failed after ') skipped=$(count ') skipped')
elapsed() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }
echo "vt tests ($mode): $((passed + failed)) tests run, $skipped skipped; $(elapsed $((SECONDS - start))) in all" \
     "(build $(elapsed $((built - start))), swift test $(elapsed $((SECONDS - tested))))"
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
