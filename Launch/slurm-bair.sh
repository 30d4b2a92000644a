#!/usr/bin/env bash
# Launch/slurm-bair.sh — BAIR base model (Configs/bair-base-300k.yaml) on a Slurm cluster.
#   sbatch Launch/slurm-bair.sh            (resumes from the latest checkpoint when there is one)
#SBATCH --job-name=vt-bair-base
#SBATCH --nodes=8
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=48:00:00
#SBATCH --signal=B:TERM@300
#SBATCH --output=runs/%x-%j.out
#SBATCH --requeue
# 8 nodes × 4 ranks = 32 data ranks; global batch 64 → 2 videos per rank per step.
# --signal sends SIGTERM 5 minutes before the time limit: vt writes a checkpoint at the next step and
# exits cleanly; --requeue plus --resume continue the same run in the next allocation.
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
export VT_THREADS=${SLURM_CPUS_PER_TASK:-8}
config=${CONFIG:-Configs/bair-base-300k.yaml}
srun --mpi=pmix --cpu-bind=cores .build/release/vt train --config "$config" ${MESH:+--mesh "$MESH"} --resume &
wait $!
