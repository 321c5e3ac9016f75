#!/bin/bash
# Runs dptrain with plain mpirun on a cluster without a batch system: one rank per slot of
# HOSTFILE, THREADS cores per rank, each rank bound to its own cores.
#   jobs/mpirun-hostfile.sh HOSTFILE CONFIG [--set key.path=value]...
# HOSTFILE lists one host per line with its rank slots, e.g. "node01 slots=2" (give each host
# slots = its cores / THREADS).  Environment: THREADS (default 1), NP (default: the sum of the
# slots), DPTRAIN (default build/dptrain).  The build and the data must be at the same path on
# every host (a shared file system).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: jobs/mpirun-hostfile.sh HOSTFILE CONFIG [--set key.path=value]..." >&2
    exit 2
fi
HOSTFILE=$1
shift
THREADS=${THREADS:-1}
DPTRAIN=${DPTRAIN:-build/dptrain}
NP=${NP:-$(sed -n 's/.*slots=\([0-9]*\).*/\1/p' "$HOSTFILE" | awk '{ n += $1 } END { print n + 0 }')}
[ "$NP" -gt 0 ] || { echo "$HOSTFILE: no 'slots=N' entries; set NP" >&2; exit 2; }
export OMP_NUM_THREADS=$THREADS
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# --map-by slot:PE=T gives every rank T cores ("processing elements") of its host, and
# --bind-to core keeps the rank's BLIS/OpenMP threads on them.  -x passes variables to every rank.
pass=(-x OMP_NUM_THREADS)
[ -n "${BLIS_ARCH_TYPE:-}" ] && pass+=(-x BLIS_ARCH_TYPE)
echo "mpirun: $NP ranks x $THREADS threads from $HOSTFILE"
exec mpirun --hostfile "$HOSTFILE" -n "$NP" --map-by "slot:PE=$THREADS" --bind-to core \
    "${pass[@]}" "$DPTRAIN" train "$@"
