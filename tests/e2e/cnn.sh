#!/bin/bash
# Convolutional networks end to end on images (N, H, W, C).
#   learn:  a small CNN (conv, max-pool, conv, global average pool, dense) learns the synthetic
#           shapes of `dpt_mkdata shapes` (bars and squares anywhere in the image) to >= 0.9
#           validation accuracy in a few epochs; evaluate and predict read the model back.
#   equiv:  a CNN with batch_norm (global-batch statistics) and dropout gives the same parameters
#           and moving statistics on 1, 2, 3 and 4 ranks (uneven splits, a short last batch).
#   fashion-np1 / fashion-np2 (slow): the shipped configs/fashion-mnist-cnn.yaml as it is (10
#           epochs, batch 128) reaches >= 0.91 accuracy on the 10,000 test images.
# Usage: cnn.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT MODE
. "$(dirname "$0")/lib.sh"
MODE=$1
e2e_init "cnn_$MODE"
E2E_TIMEOUT=${E2E_TIMEOUT:-240}

train() { # train NP LOG CONFIG [--set ...]
    local np=$1 log=$2
    shift 2
    if [ "$np" -eq 1 ]; then
        run_logged "$log" timeout "$E2E_TIMEOUT" "$DPTRAIN" train "$@"
    else
        run_logged "$log" mpi "$np" "$DPTRAIN" train "$@"
    fi
}

last_val_accuracy() { # last_val_accuracy RUN_DIR
    sed -n 's/.*"val_accuracy": *\([^,}]*\).*/\1/p' "$1/metrics.jsonl" | tail -n 1
}

learn() {
    "$MKDATA" shapes "$WORK/shapes.h5" --n 900 --size 12 --seed 3 >/dev/null ||
        die "dpt_mkdata shapes failed"
    cat >cfg.yaml <<CFG
model:
  layers:
    - {type: conv2d, filters: 8, kernel_size: 3, padding: same, activation: relu}
    - {type: max_pool2d, pool_size: 2}
    - {type: conv2d, filters: 16, kernel_size: 3, activation: relu}
    - {type: global_avg_pool2d}
    - {type: dense, units: 3}
loss: softmax_ce
metrics: [accuracy]
optimizer: {name: adam, lr: 0.01}
data: {train: $WORK/shapes.h5, validation_split: 0.2}
training: {epochs: 12, batch_size: 32, seed: 1}
CFG
    train 2 train.log "$WORK/cfg.yaml" --set "output.dir=$WORK/out" || die "training failed"
    grep '^model:' train.log
    check "the start-up report shows image shapes" grep -q 'model: (12, 12, 1) inputs -> conv2d_0(12, 12, 8)' train.log
    local acc
    acc=$(last_val_accuracy out)
    check "validation accuracy $acc >= 0.9" ge "$acc" 0.9
    run_logged eval.log timeout 60 "$DPTRAIN" evaluate out/model.h5 "$WORK/shapes.h5" ||
        die "dptrain evaluate failed"
    check "evaluate reads the model back and scores >= 0.9" \
        ge "$(num_field "$(tail -n 1 eval.log)" accuracy)" 0.9
    run_logged pred.log timeout 60 "$DPTRAIN" predict out/model.h5 "$WORK/shapes.h5" pred.h5 ||
        die "dptrain predict failed"
    check "predict writes (900, 3) probabilities" grep -q '( 900, 3 )' <(h5dump -H -d pred pred.h5)
    # images with another number of channels than the model was trained on: a clear refusal
    "$MKDATA" shapes "$WORK/rgb.h5" --n 20 --size 12 --channels 3 >/dev/null ||
        die "dpt_mkdata shapes failed"
    "$DPTRAIN" evaluate out/model.h5 "$WORK/rgb.h5" >rgb.log 2>&1
    local rc=$?
    cat rgb.log
    check "evaluate on 3-channel images exits 1 (got $rc)" [ "$rc" -eq 1 ]
    check "the message names both shapes" \
        grep -qF "expects X of (12, 12, 1) float32 per row; $WORK/rgb.h5's X has (12, 12, 3) float32" rgb.log
}

equiv() {
    "$MKDATA" shapes "$WORK/shapes.h5" --n 203 --size 10 --channels 2 --seed 5 >/dev/null ||
        die "dpt_mkdata shapes failed"
    cat >cfg.yaml <<CFG
model:
  layers:
    - {type: conv2d, filters: 6, kernel_size: 3, padding: same, use_bias: false}
    - {type: batch_norm}
    - {type: activation, activation: relu}
    - {type: max_pool2d, pool_size: 2}
    - {type: conv2d, filters: 8, kernel_size: [3, 2], strides: [1, 2]}
    - {type: batch_norm, momentum: 0.9}
    - {type: activation, activation: tanh}
    - {type: flatten}
    - {type: dropout, rate: 0.3}
    - {type: dense, units: 3}
loss: softmax_ce
metrics: [accuracy]
optimizer: {name: sgd, lr: 0.05}
data: {train: $WORK/shapes.h5}
training: {epochs: 3, batch_size: 32, seed: 11, shuffle: true}
CFG
    for np in 1 2 3 4; do
        train "$np" "train$np.log" "$WORK/cfg.yaml" --set "output.dir=$WORK/np$np" ||
            die "training on $np ranks failed"
    done
    # As tests/e2e/equivalence.sh: summation order changes values by float rounding only;
    # --atol 1e-2 compares values below 0.01 on an absolute scale (1e-7).  A lost or doubled
    # row, or per-rank batch statistics, move parameters by ~1e-3 (the negative controls).
    for np in 2 3 4; do
        "$H5CMP" np1/model.h5 "np$np/model.h5" --rtol 1e-5 --atol 1e-2 >"cmp$np.log" 2>&1
        local rc=$?
        cat "cmp$np.log"
        check "np=$np parameters and moving statistics equal np=1 within rtol 1e-5 (exit $rc)" \
            [ "$rc" -eq 0 ]
    done
    train 2 local.log "$WORK/cfg.yaml" --set "output.dir=$WORK/local" \
        --set "model.layers.1.synchronized=false" || die "training with per-rank statistics failed"
    "$H5CMP" np1/model.h5 local/model.h5 --rtol 1e-5 --atol 1e-2 >cmp_local.log 2>&1
    local rc=$?
    tail -n 1 cmp_local.log
    check "per-rank statistics (synchronized: false) at 2 ranks differ from 1 rank (exit $rc)" \
        [ "$rc" -eq 1 ]
}

fashion() { # fashion NP
    local pkg=/usr/share/datasets/fashion-mnist data=$WORKROOT/fashion-images
    [ -r "$pkg/train-images-idx3-ubyte.gz" ] || die "Debian package dataset-fashion-mnist is missing"
    mkdir -p "$data"
    if [ ! -s "$data/test.h5" ]; then
        "$MKDATA" fashion-mnist --images "$data/train.h5" "$data/test.h5" >/dev/null ||
            die "dpt_mkdata fashion-mnist --images failed"
    fi
    E2E_TIMEOUT=1700 train "$1" train.log "$SRCDIR/configs/fashion-mnist-cnn.yaml" \
        --set "data.train=$data/train.h5" --set "data.validation_file=$data/test.h5" \
        --set "output.dir=$WORK/out" || die "training failed"
    grep '^epoch' train.log
    local acc
    acc=$(last_val_accuracy out)
    check "test accuracy $acc after 10 epochs on $1 rank(s) >= 0.91" ge "$acc" 0.91
}

case $MODE in
learn) learn ;;
equiv) equiv ;;
fashion-np1) fashion 1 ;;
fashion-np2) fashion 2 ;;
*) die "unknown mode $MODE" ;;
esac
finish
