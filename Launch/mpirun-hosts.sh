#!/usr/bin/env bash
# Launch/mpirun-hosts.sh HOSTFILE RANKS CONFIG [vt train options…] — data-parallel training across
# machines with plain `mpirun` and an Open MPI hostfile (no Slurm).
#
#   VT_IFACE=eth0 bash Launch/mpirun-hosts.sh Launch/hostfile.example 8 Configs/bair-base-300k.yaml --resume
#
# Like train.sh it runs from the repository root (the same path on every machine: a shared filesystem or
# the same checkout everywhere) and adds the flags a run needs: --allow-run-as-root when root, no core
# binding, the transports `self,vader,tcp` (vader between ranks on one machine, TCP between machines),
# the interface both MPI and Open MPI's own daemons use (`VT_IFACE`), short TCP keepalives on those
# daemons' connections, and every VT_* variable exported to the ranks on other machines. Extra arguments
# go to `vt train`.
#
# It never hangs after the job failed: mpirun can wait forever for a daemon on a machine that stopped
# answering (a dead link) even after vt ended the job. Once vt or mpirun has said the job failed (a line
# `error: …` from vt, or mpirun's MPI_ABORT / "exited on signal" / "non-zero exit code" / lost-daemon
# reports), mpirun gets ABORT_GRACE seconds to exit; then it and its local processes (the ranks on this
# machine and the ssh clients of the others) are killed and the script exits with vt's code. The remote
# daemons end by themselves when they lose mpirun (at once on a working link; through the keepalives, or
# when the link comes back, on a dead one).
#
# Exit status: mpirun's, which is vt's (1 an error, 3 vt's stall watchdog), 128 + N for a rank killed by
# signal N, 205 when mpirun lost a daemon; after ABORT_GRACE, the code read from the failure lines; 0 when
# a SIGTERM/SIGINT/SIGUSR1 given to this script made vt save and stop.
#
# Environment:
#   VT            the vt binary (default .build/release/vt, relative to the repository root)
#   VT_IFACE      network interface(s) or CIDR(s) for MPI and Open MPI's daemons, e.g. eth0 or
#                 10.0.0.0/24 (→ btl_tcp_if_include and oob_tcp_if_include); default: Open MPI's choice
#   VT_BTL        MPI transports (default self,vader,tcp)
#   VT_RSH_AGENT  the command that starts Open MPI's daemon on another machine (default: ssh; `agent HOST
#                 COMMAND…` must run COMMAND on HOST — the test suite points it at `ip netns exec`)
#   ABORT_GRACE   seconds mpirun may take to exit after the job failed (default 30)
#   MPIRUN_OPTIONS  more mpirun options, split at spaces (e.g. "--oversubscribe --map-by node")
#   OMPI_MCA_*    Open MPI's own parameters; one set here wins over the defaults below
set -uo pipefail
usage="usage: Launch/mpirun-hosts.sh HOSTFILE RANKS CONFIG [vt train options…]"
hostfile=${1:?$usage}
ranks=${2:?$usage}
config=${3:?$usage}
shift 3
cd "$(dirname "$0")/.." || exit 1
me="mpirun-hosts.sh"
vt=${VT:-.build/release/vt}
grace=${ABORT_GRACE:-30}
[ -x "$vt" ] || { echo "error: $me: $vt not found; build with: swift build -c release" >&2; exit 1; }
[ -r "$hostfile" ] || { echo "error: $me: hostfile $hostfile not found" >&2; exit 1; }
case $ranks in ''|*[!0-9]*) echo "error: $me: RANKS must be a number (got $ranks)" >&2; exit 1 ;; esac
case $grace in ''|*[!0-9]*) echo "error: $me: ABORT_GRACE must be whole seconds (got $grace)" >&2; exit 1 ;; esac

# MARK: mpirun's flags
flags=(--hostfile "$hostfile" -np "$ranks" --bind-to none)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
mca() {  # mca NAME VALUE: --mca NAME VALUE, unless OMPI_MCA_NAME is set (Open MPI reads that one then)
    local variable="OMPI_MCA_$1"
    [ -n "${!variable:-}" ] || flags+=(--mca "$1" "$2")
}
mca btl "${VT_BTL:-self,vader,tcp}"
if [ -n "${VT_IFACE:-}" ]; then
    mca btl_tcp_if_include "$VT_IFACE"
    mca oob_tcp_if_include "$VT_IFACE"
fi
[ -n "${VT_RSH_AGENT:-}" ] && mca plm_rsh_agent "$VT_RSH_AGENT"
# mpirun and each other machine's daemon (orted) share one TCP connection, the daemon's lifeline. When a
# machine stops answering, TCP keepalive probes tell both ends if nothing is queued on it: 5 s of silence,
# then 3 unanswered probes 3 s apart — about 14 s, before vt's stall watchdog (45 s for a silent peer
# unless set): mpirun ends the job ("ORTE has lost communication with a remote daemon") and the cut-off
# daemon ends its ranks and itself. (Open MPI's defaults, 300 s + 9 × 20 s, take 8 minutes.) Data queued
# on the connection (an abort's report, say) suspends the probes; TCP then retries for about 15 minutes
# (net.ipv4.tcp_retries2): ABORT_GRACE below ends mpirun, and the cut-off daemon ends when the link
# returns or TCP gives up.
mca oob_tcp_keepalive_time 5
mca oob_tcp_keepalive_intvl 3
mca oob_tcp_keepalive_probes 3
# The ranks on other machines get the environment of the daemon's login, not this one: export VT_*.
while IFS= read -r variable; do flags+=(-x "$variable"); done < <(compgen -e | grep '^VT_')
# shellcheck disable=SC2206  # split at spaces on purpose
[ -n "${MPIRUN_OPTIONS:-}" ] && flags+=(${MPIRUN_OPTIONS})

# MARK: mpirun, watched
# mpirun's output goes through two readers that pass it on and note the lines saying the job failed, each
# as "RANK CODE LINE": RANK orders them (the most telling first) and CODE is what vt exits with.
fifos=$(mktemp -d "${TMPDIR:-/tmp}/vt-mpirun-hosts.XXXXXX") || exit 1
mkfifo "$fifos/out" "$fifos/err" || exit 1
watch() {  # watch NOTES: copies stdin to stdout, appending failure lines to NOTES
    local line code rank noted=0
    while IFS= read -r line || [ -n "$line" ]; do
        printf '%s\n' "$line"
        case $line in "stopped by SIG"*" at step "*) : > "$1.stopped" ;; esac
        case $line in
            *"MPI_ABORT was invoked on rank"*"errorcode "*)
                rank=1; code=${line##*errorcode }; code=${code%%[!0-9]*} ;;
            "error: rank "*"; ending the job")  # vt's stall watchdog, which calls MPI_Abort(3)
                rank=2; code=3 ;;
            *"exited on signal "*)
                rank=3; code=${line##*exited on signal }; code=${code%%[!0-9]*}; [ -n "$code" ] && code=$((128 + code)) ;;
            "error: "*)
                rank=4; code=1 ;;
            *"returned a non-zero exit code"*|*"ORTE has lost communication"*|*"ORTE daemon has unexpectedly failed"*)
                rank=5; code=1 ;;
            *) continue ;;
        esac
        [ "$noted" -lt 20 ] && printf '%s %s %s\n' "$rank" "${code:-1}" "$line" >> "$1"
        noted=$((noted + 1))
    done
}
watch "$fifos/notes-out" < "$fifos/out" & out_reader=$!
watch "$fifos/notes-err" < "$fifos/err" >&2 & err_reader=$!
mpirun "${flags[@]}" "$vt" train --config "$config" "$@" > "$fifos/out" 2> "$fifos/err" &
mpirun_pid=$!

# SIGTERM/SIGINT/SIGUSR1 (preemption, Ctrl-C) reach mpirun as SIGUSR1, which it passes to every rank on
# every machine: vt saves and exits 0. (SIGTERM itself mpirun would answer by terminating the ranks, with
# SIGKILL a few seconds later: too soon for a large checkpoint.)
signalled=0
# shellcheck disable=SC2064
trap "signalled=1; kill -USR1 $mpirun_pid 2>/dev/null" TERM INT USR1

milliseconds() {  # now, in ms (EPOCHREALTIME: bash 5; its decimal point follows the locale)
    if [ -n "${EPOCHREALTIME:-}" ]; then local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t / 1000)); else echo $((SECONDS * 1000)); fi
}
failed_at=
killed=0
while kill -0 "$mpirun_pid" 2>/dev/null; do
    if [ -z "$failed_at" ] && { [ -s "$fifos/notes-out" ] || [ -s "$fifos/notes-err" ]; }; then
        failed_at=$(milliseconds)
    fi
    if [ -n "$failed_at" ] && [ $(($(milliseconds) - failed_at)) -ge $((grace * 1000)) ]; then
        # Its children are the ranks on this machine and the agents (ssh) that started the other machines'
        # daemons. SIGKILL: the job has failed, nothing is left to save, and mpirun answers SIGTERM during
        # an abort with "abort is already in progress" (and, seen here, a segmentation fault).
        local_processes=$(ps -o pid= --ppid "$mpirun_pid" 2>/dev/null | tr '\n' ' ')
        # shellcheck disable=SC2086
        kill -KILL "$mpirun_pid" $local_processes 2>/dev/null
        killed=1
        break
    fi
    sleep 0.2 & wait $!   # wait (not sleep) so that a signal's trap runs at once
done
wait "$mpirun_pid" 2> /dev/null; status=$?   # (2>: not bash's "Killed" line after a SIGKILL above)
# The readers end when the pipes close; a daemon on a machine that cannot be reached may hold them open.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$out_reader" 2>/dev/null || kill -0 "$err_reader" 2>/dev/null || break
    sleep 0.1
done
kill "$out_reader" "$err_reader" 2>/dev/null
wait "$out_reader" "$err_reader" 2>/dev/null
notes=$(cat "$fifos/notes-err" "$fifos/notes-out" 2>/dev/null | sort -s -n -k 1,1)
stopped=0; [ -e "$fifos/notes-out.stopped" ] || [ -e "$fifos/notes-err.stopped" ] && stopped=1
rm -rf "$fifos"
if [ "$killed" -eq 1 ]; then
    code=$(printf '%s\n' "$notes" | head -n 1 | cut -d ' ' -f 2)
    what=$(printf '%s\n' "$notes" | grep -m 1 '^[0-9]* [0-9]* error: ' || printf '%s\n' "$notes" | head -n 1)
    what=$(printf '%s' "$what" | cut -d ' ' -f 3- | cut -c 1-160)
    echo "error: $me: the job failed (\"$what\"), but mpirun had not exited ${grace} s later (a machine that does not answer?): killed mpirun and the ranks on this machine; exit $code" >&2
    exit "${code:-1}"
fi
# mpirun exits 1 after passing on a signal even when every rank saved and exited 0.
[ "$status" -ne 0 ] && [ "$signalled" -eq 1 ] && [ "$stopped" -eq 1 ] && [ -z "$notes" ] && exit 0
exit "$status"
