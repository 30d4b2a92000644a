#!/usr/bin/env bash
# The main job on a fresh machine: install system packages, build vt (release), train Configs/tiny.yaml
# on the built-in synthetic robot-pushing corpus (prepared as HDF5 shards first) and show bits/dim falling,
# then evaluate the final checkpoint exactly and sample videos from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
# The corpus Configs/tiny.yaml reads (data.train / data.eval): deterministic, so rewriting it is harmless.
.build/release/vt prepare synthetic --videos 512 --seed 1 --output data/synthetic/train.h5 --overwrite
.build/release/vt prepare synthetic --videos 64 --seed 2 --split test --output data/synthetic/test.h5 --overwrite
.build/release/vt train --config Configs/tiny.yaml --run-dir runs/tiny
# The exact bits/dim of the final model on the whole test split, then 4 sampled continuations as files.
checkpoint=$(cat Checkpoints/tiny/latest)
.build/release/vt evaluate --checkpoint "Checkpoints/tiny/$checkpoint" --data data/synthetic/test.h5
.build/release/vt sample --checkpoint "Checkpoints/tiny/$checkpoint" --data data/synthetic/test.h5 --videos 4 --output samples/tiny
echo "samples: samples/tiny/contact_sheet.png, samples/tiny/sample_<i>.gif and .mp4; TensorBoard: tensorboard --logdir runs"
