#!/usr/bin/env bash
# Slurm test: the shipped Launch/slurm-*.sh on a real, throwaway, single-host Slurm cluster.
#   1. installs slurmctld, slurmd and munge when missing (Debian, as root), and starts munged, slurmctld and
#      slurmd in a temporary folder: their own munge key and socket, slurm.conf, state, spool and log
#      files, ports on 127.0.0.1 away from Slurm's defaults (6817/6818);
#   2. an uninterrupted 2-rank `mpirun` run of a tiny config (60 steps, a checkpoint every 5): the reference;
#   then the shipped scripts on the same config, 2 tasks on 1 node (`srun --mpi=pmix`), each stopped once it
#   has trained and checkpointed step 10 or later:
#   3. slurm-bair.sh, the TERM that `#SBATCH --signal=B:TERM@…` sends before the time limit (sent with
#      `scancel --signal=TERM --batch`: the same signal to the same process, without waiting for a limit):
#      the batch shell forwards it to vt, vt saves at the next step and exits 0, the script requeues the
#      job, the next allocation resumes with --resume and finishes;
#   4. slurm-kinetics.sh, a node failure (the node set DOWN, its ranks killed with kill -9): Slurm requeues
#      the job itself and the next allocation resumes from the last committed checkpoint.
#      In 3 and 4 the final checkpoint must be bitwise the reference's (every tensor's CRC-32C and norm:
#      parameters and both RMSProp slots) and metrics.jsonl must hold the reference's loss at every step,
#      once; both allocations write one log (--open-mode=append);
#   5. slurm-bair.sh stopped by the user with `scancel --signal=TERM JOB`: vt saves, the job completes and
#      is not requeued; 6. slurm-kinetics.sh cancelled with `scancel JOB`: CANCELLED, not requeued;
#   7. `srun --mpi=none -n 2 vt train …`: refused in one line, nothing written (the launcher/world check).
# Every daemon it started is stopped by PID, pass or fail, and then any process still carrying this
# cluster's SLURM_CONF (a job's leftovers) is killed by PID: nothing is left running.
#
# Usage: bash Tests/Scripts/slurm-test.sh             (builds vt like scripts/test.sh does)
#        VT=path/to/vt bash Tests/Scripts/slurm-test.sh
# Prints one "skipped: …" line and exits 0 when not root, not on Debian, or the packages cannot be
# installed. Takes about 45 s here (plus about 15 s to install the packages the first time).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$(date +%s.%N)

elapsed() { awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.1f", b - a }'; }
say() { echo "[$(elapsed) s] $*"; }
skip() { echo "skipped: Slurm test: $*"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip "not root (it installs Debian packages and runs slurmctld, slurmd and munged)"
command -v apt-get > /dev/null && [ -e /etc/debian_version ] || skip "not Debian (it installs slurmctld, slurmd and munge with apt-get)"

# MARK: Packages
if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null || ! command -v munged > /dev/null \
        || ! command -v sbatch > /dev/null; then
    say "installing slurmctld slurmd munge (apt-get)"
    apt_log=$(mktemp "${TMPDIR:-/tmp}/vt-slurm-test-apt.XXXXXX")
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd munge; } > "$apt_log" 2>&1 \
        || skip "apt-get install slurmctld slurmd munge failed: $(tail -n 1 "$apt_log") (all of it in $apt_log)"
    rm -f "$apt_log"
fi
plugins=$(dirname "$(find /usr/lib /usr/lib64 -name mpi_pmix.so -path '*slurm*' -print -quit 2>/dev/null || true)")
[ -e "$plugins/mpi_pmix.so" ] || skip "Slurm's PMIx plugin (mpi_pmix.so) is not installed; the Launch scripts use srun --mpi=pmix"
command -v mpirun > /dev/null || skip "mpirun is not installed (bash scripts/setup.sh installs Open MPI)"

if [ -z "${VT:-}" ]; then
    swift build -c release -Xswiftc -enable-testing --scratch-path .build-test --product vt > /dev/null
    VT=.build-test/release/vt
fi
VT=$(cd "$(dirname "$VT")" && pwd)/$(basename "$VT")
[ -x "$VT" ] || { echo "Slurm test FAILED: $VT is not an executable" >&2; exit 1; }

# MARK: The cluster's folder and cleanup
work=$(mktemp -d "${TMPDIR:-/tmp}/vt-slurm-test.XXXXXX")
chmod 755 "$work"   # munged wants its socket's folder searchable by all, and writable by none but us
conf=$work/slurm/slurm.conf
daemons=()          # "name:pid", in start order
reference_pid=
passed=0

# Slurm's clients and daemons run with this cluster's config; SLURM_CONF is not exported to the rest of
# the script, so the sweep below finds only processes the cluster started.
slurm() { SLURM_CONF=$conf "$@"; }

tails() {
    local file
    for file in "$work"/slurm/*.log "$work"/munge/munged.log "$work"/{preempt,node,stop,cancel}/*.out \
                "$work"/reference/reference.log "$work"/none/srun.log; do
        [ -s "$file" ] || continue
        echo "----- last lines of ${file#"$work"/}" >&2
        tail -n 25 "$file" >&2
    done
}

fail() {
    echo "Slurm test FAILED at $(elapsed) s: $*" >&2
    tails
    exit 1
}

stop_pid() {  # stop_pid NAME PID: TERM, up to 10 s to exit, then KILL
    local name=$1 pid=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "  $name (pid $pid) ignored SIGTERM for 10 s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? entry pid i leftovers=()
    set +e
    trap - EXIT INT TERM
    [ -n "$reference_pid" ] && stop_pid "reference mpirun" "$reference_pid"
    if [ "${#daemons[@]}" -gt 0 ] && [ -e "$conf" ]; then
        # Jobs first, while slurmd can still end their steps (KillWait is 2 s here).
        slurm scancel --quiet --user=root 2>/dev/null  # every job of this cluster is the test's
        for i in $(seq 100); do
            [ -z "$(slurm squeue --noheader --format=%i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
        entry=${daemons[$i]}
        stop_pid "${entry%%:*}" "${entry##*:}"
    done
    # Anything the cluster started and left behind (a job's slurmstepd, srun or vt ranks) carries this
    # cluster's SLURM_CONF: found by its environment, ended by PID.
    for entry in /proc/[0-9]*; do
        pid=${entry#/proc/}
        [ "$pid" -ne $$ ] || continue
        { tr '\0' '\n' < "$entry/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf" && leftovers+=("$pid")
    done
    if [ "${#leftovers[@]}" -gt 0 ]; then
        echo "  ending ${#leftovers[@]} process(es) the cluster left: ${leftovers[*]}" >&2
        kill -KILL "${leftovers[@]}" 2>/dev/null
        status=1
    fi
    if [ "$status" -eq 0 ] && [ "$passed" -eq 1 ]; then
        rm -rf "$work"
    elif [ -d "$work" ]; then
        echo "  the test's files are kept in $work" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

# await SECONDS WHAT COMMAND…: runs COMMAND every 0.1 s until it succeeds; fails the test after SECONDS.
await() {
    local limit=$1 what=$2; shift 2
    local deadline
    deadline=$(awk -v now="$(date +%s.%N)" -v limit="$limit" 'BEGIN { printf "%d", now + limit }')
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "waited ${limit} s for $what"
        sleep 0.1
    done
}

# Ports on 127.0.0.1 for slurmctld, slurmd and srun (41 in a row), away from Slurm's 6817/6818: a block in
# which nothing answers a connection.
listening() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local port offset
    for _ in $(seq 50); do
        port=$((20000 + RANDOM % 30000))
        for offset in $(seq 0 40); do listening $((port + offset)) && continue 2; done
        echo "$port"; return
    done
    fail "no 41 free ports in a row found on 127.0.0.1"
}

# MARK: munged, slurmctld, slurmd
mkdir -p "$work/munge" "$work/slurm/state" "$work/slurm/spool" "$work/slurm/tmp"
chmod 755 "$work/munge"
head -c 1024 /dev/urandom > "$work/munge/munge.key"
chmod 400 "$work/munge/munge.key"
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
    --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/munged.seed" \
    < /dev/null > "$work/munge/munged.log" 2>&1 &
daemons+=("munged:$!")
await 10 "munged's socket" test -S "$work/munge/munge.socket"

port=$(free_port)
node=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//')  # CPUs, sockets, cores, threads
mpi=none; [ -e "$plugins/mpi_pmix.so" ] && mpi=pmix
: > "$work/slurm/plugstack.conf"
cat > "$conf" <<EOF
# A throwaway single-host cluster for Tests/Scripts/slurm-test.sh.
ClusterName=vttest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SrunPortRange=$((port + 2))-$((port + 40))
CommunicationParameters=NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/slurm/state
SlurmdSpoolDir=$work/slurm/spool
TmpFS=$work/slurm/tmp
SlurmctldPidFile=$work/slurm/slurmctld.pid
SlurmdPidFile=$work/slurm/slurmd.pid
SlurmctldLogFile=$work/slurm/slurmctld.log
SlurmdLogFile=$work/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$work/slurm/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=$mpi
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
KillWait=2
InactiveLimit=0
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
# Started as simple commands (not through a function, which would run in a subshell), so $! is the daemon.
SLURM_CONF=$conf slurmctld -D -f "$conf" < /dev/null > "$work/slurm/slurmctld.out" 2>&1 &
daemons+=("slurmctld:$!")
SLURM_CONF=$conf slurmd -D -N localhost -f "$conf" < /dev/null > "$work/slurm/slurmd.out" 2>&1 &
daemons+=("slurmd:$!")
node_idle() { [ "$(slurm sinfo --noheader --nodes=localhost --format=%t 2>/dev/null)" = idle ]; }
await 30 "the node to be idle (slurmctld on 127.0.0.1:$port, slurmd on :$((port + 1)))" node_idle
say "cluster up: munged, slurmctld (127.0.0.1:$port), slurmd (:$((port + 1))); node localhost: $node; MpiDefault=$mpi"

# MARK: The run
# Every job runs tiny.yaml in a folder of its own (so Checkpoints/tiny and runs/tiny are its own).
steps=60
mkdir -p "$work/reference"
{ echo "# 2 ranks, global batch 8 (4 videos per rank); a checkpoint every 5 steps."
  cat "$repo/Tests/Scripts/tiny-model.yaml" "$repo/Tests/Scripts/tiny-rmsprop.yaml"
  cat <<YAML
training:
  batch_size: 8
  steps: $steps
  seed: 5
  log_every: 1000
data:
  synthetic_videos: 24
checkpoint:
  every: 5
  keep_last: 2
YAML
} > "$work/reference/tiny.yaml"
for folder in preempt node stop cancel none; do mkdir -p "$work/$folder"; cp "$work/reference/tiny.yaml" "$work/$folder/"; done

# The reference runs meanwhile (results depend neither on timing nor on threads; VT_THREADS as in the jobs).
say "reference: $steps steps on 2 ranks with mpirun, uninterrupted (in the background)"
(cd "$work/reference" && VT_THREADS=1 exec mpirun --allow-run-as-root -np 2 --oversubscribe --bind-to none \
    --mca btl self,vader "$VT" train --config tiny.yaml) < /dev/null > "$work/reference/reference.log" 2>&1 &
reference_pid=$!

# submit FOLDER SCRIPT: 2 tasks on the one node, the config from the environment as a user would give it;
# prints the job ID. Every checkpoint write pauses 0.3 s halfway (a test hook), so the 60 steps take
# several seconds and the signals land mid-run; the reference does not pause, which changes no number.
submit() {
    (cd "$1" && slurm env CONFIG=tiny.yaml VT="$VT" VT_CHECKPOINT_TEST_DELAY=0.3 \
        sbatch --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 --signal=B:TERM@60 "$repo/$2")
}
job_field() { slurm scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
job_state() { job_field "$1" JobState; }
job_is() { [ "$(job_state "$1")" = "$2" ]; }
job_left_queue() { local state; state=$(job_state "$1"); [ -n "$state" ] && [ "$state" != PENDING ]; }
latest_step() { sed -n 's/^step_0*\([0-9][0-9]*\)\.h5$/\1/p' "$1/Checkpoints/tiny/latest" 2>/dev/null; }
checkpointed_past() { local step; step=$(latest_step "$1"); [ -n "$step" ] && [ "$step" -ge "$2" ]; }

# start FOLDER SCRIPT: submits, then waits until the job has trained and saved step 10 or later; sets $job
# and $log (the job's output file).
start() {
    local folder=$1 script=$2 name step
    job=$(submit "$folder" "$script") || fail "sbatch $script"
    name=$(sed -n 's/^#SBATCH --job-name=//p' "$repo/$script")
    log=$folder/$name-$job.out
    say "$(basename "$folder"): submitted $script as job $job (2 tasks on 1 node)"
    await 60 "job $job to start" job_left_queue "$job"
    await 60 "job $job's checkpoint at step 10 or later" checkpointed_past "$folder" 10
    step=$(latest_step "$folder")
    [ "$step" -lt "$steps" ] || fail "job $job finished before the test could stop it"
    say "  job $job trained and saved step $step"
}

# finish_requeued: waits for $job's requeue and for its completion after the resume.
restarted() { [ "$(job_field "$job" Restarts)" = 1 ] && ! job_is "$job" COMPLETING; }
finish_requeued() {
    await 30 "job $job to be requeued" restarted
    say "  job $job requeued: Restarts=1, $(job_state "$job") (Reason=$(job_field "$job" Reason), eligible at $(job_field "$job" EligibleTime))"
    # The first allocation's step must be gone from the node (slurmd refuses to launch "a second copy").
    await 30 "the first allocation's processes to end" grep -q "\[$job\.0\] done with job" "$work/slurm/slurmd.log"
    await 30 "the first allocation's batch shell to end" grep -q "\[$job\.batch\] done with job" "$work/slurm/slurmd.log"
    # Slurm makes a requeued job eligible only about two minutes after the requeue; the test starts it in
    # 2 s. (Not at once: slurmd refuses a job whose credential dates from the second in which it revoked
    # the previous allocation's, "Job credential revoked", and the job fails.)
    if job_is "$job" PENDING; then
        slurm scontrol update JobId="$job" StartTime=now+2 || fail "scontrol update JobId=$job StartTime=now+2"
        say "  job $job: StartTime=now+2 (instead of Slurm's two minutes)"
    fi
    await 90 "job $job to resume and complete" job_is "$job" COMPLETED
    say "  job $job completed, exit code $(job_field "$job" ExitCode); $(grep -c '^vt train: ' "$log") allocations in one log; the second: $(grep '^resume: .*(step' "$log" | tail -n 1 | sed 's|^resume: .*/\(step_[0-9]*\.h5\) (step \([0-9]*\),.*|resumed from \1, step \2|')"
}

# shellcheck source=fingerprint.sh
source "$repo/Tests/Scripts/fingerprint.sh"
losses() { grep -o '"step":[0-9]*,"loss":[^,]*' "$1"; }
final=$(printf 'step_%08d.h5' "$steps")

# same_as_reference FOLDER: the final checkpoint is bitwise the reference's, and so is every step's loss.
same_as_reference() {
    local folder=$1 tensors
    [ -e "$folder/Checkpoints/tiny/$final" ] || fail "no final checkpoint in $folder"
    fingerprint "$work/reference/Checkpoints/tiny/$final" > "$work/reference/fingerprint"
    fingerprint "$folder/Checkpoints/tiny/$final" > "$folder/fingerprint"
    tensors=$(grep -c '"name"' "$work/reference/fingerprint")
    [ "$tensors" -gt 0 ] || fail "no tensors in the reference's fingerprint"
    diff "$work/reference/fingerprint" "$folder/fingerprint" > /dev/null \
        || fail "$folder: the final checkpoint differs from the reference: $(diff "$work/reference/fingerprint" "$folder/fingerprint" | head -n 6)"
    losses "$work/reference/runs/tiny/metrics.jsonl" > "$work/reference/losses"
    losses "$folder/runs/tiny/metrics.jsonl" > "$folder/losses"
    [ "$(wc -l < "$work/reference/losses")" -eq "$steps" ] || fail "the reference's metrics.jsonl has $(wc -l < "$work/reference/losses") steps"
    diff "$work/reference/losses" "$folder/losses" > /dev/null \
        || fail "$folder: per-step losses differ from the reference: $(diff "$work/reference/losses" "$folder/losses" | head -n 6)"
    say "  final checkpoint bitwise the uninterrupted run's ($tensors tensors: parameters and both RMSProp slots); $steps per-step losses equal, once each"
}

# The two scripts share their body (only names differ); each is run through a full cycle below.
body() { sed -n '/^set -uo pipefail/,$p' "$repo/$1" | sed -e "s|$2|SCRIPT|g" -e "s|$3|CONFIG|g"; }
diff <(body Launch/slurm-bair.sh slurm-bair.sh Configs/bair-base-300k.yaml) \
     <(body Launch/slurm-kinetics.sh slurm-kinetics.sh Configs/kinetics-large-1m.yaml) > /dev/null \
    || fail "Launch/slurm-bair.sh and Launch/slurm-kinetics.sh differ in more than their names"

# MARK: 3. The time-limit warning: checkpoint, requeue, resume, bitwise the uninterrupted run
start "$work/preempt" Launch/slurm-bair.sh
slurm scancel --signal=TERM --batch "$job" || fail "scancel --signal=TERM --batch $job"
say "  SIGTERM to the batch shell (what --signal=B:TERM@N sends before the time limit)"
await 60 "vt to stop on the TERM" grep -q "^stopped by SIGTERM at step" "$log"
stopped=$(grep -o "^stopped by SIGTERM at step [0-9]*" "$log" | grep -o '[0-9]*$')
[ "$stopped" -lt "$steps" ] || fail "the TERM came too late: vt had finished ($stopped of $steps steps)"
[ "$(latest_step "$work/preempt")" = "$stopped" ] || fail "latest is not step $stopped"
say "  vt saved step $stopped and exited 0"
finish_requeued
grep -q "^resume: no checkpoint in .*; starting from step 0" "$log" || fail "the first allocation did not start at step 0"
grep -q "^resume: .*/step_$(printf '%08d' "$stopped").h5 (step $stopped," "$log" \
    || fail "the second allocation did not resume from step $stopped"
grep -q "(restart 0): SIGTERM before the time limit" "$log" && grep -q "(restart 0): vt saved and exited; requeueing" "$log" \
    || fail "the script did not say that it forwarded the TERM and requeued"
[ "$(grep -c '^vt train: ' "$log")" -eq 2 ] || fail "expected 2 vt runs in $log (one per allocation, appended)"
await 60 "the reference run" sh -c "! kill -0 $reference_pid 2>/dev/null"
wait "$reference_pid" || fail "the reference run failed: $(tail -n 3 "$work/reference/reference.log")"
reference_pid=
say "reference finished"
same_as_reference "$work/preempt"

# MARK: 4. A node failure: Slurm requeues the job itself, the next allocation resumes from the last checkpoint
# The node does not really die here, so its ranks are killed (kill -9, no chance to save) as it goes DOWN.
job_ranks() {  # the vt processes of job $1
    local entry
    for entry in /proc/[0-9]*; do
        [ "$entry/exe" -ef "$VT" ] || continue
        { tr '\0' '\n' < "$entry/environ"; } 2>/dev/null | grep -qxF "SLURM_JOB_ID=$1" && echo "${entry#/proc/}"
    done
}
start "$work/node" Launch/slurm-kinetics.sh
ranks=$(job_ranks "$job")
[ "$(echo "$ranks" | wc -w)" -eq 2 ] || fail "expected 2 vt ranks of job $job, found: $ranks"
slurm scontrol update NodeName=localhost State=DOWN Reason="slurm-test: node failure" || fail "scontrol update State=DOWN"
# shellcheck disable=SC2086
kill -KILL $ranks 2>/dev/null || true
say "  node localhost set DOWN (what Slurm does to a node that stops answering) and its 2 ranks killed (kill -9)"
requeued_by_slurm() { [ "$(job_field "$job" Restarts)" = 1 ]; }
await 30 "job $job to be requeued by Slurm" requeued_by_slurm
node_down_left() { ! job_is "$job" COMPLETING; }
await 30 "job $job's first allocation to end" node_down_left
# ReturnToService=2 puts the node back when its slurmd answers (a rebooted node); else State=RESUME does.
node_back() {
    case $(slurm sinfo --noheader --nodes=localhost --format=%t 2>/dev/null) in
        down*|drain*) slurm scontrol update NodeName=localhost State=RESUME 2>/dev/null; return 1 ;;
        "") return 1 ;;
    esac
}
await 30 "the node to be back" node_back
committed=$(latest_step "$work/node")
say "  node back ($(slurm sinfo --noheader --nodes=localhost --format=%t)); the newest committed checkpoint is step $committed"
finish_requeued
grep -q "^resume: .*/step_$(printf '%08d' "$committed").h5 (step $committed," "$log" \
    || fail "the second allocation did not resume from the last committed checkpoint, step $committed"
grep -q "(restart 1): vt train" "$log" || fail "the second allocation did not run"
! grep -q "(restart 0): vt saved and exited; requeueing" "$log" || fail "the script requeued a job that Slurm had requeued"
same_as_reference "$work/node"

# MARK: 5. The user's scancel --signal=TERM: save and stop, no requeue
start "$work/stop" Launch/slurm-bair.sh
slurm scancel --signal=TERM "$job" || fail "scancel --signal=TERM $job"
say "  scancel --signal=TERM $job (the steps get the TERM, the batch shell does not)"
await 60 "job $job to complete" job_is "$job" COMPLETED
grep -q "^stopped by SIGTERM at step" "$log" || fail "vt did not save on the user's TERM"
sleep 1
[ "$(job_field "$job" Restarts)" = 0 ] && job_is "$job" COMPLETED || fail "job $job was requeued after the user stopped it"
say "  vt saved step $(latest_step "$work/stop") and exited 0; the job COMPLETED and was not requeued"

# MARK: 6. The user's scancel: cancelled, no requeue
start "$work/cancel" Launch/slurm-kinetics.sh
slurm scancel "$job" || fail "scancel $job"
say "  scancel $job"
await 60 "job $job to be cancelled" job_is "$job" CANCELLED
await 30 "the batch shell's last line" grep -q "srun exited with status" "$log"
grep -q "SIGTERM while the job is [A-Z]*: not requeueing" "$log" || fail "the script did not notice the cancellation"
sleep 1
[ "$(job_field "$job" Restarts)" = 0 ] && job_is "$job" CANCELLED || fail "job $job was requeued after scancel"
saved="was killed before it could save"
grep -q "^stopped by SIGTERM" "$log" && saved="saved step $(latest_step "$work/cancel") within KillWait"
say "  the job is CANCELLED, not requeued ($(grep -o 'SIGTERM while the job is [A-Z]*' "$log" | head -n 1); vt $saved)"

# MARK: 7. srun without --mpi=pmix: refused in one line, nothing written
set +e
(cd "$work/none" && slurm timeout 60 srun --mpi=none --nodes=1 --ntasks=2 --cpus-per-task=1 \
    "$VT" train --config tiny.yaml) > "$work/none/srun.log" 2>&1
none_status=$?
set -e
[ "$none_status" -ne 0 ] || fail "srun --mpi=none -n 2 vt train exited 0"
[ "$(grep -c '^error: the launcher started 2 tasks (SLURM_STEP_NUM_TASKS=2)' "$work/none/srun.log")" -eq 1 ] \
    || fail "srun --mpi=none: expected one refusal line, got: $(cat "$work/none/srun.log")"
[ "$(ls "$work/none")" = "$(printf 'srun.log\ntiny.yaml')" ] || fail "srun --mpi=none wrote: $(ls "$work/none")"
say "srun --mpi=none -n 2: refused (exit $none_status), nothing written: $(grep '^error:' "$work/none/srun.log" | cut -c 1-100)…"

passed=1
say "Slurm test passed"
