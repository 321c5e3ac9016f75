#!/bin/bash
# The shipped configs/xor.yaml learns XOR: `dptrain evaluate` reports accuracy=1.000000 after
# training on NP ranks (1 = a plain process without mpirun).
# Usage: xor.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT NP
. "$(dirname "$0")/lib.sh"
NP=$1
e2e_init "xor_np$NP"

"$MKDATA" xor "$WORK/xor.h5" || die "dpt_mkdata xor failed"
train=("$DPTRAIN" train "$SRCDIR/configs/xor.yaml" --set "data.train=$WORK/xor.h5"
       --set "output.dir=$WORK/out")
if [ "$NP" -eq 1 ]; then
    run_logged train.log timeout 120 "${train[@]}" || die "training on 1 process failed"
else
    run_logged train.log mpi "$NP" "${train[@]}" || die "training on $NP ranks failed"
fi
tail -n 3 train.log
check "model.h5 written" [ -s out/model.h5 ]
check "metrics.jsonl written" [ -s out/metrics.jsonl ]

run_logged eval.log timeout 60 "$DPTRAIN" evaluate out/model.h5 "$WORK/xor.h5" ||
    die "dptrain evaluate failed"
line=$(tail -n 1 eval.log)
echo "evaluate: $line"
check "evaluate counts 4 samples" [ "$(num_field "$line" n)" = 4 ]
check "accuracy is 1.000000" [ "$(num_field "$line" accuracy)" = 1.000000 ]
run_logged pred.log timeout 60 "$DPTRAIN" predict out/model.h5 "$WORK/xor.h5" "$WORK/pred.h5" ||
    die "dptrain predict failed"
check "predicted labels are 0 1 1 0" grep -q '(0): 0, 1, 1, 0' <(h5dump -d labels pred.h5)
check "pred holds (4, 2) probabilities" grep -q '( 4, 2 )' <(h5dump -H -d pred pred.h5)
finish
