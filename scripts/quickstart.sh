#!/usr/bin/env bash
# The main job on a fresh machine: install system packages, build vt (release), train Configs/tiny.yaml
# on the built-in synthetic robot-pushing corpus (prepared as HDF5 shards first) and show bits/dim falling.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
# The corpus Configs/tiny.yaml reads (data.train / data.eval): deterministic, so rewriting it is harmless.
.build/release/vt prepare synthetic --videos 512 --seed 1 --output data/synthetic/train.h5 --overwrite
.build/release/vt prepare synthetic --videos 64 --seed 2 --split test --output data/synthetic/test.h5 --overwrite
.build/release/vt train --config Configs/tiny.yaml --run-dir runs/tiny
