#!/bin/bash
# The input pipeline on Fashion-MNIST (60000 x 784 float32, 180 MiB): read rates per rank
# (bench_io: raw file, HDF5 row blocks, the whole streaming pipeline; page cache warm and
# dropped), then the same training run (configs/fashion-mnist-mlp.yaml, 2 epochs, 2 ranks)
# with data.mode in_memory and streaming: epoch time and the time the step waited for data.
# Builds nothing.  Usage: bench/io.sh BUILD_DIR [WORKDIR]   (Markdown tables on stdout)
set -euo pipefail
if [ $# -lt 1 ] || [ ! -x "$1/bench/bench_io" ]; then
    echo "usage: $0 BUILD_DIR [WORKDIR]  (BUILD_DIR/bench/bench_io must exist)" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
work=${2:-$(mktemp -d)}
mkdir -p "$work" && cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
[ -s data/fashion-mnist-train.h5 ] ||
    "$build/tools/dpt_mkdata" fashion-mnist data/fashion-mnist-train.h5 data/fashion-mnist-test.h5 >&2

for np in 1 2; do
    for cache in "" --cold; do
        mpirun -n "$np" "$build/bench/bench_io" data/fashion-mnist-train.h5 $cache
        echo
    done
done

echo "| data.mode | ranks | epoch | time s | compute s | comm s | data wait s | samples/s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for mode in in_memory streaming; do
    mpirun -n 2 "$build/dptrain" train "$src/configs/fashion-mnist-mlp.yaml" \
        --set "data.mode=$mode" --set training.epochs=2 --set "output.dir=$work/$mode" \
        --set checkpoint.every_epochs=0 >"$mode.log" 2>&1 || { cat "$mode.log" >&2; exit 1; }
    # metrics.jsonl: one flat JSON object per epoch
    awk -v mode="$mode" -F'[:,{}] *' '{
        for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)
        printf "| %s | 2 | %d | %.2f | %.2f | %.2f | %.3f | %.0f |\n", mode, v["\"epoch\""],
               v["\"time_s\""], v["\"compute_s\""], v["\"comm_exposed_s\""],
               v["\"data_wait_s\""], v["\"samples_per_s\""] }' "$mode/metrics.jsonl"
done
