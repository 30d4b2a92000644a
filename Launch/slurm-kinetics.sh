#!/usr/bin/env bash
# Launch/slurm-kinetics.sh — the large Kinetics model (Configs/kinetics-large-1m.yaml) on Slurm.
#   sbatch Launch/slurm-kinetics.sh
#SBATCH --job-name=vt-kinetics-large
#SBATCH --nodes=16
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=48:00:00
#SBATCH --signal=B:TERM@300
#SBATCH --output=runs/%x-%j.out
#SBATCH --requeue
# 16 nodes × 4 ranks = 64 data ranks; global batch 64 with accumulation_steps 4 → 1 video per rank per
# micro-step (the large model's activations need it). Prepare the shards first:
#   vt prepare kinetics --annotations kinetics600/train.csv --videos kinetics600/train \
#       --classes Configs/kinetics-cooking-classes.txt --output data/kinetics/train.h5
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
export VT_THREADS=${SLURM_CPUS_PER_TASK:-8}
config=${CONFIG:-Configs/kinetics-large-1m.yaml}
srun --mpi=pmix --cpu-bind=cores .build/release/vt train --config "$config" ${MESH:+--mesh "$MESH"} --resume &
wait $!
