#!/usr/bin/env bash
# Tests/Fuzz/make-seeds.sh: rewrites the committed seed corpus (Tests/Fuzz/corpus/) with vt's own writers
# (Seeds/MakeSeeds.swift), built from the same module objects as the harnesses (build.sh).
# Usage: bash Tests/Fuzz/make-seeds.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=build.sh
source "$here/build.sh"
fuzz_build_modules
binary=$(FUZZ_LINK_SANITIZE="-sanitize=address -parse-as-library" fuzz_link make-seeds "$here/Seeds/MakeSeeds.swift")
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$binary" "$here/corpus" "$FUZZ_ROOT"
find "$here/corpus" -type f | sort | while read -r file; do printf '%8d  %s\n' "$(stat -c %s "$file")" "${file#"$FUZZ_ROOT"/}"; done
du -sb "$here/corpus" | cut -f1 | xargs printf 'corpus: %s bytes\n'
