#!/usr/bin/env bash
# The whole test suite in release mode (numerical tests are fast there), including the mpirun tests.
# Usage: bash scripts/test.sh [extra `swift test` arguments, e.g. --filter ReferenceTests]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# mpirun refuses root without these; tests launch `mpirun --oversubscribe` themselves.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(-c release -Xswiftc -enable-testing --scratch-path .build-test)
swift build "${flags[@]}" --build-tests
swift test "${flags[@]}" --skip-build --disable-xctest "$@"
