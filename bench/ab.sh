#!/bin/bash
# A/B of two or more builds on one workload, in alternation, so that the machine's drift (10-25 %
# from one minute to the next on the development VM) falls on every build alike.  Each round runs
# bench_train once per build; prints per build the best and the median samples/s, and the median
# % of the sgemm peak measured in the same minutes (bench_train's interleaved roofline).
# Usage: bench/ab.sh ROUNDS WORKLOAD THREADS BUILD_DIR... [-- bench_train args]
# e.g. bench/ab.sh 5 lstm-rows 2 /tmp/before/build build
set -euo pipefail

if [ $# -lt 4 ]; then
    echo "usage: $0 ROUNDS WORKLOAD THREADS BUILD_DIR... [-- bench_train args]" >&2
    exit 2
fi
rounds=$1 workload=$2 threads=$3
shift 3
builds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    if [ ! -x "$1/bench/bench_train" ]; then
        echo "$0: $1/bench/bench_train does not exist (build the bench_train target)" >&2
        exit 2
    fi
    builds+=("$1")
    shift
done
[ "${1:-}" = "--" ] && shift
unset OMP_NUM_THREADS BLIS_NUM_THREADS

declare -A rate peak
for _ in $(seq "$rounds"); do
    for b in "${builds[@]}"; do
        # the table row: | workload | ranks | threads | kernels | samples/s | ms | GEMM | sgemm | % |
        row=$("$b/bench/bench_train" --workload "$workload" --threads "$threads" "$@" 2>&1 | grep '^|')
        rate[$b]="${rate[$b]:-} $(echo "$row" | cut -d'|' -f6 | tr -d ' ')"
        peak[$b]="${peak[$b]:-} $(echo "$row" | cut -d'|' -f10 | tr -d ' %')"
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
best() { tr ' ' '\n' | grep . | sort -n | tail -n 1; }
for b in "${builds[@]}"; do
    printf '%s %dt %s: best %s, median %s samples/s; median %s%% of peak (%d rounds)\n' \
        "$workload" "$threads" "$b" "$(echo "${rate[$b]}" | best)" \
        "$(echo "${rate[$b]}" | median)" "$(echo "${peak[$b]}" | median)" "$rounds"
done
