#!/usr/bin/env bash
# The main job on a fresh machine: install system packages, build vt (release), train Configs/tiny.yaml
# on the built-in synthetic robot-pushing corpus and show bits/dim falling.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
.build/release/vt train --config Configs/tiny.yaml --run-dir runs/tiny
