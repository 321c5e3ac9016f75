#!/bin/bash
# The shipped Fashion-MNIST sequence configs as they are: each image read row by row (28 steps of
# 28 pixels), 128 recurrent units, Adam, batch 128, 5 epochs on the 60,000 training images on 2
# ranks; the accuracy on the 10,000 test images must reach 0.86.  Slow (minutes): labelled
# "slow" in ctest, run by ./setup.sh test, skipped by the sanitizer build.
# Usage: fashion_rows.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT lstm|gru
. "$(dirname "$0")/lib.sh"
CELL=$1
e2e_init "fashion_$CELL"
PKG=/usr/share/datasets/fashion-mnist
[ -r "$PKG/train-images-idx3-ubyte.gz" ] || die "Debian package dataset-fashion-mnist is missing"
# The converted data is shared by both tests (written atomically by dpt_mkdata).
DATA=$WORKROOT/fashion-rows
mkdir -p "$DATA"
if [ ! -s "$DATA/test.h5" ]; then
    "$MKDATA" fashion-mnist --rows "$DATA/train.h5" "$DATA/test.h5" >/dev/null ||
        die "dpt_mkdata fashion-mnist --rows failed"
fi
E2E_TIMEOUT=1500 run_logged train.log mpi 2 "$DPTRAIN" train \
    "$SRCDIR/configs/fashion-mnist-$CELL.yaml" --set "data.train=$DATA/train.h5" \
    --set "data.validation_file=$DATA/test.h5" --set "output.dir=$WORK/out" ||
    die "training failed"
grep '^epoch' train.log
acc=$(sed -n 's/.*"val_accuracy": *\([^,}]*\).*/\1/p' out/metrics.jsonl | tail -n 1)
check "test accuracy $acc after 5 epochs >= 0.86" ge "$acc" 0.86
finish
