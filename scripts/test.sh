#!/usr/bin/env bash
# The whole test suite in release mode (numerical tests are fast there), including the mpirun tests.
# Usage: bash scripts/test.sh [extra `swift test` arguments, e.g. --filter ReferenceTests]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The pinned Python environment of FVD and LPIPS (tools/fvd; quick when already set up): their tests need it.
bash scripts/setup-fvd.sh
# mpirun refuses root without these; tests launch `mpirun --oversubscribe` themselves.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(-c release -Xswiftc -enable-testing --scratch-path .build-test)
swift build "${flags[@]}" --build-tests
# End-to-end crash safety on the real binary (kill -9 during checkpoint writes, resume, bitwise result);
# skipped when arguments select a subset of the unit tests.
if [ "$#" -eq 0 ]; then
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
swift test "${flags[@]}" --skip-build --disable-xctest "$@"
