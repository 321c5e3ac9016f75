#!/bin/bash
# Runs dptrain with plain mpirun on machines without a batch system: ranks from a hostfile,
# THREADS cores per rank, each rank bound to its own cores.
#   jobs/mpirun-hostfile.sh [--set key.path=value]...                   (from the repository root)
#   HOSTFILE=hosts THREADS=4 CONFIG=configs/fashion-mnist-mlp.yaml jobs/mpirun-hostfile.sh
# Environment: HOSTFILE (jobs/hostfile.example: localhost, 2 slots), CONFIG
# (configs/regression-mlp.yaml), DPTRAIN (build/dptrain), THREADS (1), PPN (ranks per node; unset:
# one rank per slot of the hostfile), NP (total ranks; unset: what the mapping gives).
# The build, the config and the data must be at the same path on every host (shared file system).
set -euo pipefail
HOSTFILE=${HOSTFILE:-jobs/hostfile.example}
CONFIG=${CONFIG:-configs/regression-mlp.yaml}
DPTRAIN=${DPTRAIN:-build/dptrain}
THREADS=${THREADS:-1}
die() {
    echo "mpirun-hostfile.sh: $*" >&2
    exit 2
}
[ -r "$HOSTFILE" ] || die "HOSTFILE=$HOSTFILE: cannot read it"
[ -r "$CONFIG" ] || die "CONFIG=$CONFIG: cannot read it"
command -v "$DPTRAIN" >/dev/null || die "DPTRAIN=$DPTRAIN is not an executable"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS=$THREADS: expected a positive integer"

# Threads per rank must be set: unset, OpenMP starts one per CPU the rank can see.
export OMP_NUM_THREADS=$THREADS
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# PE=T: every rank gets T cores ("processing elements") and --bind-to core keeps its BLIS/OpenMP
# threads on them (mpirun's default binds a rank to ONE core).  ppr:N:node places N ranks on each
# host whatever its slots say; slot fills each host's slots in turn.
if [ -n "${PPN:-}" ]; then
    map=ppr:$PPN:node:PE=$THREADS
else
    map=slot:PE=$THREADS
fi
np=()
[ -n "${NP:-}" ] && np=(-n "$NP")
# The header's rank count: NP, else PPN per host, else the sum of the slots.
hosts=$(sed -e 's/#.*//' "$HOSTFILE" | awk 'NF { print $1 }' | paste -sd, -)
slots=$(sed -e 's/#.*//' -n -e 's/.*[[:space:]]slots=\([0-9]*\).*/\1/p' "$HOSTFILE" |
    awk '{ n += $1 } END { print n + 0 }')
if [ -n "${NP:-}" ]; then
    ranks=$NP
elif [ -n "${PPN:-}" ]; then
    ranks=$((PPN * $(tr , '\n' <<<"$hosts" | wc -l)))
else
    ranks=$slots
fi
echo "mpirun: hosts $hosts: $ranks rank(s) x $THREADS thread(s) (--map-by $map), config $CONFIG"
pass=(-x OMP_NUM_THREADS)
[ -n "${BLIS_ARCH_TYPE:-}" ] && pass+=(-x BLIS_ARCH_TYPE)
exec mpirun --hostfile "$HOSTFILE" "${np[@]}" --map-by "$map" --bind-to core --report-bindings \
    "${pass[@]}" "$DPTRAIN" train "$CONFIG" "$@"
