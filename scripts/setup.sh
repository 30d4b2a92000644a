#!/usr/bin/env bash
# Installs the Debian packages vt needs (Open MPI, OpenBLAS, HDF5, ffmpeg, oneDNN) when any is missing, and
# checks for the Swift toolchain. Idempotent; needs root or sudo for apt-get.
set -euo pipefail
packages=(libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev ffmpeg pkg-config libdnnl-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (6.0 or later) is not on PATH; install it from swift.org first" >&2
    exit 1
fi
