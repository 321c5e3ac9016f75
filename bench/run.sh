#!/bin/bash
# Runs bench_train from an existing build directory (builds nothing) at 1 rank x 1 thread,
# 1 rank x 2 threads and 2 ranks x 1 thread, and prints one Markdown table on stdout
# (the benchmark's full report goes to stderr).  Usage: bench/run.sh BUILD_DIR [bench args...]
# e.g. bench/run.sh build --steps 200; BLIS_ARCH_TYPE=3 bench/run.sh build forces 'haswell'.
# bench/run.sh BUILD_DIR overlap [bench args...] instead compares, at 2 ranks x 1 thread, the
# inline allreduce with the overlapped one at several bucket sizes (wide-mlp-256, lstm-rows);
# extra mpirun settings come from the environment (e.g. OMPI_MCA_mpi_yield_when_idle=1).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1/bench/bench_train" ]; then
    echo "usage: $0 BUILD_DIR [overlap] [bench_train args...]  (BUILD_DIR/bench/bench_train must exist)" >&2
    exit 2
fi
bench="$1/bench/bench_train"
shift
mode=throughput
if [ "${1:-}" = overlap ]; then
    mode=overlap
    shift
fi

# Open MPI refuses to run as root unless told; harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The thread count comes from --threads; stray settings must not override it.
unset OMP_NUM_THREADS BLIS_NUM_THREADS
forward=""
if [ -n "${BLIS_ARCH_TYPE:-}" ]; then forward="-x BLIS_ARCH_TYPE"; fi

# Keeps the table rows (lines starting with '|') on stdout, everything else on stderr.
rows() {
    "$@" | while IFS= read -r line; do
        case "$line" in
            "|"*) printf '%s\n' "$line" ;;
            *) printf '%s\n' "$line" >&2 ;;
        esac
    done
}

echo "| workload | ranks | threads/rank | BLIS kernels | samples/s | ms/step | GEMM GFLOP/s in step | sgemm GFLOP/s same shapes | % of peak | sgemm 2048^3 GFLOP/s | overlap | compute ms/step | allreduce ms/step | exposed comm ms/step |"
echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
if [ "$mode" = overlap ]; then
    for w in wide-mlp-256 lstm-rows; do
        # shellcheck disable=SC2086  # $forward is empty or two words on purpose
        rows mpirun -n 2 $forward "$bench" --threads 1 --workload "$w" --overlap off "$@"
        for mb in 0.01 1 5 32; do
            # shellcheck disable=SC2086
            rows mpirun -n 2 $forward "$bench" --threads 1 --workload "$w" --overlap on \
                --bucket-mb "$mb" "$@"
        done
    done
    exit 0
fi
rows "$bench" --threads 1 "$@"
rows "$bench" --threads 2 "$@"
# shellcheck disable=SC2086  # $forward is empty or two words on purpose
rows mpirun -n 2 $forward "$bench" --threads 1 "$@"
