#!/bin/bash
# Regression end to end with the shipped configs/regression-mlp.yaml (fewer epochs): train on
# 2 ranks, evaluate, predict; metrics.jsonl has one line per epoch and the loss goes down.
# Usage: regression.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT
. "$(dirname "$0")/lib.sh"
e2e_init regression
EPOCHS=8
N=500

"$MKDATA" friedman1 "$WORK/reg.h5" --n $N >/dev/null || die "dpt_mkdata friedman1 failed"
run_logged train.log mpi 2 "$DPTRAIN" train "$SRCDIR/configs/regression-mlp.yaml" \
    --set "data.train=$WORK/reg.h5" --set "output.dir=$WORK/out" \
    --set "training.epochs=$EPOCHS" || die "training failed"
cat train.log
check "stdout has the last epoch line 'epoch $EPOCHS/$EPOCHS'" grep -q "^epoch $EPOCHS/$EPOCHS " train.log
check "model.h5 written" [ -s out/model.h5 ]
check "model has /params/*/W" grep -q '/params/.*/W' <(h5ls -r out/model.h5)
check "metrics.jsonl has $EPOCHS lines" [ "$(wc -l <out/metrics.jsonl)" -eq "$EPOCHS" ]
for e in 1 $EPOCHS; do
    check "metrics.jsonl line $e is epoch $e with loss, mae, val_loss, val_mae" \
        grep -qE "^\{\"epoch\": ?$e,.*\"loss\":.*\"mae\":.*\"val_loss\":.*\"val_mae\":" \
        <(sed -n "${e}p" out/metrics.jsonl)
done
first=$(sed -n 's/.*"loss": \{0,1\}\([^,}]*\).*/\1/p' out/metrics.jsonl | head -n 1)
last=$(sed -n 's/.*"loss": \{0,1\}\([^,}]*\).*/\1/p' out/metrics.jsonl | tail -n 1)
check "training loss decreases ($first -> $last)" awk -v a="$first" -v b="$last" 'BEGIN { exit !(b + 0 < a + 0) }'

run_logged eval.log timeout 60 "$DPTRAIN" evaluate out/model.h5 reg.h5 || die "evaluate failed"
line=$(tail -n 1 eval.log)
echo "evaluate: $line"
check "evaluate counts $N samples" [ "$(num_field "$line" n)" = "$N" ]
check "evaluate loss is finite" is_finite "$(num_field "$line" loss)"
mae=$(num_field "$line" mae)
check "evaluate mae is finite ($mae)" is_finite "$mae"
# y has a standard deviation of about 4.9; predicting the mean gives an MAE of about 4.
check "evaluate mae < 3.5 in the data's units ($mae)" awk -v m="$mae" 'BEGIN { exit !(m + 0 < 3.5) }'

run_logged pred.log timeout 60 "$DPTRAIN" predict out/model.h5 reg.h5 "$WORK/pred.h5" ||
    die "predict failed"
check "pred is ($N, 1)" grep -q "( $N, 1 )" <(h5dump -H -d pred pred.h5)
h5dump -d pred -y -w 0 -o pred.txt pred.h5 >/dev/null
check "pred values are all finite numbers" \
    awk -F, '{ for (i = 1; i <= NF; i++) { v = $i; gsub(/[ \t]/, "", v); if (v == "") continue;
               if (v !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) exit 1; n++ } } END { exit !(n == '"$N"') }' pred.txt
# Predictions are in the data's units (de-normalised): Friedman #1 targets average about 14.4.
mean=$(awk -F, '{ for (i = 1; i <= NF; i++) if ($i ~ /[0-9]/) { s += $i; n++ } } END { if (n) printf "%.3f", s / n }' pred.txt)
check "mean prediction $mean is in the targets' range [10, 19]" \
    awk -v m="$mean" 'BEGIN { exit !(m != "" && m >= 10 && m <= 19) }'
# evaluate and predict split the rows over the ranks when run under mpirun: same results.
run_logged eval3.log mpi 3 "$DPTRAIN" evaluate out/model.h5 reg.h5 || die "evaluate on 3 ranks failed"
check "evaluate on 3 ranks prints the same line" [ "$(tail -n 1 eval3.log)" = "$line" ]
run_logged pred3.log mpi 3 "$DPTRAIN" predict out/model.h5 reg.h5 "$WORK/pred3.h5" ||
    die "predict on 3 ranks failed"
check "predict on 3 ranks writes the same predictions" \
    "$H5CMP" pred.h5 pred3.h5 --group / --rtol 1e-6
check "no leftover temporary files" [ -z "$(find "$WORK" -name '*.tmp*')" ]
finish
