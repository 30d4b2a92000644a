#!/usr/bin/env bash
# Multi-host test: Launch/mpirun-hosts.sh across "machines" that are network namespaces on this
# one — each with its own interface (eth0, 10.77.0.x/24 on a bridge in a fourth namespace), its own
# /etc/hosts (/etc/netns/NAME/hosts) and, per command, its own host name; Open MPI's daemons are started on
# them through Tests/Scripts/multihost/netns-agent.sh (plm_rsh_agent: `ip netns exec` in place of ssh) and
# every rank talks TCP over eth0 (btl tcp, oob tcp). mpirun runs on host a, like on the first node of a
# cluster. A tiny config (Tests/Scripts/tiny-model.yaml, global batch 6, RMSProp, a checkpoint every 4
# steps, distribution.stall_timeout_seconds: 20) is trained:
#   a. on 2 hosts × 1 rank and 3 hosts × 1 rank: the final checkpoint is bitwise that of the same number of
#      ranks on one host with shared memory (every tensor's CRC-32C and norm: parameters, both slots);
#   b. kill -9 of the vt rank on host b mid-run: the job ends within 10 s, non-zero, with mpirun's line
#      naming the rank and the signal; no vt, orted or mpirun is left on any host; every checkpoint verifies;
#   c. silent links (all traffic of a host dropped both ways: netem loss 100%, else a blackhole qdisc, else
#      the switch port down) mid-run, two jobs at once: with mpirun-hosts.sh's TCP keepalives (hosts a+b),
#      mpirun notices the lost daemon and ends the job, and host b's daemon ends its rank and itself, its link
#      still silent; with Open MPI's slow default keepalives (hosts a+c), vt's watchdog ends the job after
#      the stall timeout and mpirun-hosts.sh kills the mpirun that keeps waiting for host c after
#      ABORT_GRACE (5 s here); host c's daemon ends once its link is back. Each job is over within
#      20 + 5 + 5 s, non-zero, with one line saying why; every checkpoint verifies;
#   d. host a's checkpoint folder on a tmpfs with room for 2½ checkpoints: the third save fails with one
#      line naming the checkpoint and the lack of space, every rank exits, the job is non-zero, `latest`
#      names the second checkpoint and it verifies;
#   e. b's run resumed on fewer hosts (host a alone): with 2 ranks it is bitwise the uninterrupted 2-rank
#      run; with 1 rank it continues the same run to float rounding (README: another number of data ranks
#      with the same global batch): every tensor's norm within 1e-6 relative + 1e-10, every loss within 1e-6.
# Times (seconds to end the job) are printed per case. The namespaces, their /etc/netns folders, the tmpfs
# and every process the test started (found by PID and by a marker in their environment) are removed by
# a trap, pass or fail; the test then fails if any vt, orted or mpirun of its own is still running.
#
# Usage: VT=path/to/vt bash Tests/Scripts/multihost-test.sh   (without VT: builds vt like scripts/test.sh)
# Prints one "skipped: …" line and exits 0 when not root or network namespaces cannot be made. Takes about
# 65 s here (cases c's two jobs run at once; the watchdog's 20 s is most of it).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$(date +%s.%N)

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
elapsed() { awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%6.1f", b - a }'; }
say() { echo "[$(elapsed) s] $*"; }
skip() { echo "skipped: multi-host test: $*"; passed=1; exit 0; }  # (passed: the trap then removes what was made)

[ "$(id -u)" -eq 0 ] || skip "not root (it creates network namespaces and mounts a tmpfs)"
command -v ip > /dev/null && ip netns list > /dev/null 2>&1 || skip "ip netns is not available (iproute2)"
command -v mpirun > /dev/null || skip "mpirun is not installed (bash scripts/setup.sh installs Open MPI)"
command -v unshare > /dev/null || skip "unshare is not installed (util-linux)"

if [ -z "${VT:-}" ]; then
    swift build -c release -Xswiftc -enable-testing --scratch-path .build-test --product vt > /dev/null
    VT=.build-test/release/vt
fi
VT=$(cd "$(dirname "$VT")" && pwd)/$(basename "$VT")
[ -x "$VT" ] || { echo "multi-host test FAILED: $VT is not an executable" >&2; exit 1; }

# MARK: Names, cleanup
prefix=vt-mh-$$
a=$prefix-a b=$prefix-b c=$prefix-c switch=$prefix-sw
namespaces=()      # made so far
marker=VT_MULTIHOST_TEST=$$-$RANDOM   # in the environment of every process the test starts (VT_*: exported to all ranks)
work=$(mktemp -d "${TMPDIR:-/tmp}/vt-multihost-test.XXXXXX")
tmpfs=
passed=0
agent=$repo/Tests/Scripts/multihost/netns-agent.sh

ours() {  # the PIDs of processes the test started that still run: in its namespaces, or carrying the marker
    local entry pid
    {
        for name in "${namespaces[@]}"; do ip netns pids "$name" 2>/dev/null; done
        for entry in /proc/[0-9]*; do
            pid=${entry#/proc/}
            { tr '\0' '\n' < "$entry/environ"; } 2>/dev/null | grep -qxF "$marker" && echo "$pid"
        done
    } | sort -un | grep -vx "$$" || true
}
describe() {  # describe PID…: "pid name (namespace)" for each
    local pid
    for pid in "$@"; do
        printf '%s %s (%s); ' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)" \
            "$(ip netns identify "$pid" 2>/dev/null || echo '?')"
    done
}

fail() {
    echo "multi-host test FAILED at $(elapsed) s: $*" >&2
    local file
    for file in "$work"/*.log; do
        [ -s "$file" ] || continue
        echo "----- last lines of $(basename "$file")" >&2
        grep -v '^checkpoint: \|^step ' "$file" | tail -n 15 >&2
    done
    exit 1
}

cleanup() {
    local status=$? left name
    set +e
    trap - EXIT INT TERM
    # A job may still be starting processes on the other hosts: kill until none is left (5 s at most).
    for _ in $(seq 50); do
        left=$(ours)
        [ -n "$left" ] || break
        # shellcheck disable=SC2086
        echo "  ending what the test left running: $(describe $left)" >&2
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null
        sleep 0.1
        status=1
    done
    [ -n "$tmpfs" ] && umount "$tmpfs"
    for name in "${namespaces[@]}"; do
        ip netns delete "$name" 2>/dev/null
        rm -rf "/etc/netns/$name"
    done
    rmdir /etc/netns 2>/dev/null  # only if the test's folders were all it held
    left=$(ours)
    if [ -n "$left" ]; then
        # shellcheck disable=SC2086
        echo "multi-host test FAILED: still running after cleanup: $(describe $left)" >&2
        status=1
    fi
    if [ "$status" -eq 0 ] && [ "$passed" -eq 1 ]; then
        rm -rf "$work"
    else
        echo "  the test's files are kept in $work" >&2
        [ "$status" -ne 0 ] || status=1
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

# MARK: Hosts: namespaces a, b, c on a bridge in a fourth
ip netns add "$switch" 2> "$work/netns.err" || skip "cannot create a network namespace: $(head -n 1 "$work/netns.err")"
namespaces+=("$switch")
ip -n "$switch" link add br0 type bridge 2> "$work/netns.err" || skip "cannot create a bridge: $(head -n 1 "$work/netns.err")"
ip -n "$switch" link set br0 up
number=1
for host in "$a" "$b" "$c"; do
    ip netns add "$host" || fail "ip netns add $host"
    namespaces+=("$host")
    port=port-${host##*-}
    ip link add eth0 netns "$host" type veth peer name "$port" netns "$switch" || fail "ip link add (veth for $host)"
    ip -n "$switch" link set "$port" master br0
    ip -n "$switch" link set "$port" up
    ip -n "$host" addr add "10.77.0.$number/24" dev eth0
    ip -n "$host" link set eth0 up
    ip -n "$host" link set lo up
    number=$((number + 1))
done
for host in "$a" "$b" "$c"; do
    mkdir -p "/etc/netns/$host"
    printf '127.0.0.1 localhost\n10.77.0.1 %s\n10.77.0.2 %s\n10.77.0.3 %s\n' "$a" "$b" "$c" > "/etc/netns/$host/hosts"
done
say "hosts: $a 10.77.0.1, $b 10.77.0.2, $c 10.77.0.3 (network namespaces on a bridge in $switch)"
printf '%s slots=1\n%s slots=1\n' "$a" "$b" > "$work/hosts-2"
printf '%s slots=1\n%s slots=1\n%s slots=1\n' "$a" "$b" "$c" > "$work/hosts-3"
printf '%s slots=2\n' "$a" > "$work/hosts-a2"
printf '%s slots=1\n' "$a" > "$work/hosts-a1"

# MARK: The run
steps=24
{ echo "# Global batch 6: 6, 3 or 2 videos per rank on 1, 2 or 3 ranks; a checkpoint every 4 steps."
  cat "$repo/Tests/Scripts/tiny-model.yaml" "$repo/Tests/Scripts/tiny-rmsprop.yaml"
  cat <<YAML
training:
  batch_size: 6
  steps: $steps
  seed: 5
  log_every: 1000
data:
  synthetic_videos: 18
checkpoint:
  every: 4
  keep_last: 3
distribution:
  stall_timeout_seconds: 20
YAML
} > "$work/run.yaml"

launch_env=()   # more VAR=VALUE for the next launch
# launch NAME HOSTFILE RANKS [vt train options…]: Launch/mpirun-hosts.sh on host a, in the background
# ($launcher is its PID: the ip, unshare and sh before it exec); output in NAME.log, checkpoints in
# NAME/ck, metrics in NAME/run.
launch() {
    local name=$1 hostfile=$2 ranks=$3; shift 3
    mkdir -p "$work/$name"
    # shellcheck disable=SC2016  # $0 belongs to the inner shell
    ip netns exec "$a" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$a" \
        env "${launch_env[@]}" "$marker" VT="$VT" VT_THREADS=1 VT_IFACE=eth0 VT_RSH_AGENT="$agent" ABORT_GRACE=5 \
        bash "$repo/Launch/mpirun-hosts.sh" "$hostfile" "$ranks" "$work/run.yaml" \
        --checkpoint-dir "$work/$name/ck" --run-dir "$work/$name/run" "$@" < /dev/null > "$work/$name.log" 2>&1 &
    launcher=$!
}
# finish LIMIT: waits up to LIMIT s for $launcher; sets $status and $ended (when it was seen gone).
finish() {
    local deadline
    deadline=$(awk -v t="$(now)" -v l="$1" 'BEGIN { printf "%.3f", t + l }')
    while kill -0 "$launcher" 2>/dev/null; do
        awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t > d) }' && fail "HANG: the job did not end within $1 s"
        sleep 0.05
    done
    ended=$(now)
    status=0; wait "$launcher" || status=$?
    launcher=
}
run() {  # run NAME HOSTFILE RANKS [options…]: launch, finish, must succeed
    local name=$1 t0
    t0=$(now)
    launch "$@"
    finish 120
    [ "$status" -eq 0 ] || fail "$name: exit status $status"
    say "  $name: $(seconds_since "$t0") s"
}

# shellcheck source=fingerprint.sh
source "$repo/Tests/Scripts/fingerprint.sh"
final=$(printf 'step_%08d.h5' "$steps")
same() {  # same REFERENCE NAME: NAME's final checkpoint is bitwise REFERENCE's
    local tensors
    fingerprint "$work/$1/ck/$final" > "$work/$1.fingerprint" || fail "$1: no final checkpoint"
    fingerprint "$work/$2/ck/$final" > "$work/$2.fingerprint" || fail "$2: no final checkpoint"
    tensors=$(grep -c '"name"' "$work/$1.fingerprint")
    [ "$tensors" -gt 0 ] || fail "no tensors in $1's final checkpoint"
    diff "$work/$1.fingerprint" "$work/$2.fingerprint" > /dev/null \
        || fail "$2's final checkpoint differs from $1's: $(diff "$work/$1.fingerprint" "$work/$2.fingerprint" | head -n 6)"
    echo "$tensors"
}
verify_all() {  # verify_all NAME: every checkpoint on disk verifies and latest names one; prints latest's step
    local file latest
    for file in "$work/$1"/ck/step_*.h5; do
        [ -e "$file" ] || fail "$1: no checkpoint on disk"
        "$VT" inspect checkpoint "$file" > /dev/null 2> "$work/verify.err" \
            || fail "$1: $(basename "$file") does not verify: $(tail -n 1 "$work/verify.err")"
    done
    latest=$(cat "$work/$1/ck/latest" 2>/dev/null) || fail "$1: no latest pointer"
    [ -e "$work/$1/ck/$latest" ] || fail "$1: latest names $latest, which is missing"
    latest=${latest#step_}
    echo $((10#${latest%.h5}))
}
latest_step() { sed -n 's/^step_0*\([0-9][0-9]*\)\.h5$/\1/p' "$work/$1/ck/latest" 2>/dev/null || true; }
# nothing_left WHAT LIMIT: waits up to LIMIT s until no process of the test runs; prints how long it took.
nothing_left() {
    local t0 left
    t0=$(now)
    while left=$(ours); [ -n "$left" ]; do
        # shellcheck disable=SC2086
        [ "$(seconds_since "$t0" | cut -d . -f 1)" -lt "$2" ] || fail "$1: still running $2 s after the job ended: $(describe $left)"
        sleep 0.1
    done
    seconds_since "$t0"
}
await_checkpoint() {  # await_checkpoint NAME STEP: until NAME has committed STEP or later (30 s at most)
    local step
    for _ in $(seq 600); do
        step=$(latest_step "$1")
        [ -n "$step" ] && [ "$step" -ge "$2" ] && return 0
        kill -0 "$launcher" 2>/dev/null || fail "$1 ended before its checkpoint at step $2"
        sleep 0.05
    done
    fail "$1: no checkpoint at step $2 within 30 s"
}
vt_on() {  # vt_on NAMESPACE: the PIDs of vt processes on that host
    local pid
    for pid in $(ip netns pids "$1"); do [ "/proc/$pid/exe" -ef "$VT" ] && echo "$pid"; done
    return 0
}
errors() { grep -E '^error: |exited on signal|MPI_ABORT was invoked' "$work/$1.log" || true; }
said() {  # said NAME: the lines of NAME.log that say what ended the job (first 8, cut at 220 characters)
    grep -E '^error: |exited on signal|MPI_ABORT was invoked|with errorcode|ORTE has lost|ORTE_ERROR_LOG|received: |unexpectedly|Killed|Segmentation' \
        "$work/$1.log" | head -n 8 | cut -c 1-220 | sed 's/^/      | /' || true
}

# MARK: a. 2 and 3 hosts over TCP = the same ranks on one host
say "a. $steps steps on 2 and 3 hosts (TCP) and on host a alone (2 and 3 ranks, shared memory)"
run one-host-2 "$work/hosts-a2" 2
run two-hosts "$work/hosts-2" 2
grep -q "mesh: data=2,model=1 on 2 ranks" "$work/two-hosts.log" || fail "two-hosts: not 2 ranks"
tensors=$(same one-host-2 two-hosts)
say "  2 hosts × 1 rank: final checkpoint bitwise that of 2 ranks on one host ($tensors tensors)"
printf '%s slots=3\n' "$a" > "$work/hosts-a3"
run one-host-3 "$work/hosts-a3" 3
run three-hosts "$work/hosts-3" 3
tensors=$(same one-host-3 three-hosts)
say "  3 hosts × 1 rank: final checkpoint bitwise that of 3 ranks on one host ($tensors tensors)"

# MARK: b. kill -9 of host b's rank
say "b. kill -9 of the vt rank on host b, mid-run"
launch kill "$work/hosts-2" 2 --steps 100000
await_checkpoint kill 8
victim=$(vt_on "$b")
[ "$(echo "$victim" | wc -w)" -eq 1 ] || fail "kill: expected one vt on host b, found: $victim"
killed_at=$(now)
kill -KILL "$victim"
finish 15
kill_seconds=$(awk -v a="$killed_at" -v b="$ended" 'BEGIN { printf "%.1f", b - a }')
[ "$status" -ne 0 ] || fail "kill: the job exited 0 after a rank was killed"
awk -v s="$kill_seconds" 'BEGIN { exit !(s <= 10) }' || fail "kill: the job took $kill_seconds s to end (limit 10 s)"
kill_left=$(nothing_left kill 5)
kill_latest=$(verify_all kill)
say "  job over $kill_seconds s after the kill, exit $status: $(errors kill | grep -m 1 'exited on signal')"
say "  nothing left on any host ${kill_left} s later; every checkpoint verifies; latest: step $kill_latest"
said kill
[ "$kill_latest" -lt "$steps" ] || fail "kill: the run passed step $steps before the kill"

# MARK: e. resume on fewer hosts
say "e. the killed run resumed on host a alone (from step $kill_latest)"
for name in resume-2 resume-1; do mkdir -p "$work/$name"; cp -a "$work/kill/ck" "$work/kill/run" "$work/$name/"; done
run resume-2 "$work/hosts-a2" 2 --resume --steps "$steps"
grep -q "^resume: .*/step_$(printf '%08d' "$kill_latest").h5 (step $kill_latest," "$work/resume-2.log" \
    || fail "resume-2 did not resume from step $kill_latest: $(grep '^resume' "$work/resume-2.log")"
tensors=$(same one-host-2 resume-2)
losses() { grep -o '"step":[0-9]*,"loss":[^,]*' "$work/$1/run/metrics.jsonl"; }
[ "$(losses one-host-2 | wc -l)" -eq "$steps" ] || fail "one-host-2: metrics.jsonl does not hold $steps steps"
diff <(losses one-host-2) <(losses resume-2) > /dev/null || fail "resume-2: per-step losses differ: $(diff <(losses one-host-2) <(losses resume-2) | head -n 4)"
say "  2 ranks on 1 host: final checkpoint bitwise the uninterrupted 2-rank run's ($tensors tensors), $steps losses equal, once each"
run resume-1 "$work/hosts-a1" 1 --resume --steps "$steps"
grep -q "^resume: .*/step_$(printf '%08d' "$kill_latest").h5 (step $kill_latest," "$work/resume-1.log" \
    || fail "resume-1 did not resume from step $kill_latest"
fingerprint "$work/resume-1/ck/$final" > "$work/resume-1.fingerprint" || fail "resume-1: no final checkpoint"
# Norms agree to 1e-6 relative plus 1e-10 (a few tensors whose gradient is rounding noise have norms of
# 1e-6 and below); reported: the largest relative difference of tensors with norm ≥ 1e-3, the largest absolute one.
worst=$(paste -d ' ' <(grep '"norm"' "$work/one-host-2.fingerprint" | tr -d ',' | awk '{ print $3 }') \
                     <(grep '"norm"' "$work/resume-1.fingerprint" | tr -d ',' | awk '{ print $3 }') \
        | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6 * $1 + 1e-10) bad++; if (d > abs) abs = d
                 if ($1 >= 1e-3 && d / $1 > rel) rel = d / $1; n++ }
               END { printf "%d %d %.1e %.1e", n, bad, rel, abs }')
read -r compared outside worst_relative worst_absolute <<< "$worst"
[ "$compared" -eq "$(grep -c '"norm"' "$work/one-host-2.fingerprint")" ] && [ "$compared" -gt 0 ] || fail "resume-1: norms do not pair up"
[ "$outside" -eq 0 ] || fail "resume-1: $outside tensors' norms differ by more than 1e-6 relative + 1e-10"
loss_worst=$(paste -d ' ' <(grep -o '"step":[0-9]*,"loss":[^,]*' "$work/one-host-2/run/metrics.jsonl" | sed 's/.*"loss"://') \
                          <(grep -o '"step":[0-9]*,"loss":[^,]*' "$work/resume-1/run/metrics.jsonl" | sed 's/.*"loss"://') \
             | awk 'NF == 2 { d = $1 - $2; if (d < 0) d = -d; r = d / $1; if (r > m) m = r; n++ } END { printf "%d %.1e", n, m }')
[ "${loss_worst%% *}" -eq "$steps" ] || fail "resume-1: metrics.jsonl has ${loss_worst%% *} steps, expected $steps"
awk -v w="${loss_worst#* }" 'BEGIN { exit !(w <= 1e-6) }' || fail "resume-1: a loss differs by ${loss_worst#* } relative"
say "  1 rank on 1 host: the same run as the uninterrupted 2-rank one to rounding: $compared norms within 1e-6 relative + 1e-10 (largest differences: $worst_relative relative where ≥ 1e-3, $worst_absolute absolute), $steps losses within ${loss_worst#* } relative"

# MARK: c. a silent link
# Two jobs at once, each on host a and one other: "silent" (host b) with mpirun-hosts.sh's keepalives,
# "silent-slow" (host c) with Open MPI's own (300 s), so that vt's watchdog speaks first and mpirun, which
# then waits for host c's daemon, is ended by mpirun-hosts.sh after ABORT_GRACE.
say "c. the links of hosts b and c go silent mid-run (two jobs; stall timeout 20 s, ABORT_GRACE 5 s)"
launch silent "$work/hosts-2" 2 --steps 100000
silent_pid=$launcher
await_checkpoint silent 4
printf '%s slots=1\n%s slots=1\n' "$a" "$c" > "$work/hosts-ac"
launch_env=(OMPI_MCA_oob_tcp_keepalive_time=300 OMPI_MCA_oob_tcp_keepalive_intvl=20 OMPI_MCA_oob_tcp_keepalive_probes=9)
launch silent-slow "$work/hosts-ac" 2 --steps 100000
launch_env=()
slow_pid=$launcher
await_checkpoint silent-slow 4
silence() {  # silence HOST: drops all its traffic both ways; prints how
    local host=$1 port=port-${1##*-}
    if ip netns exec "$host" tc qdisc add dev eth0 root netem loss 100% 2> /dev/null; then
        ip netns exec "$switch" tc qdisc add dev "$port" root netem loss 100% && echo "netem loss 100% both ways"
    elif ip netns exec "$host" tc qdisc add dev eth0 root blackhole 2> /dev/null; then
        ip netns exec "$switch" tc qdisc add dev "$port" root blackhole && echo "a blackhole qdisc both ways (no netem here)"
    else
        ip -n "$switch" link set "$port" down && echo "its switch port down (no netem or blackhole qdisc here)"
    fi
}
unsilence() {
    local host=$1 port=port-${1##*-}
    ip netns exec "$host" tc qdisc del dev eth0 root 2> /dev/null || true
    ip netns exec "$switch" tc qdisc del dev "$port" root 2> /dev/null || true
    ip -n "$switch" link set "$port" up
}
how_b=$(silence "$b") && how_c=$(silence "$c") && [ -n "$how_b" ] && [ -n "$how_c" ] || fail "could not silence hosts b and c"
silent_at=$(now)
say "  hosts b and c silenced: $how_b"
# Until both jobs have ended (40 s at most) and host b is empty; host c stays as it is until its link is back.
silent_end='' slow_end='' b_empty=''
while [ -z "$silent_end" ] || [ -z "$slow_end" ] || [ -z "$b_empty" ]; do
    [ -z "$silent_end" ] && ! kill -0 "$silent_pid" 2>/dev/null && silent_end=$(seconds_since "$silent_at")
    [ -z "$slow_end" ] && ! kill -0 "$slow_pid" 2>/dev/null && slow_end=$(seconds_since "$silent_at")
    [ -z "$b_empty" ] && [ -z "$(ip netns pids "$b")" ] && b_empty=$(seconds_since "$silent_at")
    [ "$(seconds_since "$silent_at" | cut -d . -f 1)" -lt 40 ] \
        || fail "HANG: 40 s after the silence: silent ended ${silent_end:-no}, silent-slow ended ${slow_end:-no}, host b empty ${b_empty:-no}"
    sleep 0.05
done
silent_status=0; wait "$silent_pid" || silent_status=$?
slow_status=0; wait "$slow_pid" || slow_status=$?
launcher=
[ "$silent_status" -ne 0 ] || fail "silent: the job exited 0"
[ "$slow_status" -ne 0 ] || fail "silent-slow: the job exited 0"
for name in silent:"$silent_end" silent-slow:"$slow_end"; do
    awk -v s="${name#*:}" 'BEGIN { exit !(s <= 30) }' || fail "${name%%:*}: the job took ${name#*:} s to end (limit 20 + 5 + 5 s)"
done
silent_line=$(grep -m 1 -E '^error: rank [0-9]+: .*; ending the job$|ORTE has lost communication with a remote daemon' "$work/silent.log") \
    || fail "silent: neither vt's watchdog nor mpirun said why the job ended"
slow_line=$(grep -m 1 -E '^error: rank [0-9]+: .*; ending the job$' "$work/silent-slow.log") || fail "silent-slow: no line from vt's watchdog"
silent_latest=$(verify_all silent)
slow_latest=$(verify_all silent-slow)
say "  silent (keepalive 5 s + 3 × 3 s): job over ${silent_end} s after the silence, exit $silent_status: $silent_line"
say "    host b's processes gone by themselves ${b_empty} s after the silence (its link still silent); every checkpoint verifies; latest: step $silent_latest"
said silent
say "  silent-slow (Open MPI's keepalive): job over ${slow_end} s after the silence, exit $slow_status: $(printf '%s' "$slow_line" | cut -c 1-150)…"
grep -q '^error: mpirun-hosts.sh: .*killed mpirun' "$work/silent-slow.log" \
    && say "    mpirun still waited for host c's daemon: mpirun-hosts.sh killed it after ABORT_GRACE"
said silent-slow
a_left=$(for pid in $(ip netns pids "$a"); do echo "$pid"; done)
# shellcheck disable=SC2086
[ -z "$a_left" ] || fail "silent: left on host a: $(describe $a_left)"
unsilence "$c"
c_left=$(nothing_left "host c after its link came back" 30)
say "    host c's daemon (cut off with a report queued) gone ${c_left} s after its link came back; every checkpoint verifies; latest: step $slow_latest"
unsilence "$b"

# MARK: d. the disk fills during a checkpoint
say "d. host a's checkpoint folder on a tmpfs with room for 2½ checkpoints"
bytes=$(stat -c %s "$work/one-host-2/ck/$final")
mkdir -p "$work/full/ck"
mount -t tmpfs -o "size=$(( (bytes * 5 / 2 + 1023) / 1024 ))k" vt-multihost-test "$work/full/ck" || fail "mount -t tmpfs"
tmpfs=$work/full/ck
t0=$(now)
launch full "$work/hosts-2" 2
finish 60
full_seconds=$(seconds_since "$t0")
[ "$status" -ne 0 ] || fail "full: the job exited 0 with a full disk"
space_lines=$(grep -cE "^error: rank 0 of 2 \(saving the checkpoint of step 12\): checkpoint $work/full/ck/step_00000012\.h5: .*not enough space" "$work/full.log" || true)
[ "$space_lines" -eq 1 ] || fail "full: expected one line naming step_00000012.h5 and the lack of space, got $space_lines"
error_lines=$(grep -c "^error: " "$work/full.log" || true)
[ "$error_lines" -eq 1 ] || fail "full: expected one error line (rank 0's), got $error_lines: $(grep "^error: " "$work/full.log" | cut -c 1-120)"
full_latest=$(verify_all full)
[ "$full_latest" -eq 8 ] || fail "full: latest is step $full_latest, expected 8"
full_left=$(nothing_left full 5)
say "  job over after ${full_seconds} s, exit $status: $(grep -m 1 -E "checkpoint $work/full/ck/step_00000012" "$work/full.log" | cut -c 1-170)…"
say "  latest: step_00000008.h5, verifies; nothing left ${full_left} s later"
said full

passed=1
say "multi-host test passed: 2 and 3 hosts = 1 host bitwise; job over after kill -9 in $kill_seconds s, after a silent link in $silent_end s (keepalive) and $slow_end s (vt's watchdog + ABORT_GRACE), on a full disk in $full_seconds s; resumed on 1 host: the same run; 0 hangs, 0 damaged checkpoints, nothing left running"
