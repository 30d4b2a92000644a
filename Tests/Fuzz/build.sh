#!/usr/bin/env bash
# Tests/Fuzz/build.sh: the build half of the fuzzing kit, sourced by run.sh and make-seeds.sh.
#
# Compiles vt's library modules straight from Sources/ with swiftc (not SwiftPM), every Swift module with
# `-sanitize=fuzzer,address -parse-as-library` (coverage + AddressSanitizer, with overflow checks on: the
# release build's -Ounchecked would hide a trap as silent wrap-around), the C shims and Yams' libyaml with
# the toolchain's clang under the same sanitizers. Each module lands in .build-fuzz/modules/NAME-KEY/,
# KEY being a hash of its sources, flags and the keys of the modules it imports, so an unchanged module
# is never rebuilt. Nothing here touches Package.swift's build.
#
# Defines: fuzz_build_modules (builds every module below, sets MODULE_FLAGS and MODULE_OBJECTS) and
# fuzz_link NAME OUTPUT SWIFT_FILES... [-- EXTRA_FLAGS] (one executable against all modules, cached too).

FUZZ_ROOT=${FUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
FUZZ_BUILD=${FUZZ_BUILD:-$FUZZ_ROOT/.build-fuzz}
FUZZ_JOBS=${FUZZ_JOBS:-2}
SWIFTC=${SWIFTC:-swiftc}
CLANG=${CLANG:-$(dirname "$(command -v "$SWIFTC")")/clang}

SWIFT_FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 5)
C_FLAGS=(-fsanitize=address,fuzzer-no-link -O1 -g)
HDF5_INCLUDE=${HDF5_INCLUDE:-/usr/include/hdf5/serial}
LINK_FLAGS=(-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5_serial -lopenblas -ldnnl -lgomp -lmvec -lm)

MODULE_FLAGS=()     # -I for every built module and C module map
MODULE_OBJECTS=()   # every object file to link
declare -A MODULE_KEY=()
declare -A MODULE_DIR=()

fuzz_log() { printf '%s\n' "$*" >&2; }

# Hash of the named files' paths and contents plus any extra words.
fuzz_hash() {
    local words=$1; shift
    { printf '%s\n' "$words" "$("$SWIFTC" --version 2>&1 | head -1)"
      for file in "$@"; do printf '%s\n' "${file#"$FUZZ_ROOT"/}"; cat "$file"; done; } | sha256sum | cut -c1-16
}

# A C module map for a SwiftPM C target (SwiftPM generates these; swiftc needs them written out).
fuzz_module_map() {
    local name=$1 header=$2 directory="$FUZZ_BUILD/cmodules/$1"
    mkdir -p "$directory"
    printf 'module %s {\n    header "%s"\n    export *\n}\n' "$name" "$header" > "$directory/module.modulemap.new"
    if ! cmp -s "$directory/module.modulemap.new" "$directory/module.modulemap"; then
        mv "$directory/module.modulemap.new" "$directory/module.modulemap"
    else
        rm "$directory/module.modulemap.new"
    fi
    MODULE_FLAGS+=(-I "$directory")
}

# fuzz_c_objects NAME "CFLAGS" FILES...: compiles C files into NAME's cached folder.
fuzz_c_objects() {
    local name=$1 flags=$2; shift 2
    local key; key=$(fuzz_hash "c $name ${C_FLAGS[*]} $flags" "$@")
    local directory="$FUZZ_BUILD/modules/$name-$key"
    if [ ! -f "$directory/.done" ]; then
        fuzz_log "fuzz build: $name (C, ${#@} files)"
        rm -rf "$directory"; mkdir -p "$directory"
        local file pids=()
        for file in "$@"; do
            # shellcheck disable=SC2086
            "$CLANG" "${C_FLAGS[@]}" $flags -c "$file" -o "$directory/$(basename "${file%.c}").o" &
            pids+=($!)
            if [ "${#pids[@]}" -ge "$FUZZ_JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
        done
        for pid in "${pids[@]}"; do wait "$pid"; done
        touch "$directory/.done"
    fi
    MODULE_OBJECTS+=("$directory"/*.o)
    MODULE_KEY[$name]=$key
}

# fuzz_swift_module NAME "DEPENDENCIES" "EXTRA_FLAGS" FILES...: one module, compiled whole-module.
fuzz_swift_module() {
    local name=$1 dependencies=$2 extra=$3; shift 3
    local words="swift $name ${SWIFT_FLAGS[*]} $extra" dependency
    for dependency in $dependencies; do words+=" $dependency=${MODULE_KEY[$dependency]}"; done
    local key; key=$(fuzz_hash "$words" "$@")
    local directory="$FUZZ_BUILD/modules/$name-$key"
    if [ ! -f "$directory/.done" ]; then
        fuzz_log "fuzz build: $name (Swift, $# files)"
        rm -rf "$directory"; mkdir -p "$directory"
        local started=$SECONDS
        # Whole-module with -num-threads: one object per source file, written to the current folder.
        # shellcheck disable=SC2086
        (cd "$directory" && "$SWIFTC" "${SWIFT_FLAGS[@]}" $extra "${MODULE_FLAGS[@]}" -Xcc -I"$HDF5_INCLUDE" \
            -module-name "$name" -wmo -num-threads "$FUZZ_JOBS" -c "$@" \
            -emit-module -emit-module-path "$directory/$name.swiftmodule" \
            > "$directory/build.log" 2>&1) || { cat "$directory/build.log" >&2; return 1; }
        touch "$directory/.done"
        fuzz_log "fuzz build: $name took $((SECONDS - started)) s"
    fi
    MODULE_FLAGS+=(-I "$directory")
    MODULE_OBJECTS+=("$directory"/*.o)
    MODULE_KEY[$name]=$key
    MODULE_DIR[$name]=$directory
}

# Yams from SwiftPM's own checkout of the pinned version (Package.resolved), resolved into .build-fuzz.
fuzz_yams_sources() {
    local checkout="$FUZZ_BUILD/spm/checkouts/Yams"
    if [ ! -d "$checkout/Sources/Yams" ]; then
        fuzz_log "fuzz build: resolving packages into $FUZZ_BUILD/spm (for Yams)"
        (cd "$FUZZ_ROOT" && swift package resolve --scratch-path "$FUZZ_BUILD/spm" > "$FUZZ_BUILD/resolve.log" 2>&1) || { cat "$FUZZ_BUILD/resolve.log" >&2; return 1; }
    fi
    YAMS_DIR=$checkout/Sources
}

# Builds every module the harnesses need, bottom up (docs/architecture.md's module graph).
fuzz_build_modules() {
    local S=$FUZZ_ROOT/Sources
    mkdir -p "$FUZZ_BUILD"
    MODULE_FLAGS=(-I "$S/CBLAS" -I "$S/CDNNL" -I "$S/CHDF5" -Xcc -I/usr/include/x86_64-linux-gnu/openblas-pthread)
    MODULE_OBJECTS=()
    fuzz_module_map _HDF5Shims "$S/_HDF5Shims/include/vt_hdf5_shims.h"
    fuzz_module_map _KernelShims "$S/_KernelShims/include/kernel_shims.h"
    fuzz_module_map _SystemShims "$S/_SystemShims/include/vt_system_shims.h"
    fuzz_c_objects _HDF5Shims "-I$HDF5_INCLUDE -I$S/_HDF5Shims/include" "$S/_HDF5Shims/shims.c"
    fuzz_c_objects _KernelShims "-O3 -ffp-contract=off -fveclib=libmvec -fno-math-errno -I$S/_KernelShims/include" "$S/_KernelShims/shims.c"
    fuzz_c_objects _SystemShims "-I$S/_SystemShims/include" "$S/_SystemShims/shims.c"
    fuzz_yams_sources
    MODULE_FLAGS+=(-I "$YAMS_DIR/CYaml/include")
    fuzz_c_objects CYaml "-DYAML_DECLARE_EXPORT -I$YAMS_DIR/CYaml/include" "$YAMS_DIR"/CYaml/src/*.c

    fuzz_swift_module Common "_SystemShims" "" "$S"/Common/*.swift
    fuzz_swift_module HDF5 "_HDF5Shims" "" "$S"/HDF5/*.swift
    fuzz_swift_module OneDNN "" "" "$S"/OneDNN/*.swift
    fuzz_swift_module Kernels "OneDNN _KernelShims" "" "$S"/Kernels/*.swift "$S"/Kernels/Reference/*.swift
    fuzz_swift_module Datasets "Common HDF5 Kernels" "" "$S"/Datasets/*.swift
    fuzz_swift_module Checkpointing "Common HDF5 Kernels _SystemShims" "" "$S"/Checkpointing/*.swift
    fuzz_swift_module Yams "CYaml" "-DSWIFT_PACKAGE" "$YAMS_DIR"/Yams/*.swift
    fuzz_swift_module Optimization "Kernels" "" "$S"/Optimization/*.swift
    fuzz_swift_module VideoModel "Common Kernels Yams" "" "$S"/VideoModel/*.swift
    # Of Training, only the config: the rest needs MPI, the evaluator and swift-log, none of which decode
    # a config file. `vt train --config` reads it through RunConfig.load, in these three files.
    fuzz_swift_module Training "Kernels Optimization VideoModel" "" \
        "$S/Training/RunConfig.swift" "$S/Training/CheckpointSettings.swift" "$S/Training/DistributionSettings.swift"
}

# fuzz_link NAME SWIFT_FILES...: compiles NAME's harness files and links them against every module into
# .build-fuzz/bin/NAME-KEY; prints the path. Sanitizer flags come from SWIFT_FLAGS unless
# FUZZ_LINK_SANITIZE overrides them (make-seeds.sh links a plain executable).
fuzz_link() {
    local name=$1; shift
    local sanitize=${FUZZ_LINK_SANITIZE:-"-sanitize=fuzzer,address -parse-as-library"}
    local key; key=$(fuzz_hash "link $name $sanitize ${LINK_FLAGS[*]} ${MODULE_KEY[*]}" "$@")
    local output="$FUZZ_BUILD/bin/$name-$key"
    if [ ! -x "$output" ]; then
        fuzz_log "fuzz build: linking $name"
        mkdir -p "$FUZZ_BUILD/bin"
        # shellcheck disable=SC2086
        "$SWIFTC" $sanitize -O -g -swift-version 5 "${MODULE_FLAGS[@]}" -Xcc -I"$HDF5_INCLUDE" \
            -module-name "Fuzz_${name//-/_}" "$@" "${MODULE_OBJECTS[@]}" "${LINK_FLAGS[@]}" -o "$output.partial" \
            > "$FUZZ_BUILD/bin/$name.log" 2>&1 || { grep -v 'Cannot export local symbol' "$FUZZ_BUILD/bin/$name.log" >&2; return 1; }
        mv "$output.partial" "$output"
    fi
    printf '%s\n' "$output"
}
