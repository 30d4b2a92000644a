#!/usr/bin/env bash
# Launch/slurm-kinetics.sh — the large Kinetics model (Configs/kinetics-large-1m.yaml) on Slurm.
#   sbatch Launch/slurm-kinetics.sh     (from the repository root; resumes from the latest checkpoint, if any)
# Options on the sbatch line override the #SBATCH lines (e.g. --nodes=8 --time=24:00:00); CONFIG, MESH and
# VT come from the environment. What happens at the time limit, on scancel and on a node failure:
# Launch/README.md, "Preemption, cancellation, node failure".
#SBATCH --job-name=vt-kinetics-large
#SBATCH --nodes=16
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=48:00:00
#SBATCH --signal=B:TERM@900
#SBATCH --requeue
#SBATCH --output=%x-%j.out
#SBATCH --open-mode=append
# 16 nodes × 4 ranks = 64 data ranks; global batch 64 with accumulation_steps 4 → 1 video per rank per
# micro-step (the large model's activations need it). Prepare the shards first:
#   vt prepare kinetics --annotations kinetics600/train.csv --videos kinetics600/train \
#       --classes Configs/kinetics-cooking-classes.txt --output data/kinetics/train.h5
# --signal=B:TERM@900: Slurm sends SIGTERM to this batch shell (only to it) 15 minutes before the time
# limit (Slurm may send it up to a minute earlier than asked): the margin holds one step (4 micro-steps)
# plus the 2.6 GB checkpoint even on a slow shared disk. The trap below passes it to vt, waits for vt's
# checkpoint and requeues the job; Slurm itself does not requeue a job that reaches its time limit.
# --output is opened by Slurm before this script runs, so it names the submit folder, which exists
# (runs/%x-%j.out would fail with no output at all when runs/ is missing); --open-mode=append keeps
# every allocation of a requeued job in that one file (%j stays the same across requeues).
set -uo pipefail
config=${CONFIG:-Configs/kinetics-large-1m.yaml}
vt=${VT:-.build/release/vt}
export VT_THREADS=${VT_THREADS:-${SLURM_CPUS_PER_TASK:-8}}
say() { echo "[$(date '+%F %T')] slurm-kinetics.sh, job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}): $*"; }
[ -n "${SLURM_JOB_ID:-}" ] || { echo "error: slurm-kinetics.sh is a batch job: sbatch Launch/slurm-kinetics.sh" >&2; exit 1; }
[ -x "$vt" ] || { say "error: $vt not found in $PWD: submit from the repository root after swift build -c release (or set VT)"; exit 1; }
[ -e "$config" ] || { say "error: config $config not found in $PWD"; exit 1; }
mkdir -p runs Checkpoints

# SIGTERM to this shell: forward it to vt through Slurm (`scancel --signal=TERM` without --batch signals
# the job's steps, not this shell) — not to srun, which answers SIGTERM by killing the ranks unsaved.
# Only a job still RUNNING is requeued afterwards: when the user cancelled it (scancel) or its hard time
# limit came, Slurm has already marked it (COMPLETING, then CANCELLED or TIMEOUT) and ends it.
preempted=0
step=
on_term() {
    local state
    if [ -z "$step" ]; then
        say "SIGTERM before vt started (a --time shorter than the --signal margin?): not forwarded, no requeue"
        return
    fi
    if ! state=$(squeue --noheader --jobs "$SLURM_JOB_ID" --format=%T 2>/dev/null); then
        say "warning: squeue failed; taking the SIGTERM for the time-limit warning"
        state=RUNNING
    fi
    if [ "$state" != RUNNING ]; then
        say "SIGTERM while the job is ${state:-gone}: not requeueing"
        return
    fi
    preempted=1
    say "SIGTERM before the time limit: vt saves a checkpoint after this step and exits; then the job is requeued"
    scancel --signal=TERM "$SLURM_JOB_ID" || say "warning: scancel --signal=TERM $SLURM_JOB_ID failed"
}
trap on_term TERM

say "vt train --config $config --resume on ${SLURM_NTASKS:-?} ranks (${SLURM_JOB_NUM_NODES:-?} nodes, $VT_THREADS threads per rank)"
srun --mpi=pmix --cpu-bind=cores "$vt" train --config "$config" ${MESH:+--mesh "$MESH"} --resume &
step=$!
while kill -0 "$step" 2>/dev/null; do wait "$step"; done   # the trap interrupts wait: wait again
wait "$step"; status=$?                                     # srun's status (bash keeps it)
if [ "$preempted" -eq 1 ] && [ "$status" -eq 0 ]; then
    say "vt saved and exited; requeueing: the next allocation continues with --resume"
    scontrol requeue "$SLURM_JOB_ID" && exit 0
    say "error: scontrol requeue $SLURM_JOB_ID failed; continue with: sbatch Launch/slurm-kinetics.sh"
    exit 1
fi
[ "$preempted" -eq 1 ] && say "vt did not save and exit cleanly after the TERM (srun exited with status $status): not requeueing"
say "srun exited with status $status"
exit "$status"
