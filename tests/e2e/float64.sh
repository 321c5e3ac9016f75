#!/bin/bash
# A file whose X is float64 (valid input, converted to float32 on reading) trains on 2 ranks
# and the model evaluates and predicts on it.
# Usage: float64.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT
. "$(dirname "$0")/lib.sh"
e2e_init float64

"$MKDATA" bad float64 "$WORK/f64.h5" --n 64 --features 2 --classes 2 ||
    die "dpt_mkdata bad float64 failed"
h5dump -H -d X f64.h5 | grep -q H5T_IEEE_F64LE || die "X in f64.h5 is not float64"
cat >cfg.yaml <<CFG
model:
  layers:
    - {type: dense, units: 8, activation: tanh}
    - {type: dense, units: 2}
loss: softmax_ce
metrics: [accuracy]
optimizer: {name: adam, lr: 0.02}
data:
  train: $WORK/f64.h5
training:
  epochs: 30
  batch_size: 16
  seed: 3
output:
  dir: $WORK/out
CFG
run_logged train.log mpi 2 "$DPTRAIN" train "$WORK/cfg.yaml" || die "training on float64 X failed"
check "model.h5 written" [ -s out/model.h5 ]
run_logged eval.log timeout 60 "$DPTRAIN" evaluate out/model.h5 f64.h5 || die "evaluate failed"
line=$(tail -n 1 eval.log)
echo "evaluate: $line"
check "evaluate counts 64 samples" [ "$(num_field "$line" n)" = 64 ]
acc=$(num_field "$line" accuracy)
check "accuracy is a number ($acc)" is_finite "$acc"
check "accuracy >= 0.75 on two Gaussian blobs ($acc)" ge "$acc" 0.75
run_logged pred.log timeout 60 "$DPTRAIN" predict out/model.h5 f64.h5 "$WORK/pred.h5" ||
    die "predict failed"
check "pred is (64, 2)" grep -q '( 64, 2 )' <(h5dump -H -d pred pred.h5)
finish
