#!/bin/sh
# netns-agent.sh HOST COMMAND… — what `ssh HOST COMMAND…` does, for hosts that are network namespaces on
# this machine (Tests/Scripts/multihost-test.sh points Open MPI's plm_rsh_agent at it, through
# Launch/mpirun-hosts.sh's VT_RSH_AGENT). HOST is the namespace's name; COMMAND runs there under `sh -c`
# with its words joined by spaces, as ssh does, in a UTS namespace of its own whose host name is HOST (so
# each "machine" has its own name, like a real one, and Open MPI tells them apart).
# Like ssh it stays the command's parent: killing it does not kill what it started on HOST.
set -eu
host=${1:?usage: netns-agent.sh HOST COMMAND…}
shift
# shellcheck disable=SC2016  # $0 and $1 belong to the inner shell
exec ip netns exec "$host" unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$host" "$*"
