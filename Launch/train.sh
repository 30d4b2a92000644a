#!/usr/bin/env bash
# Launch/train.sh RANKS CONFIG [vt train options…] — data-parallel training on this machine.
#
#   bash Launch/train.sh 2 Configs/tiny.yaml --steps 200
#
# Adds the mpirun flags a local run needs: --allow-run-as-root when root, --oversubscribe when there
# are more ranks than cores, the shared-memory transport (vader) with self for loopback, and no core
# binding (each rank runs its own worker threads; vt divides the cores among the local ranks, or set
# VT_THREADS). Extra arguments go to `vt train`.
set -euo pipefail
ranks=${1:?usage: Launch/train.sh RANKS CONFIG [vt train options…]}
config=${2:?usage: Launch/train.sh RANKS CONFIG [vt train options…]}
shift 2
cd "$(dirname "$0")/.."
vt=${VT:-.build/release/vt}
[ -x "$vt" ] || { echo "error: $vt not found; build with: swift build -c release" >&2; exit 1; }
flags=(-np "$ranks" --bind-to none --mca btl self,vader)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
[ "$ranks" -gt "$(nproc)" ] && flags+=(--oversubscribe)
exec mpirun "${flags[@]}" "$vt" train --config "$config" "$@"
