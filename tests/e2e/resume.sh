#!/bin/bash
# Checkpoints, resume and failure behaviour end to end.  MODE:
#   bitwise-dense | bitwise-lstm  a run resumed from a mid-epoch checkpoint (same ranks and threads)
#                                 ends with bit-identical parameters to the uninterrupted run,
#                                 dropout on
#   bitwise-bn    the same with a batch_norm layer: its moving statistics (in /params) restored
#   ranks-dense | ranks-lstm  checkpoint written by 2 ranks, resumed on 1 and on 4: float32
#                 noise only
#   signal        SIGUSR1 to one rank: every rank stops after the same step, a checkpoint is
#                 written, exit code 3, and --resume latest finishes the run
#   kill9         SIGKILL of one rank mid-epoch: the job ends (bounded), no process is left, the
#                 last checkpoint is intact and resumes
#   nan-abort | nan-skip  a value that overflows float32 in one rank's rows: abort ends every
#                 rank with a message naming step, epoch and layer; skip skips those steps
#   refuse        resuming with a different model, or from a corrupt checkpoint, is refused
# Usage: resume.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT MODE
. "$(dirname "$0")/lib.sh"
MODE=$1
e2e_init "resume_$MODE"
job= # a training run in the background; never left running when the script ends
trap '[ -n "$job" ] && kill -KILL "$job" 2>/dev/null; pkill -KILL -f -- "$WORK/cfg.yaml"' EXIT

dense_config() { # dense_config FILE DATA EPOCHS
    cat >"$1" <<CFG
model:
  layers:
    - {type: dense, units: 24, activation: relu}
    - {type: dropout, rate: 0.2}
    - {type: dense, units: 12, activation: tanh}
    - {type: dense, units: 1}
loss: mse
optimizer: {name: adam, lr: 0.01}
data: {train: $2, validation_split: 0.1}
training: {epochs: $3, batch_size: 16, seed: 3}
checkpoint: {every_steps: 5, keep: 100}
CFG
}

lstm_config() { # lstm_config FILE DATA EPOCHS
    cat >"$1" <<CFG
model:
  layers:
    - {type: lstm, units: 8, return_sequences: true}
    - {type: dropout, rate: 0.2}
    - {type: gru, units: 6}
    - {type: dense, units: 3}
loss: softmax_ce
metrics: [accuracy]
optimizer: {name: adam, lr: 0.01}
data: {train: $2}
training: {epochs: $3, batch_size: 16, seed: 3}
checkpoint: {every_steps: 5, keep: 100}
CFG
}

# ckpt_epoch: the (0-based) epoch of out/checkpoints/latest, read with h5dump; resuming with
# training.epochs = it + 2 finishes the epoch in progress and one more.
ckpt_epoch() {
    h5dump -a /epoch "out/checkpoints/$(cat out/checkpoints/latest)" |
        sed -n 's/.*(0): \([0-9]*\).*/\1/p'
}

# same FILE_A FILE_B: /params bit-identical
same() {
    "$H5CMP" "$1" "$2" --rtol 0 --atol 1e-30 --group /params >cmp.log 2>&1
    local rc=$?
    tail -n 1 cmp.log
    return $rc
}

bitwise() { # bitwise dense|bn|lstm
    if [ "$1" = dense ] || [ "$1" = bn ]; then
        "$MKDATA" friedman1 data.h5 --n 150 --features 5 >/dev/null || die "mkdata failed"
        dense_config cfg.yaml "$WORK/data.h5" 3
        [ "$1" = bn ] && sed -i 's/    - {type: dropout, rate: 0.2}/&\n    - {type: batch_norm}/' cfg.yaml
    else
        "$MKDATA" seqclass data.h5 --n 120 --variable-lengths >/dev/null || die "mkdata failed"
        lstm_config cfg.yaml "$WORK/data.h5" 3
    fi
    run_logged full.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/full" ||
        die "uninterrupted run failed"
    # Resume from the checkpoint after step 10: mid-epoch (an epoch has 9 or 8 steps).
    ck=$WORK/full/checkpoints/ckpt-0000000010.h5
    [ -s "$ck" ] || die "no checkpoint at step 10: $(ls full/checkpoints)"
    run_logged resumed.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/resumed" \
        --resume "$ck" || die "resumed run failed"
    check "resume reports where it continues" grep -q "resumed from .*step 10" resumed.log
    check "resumed run ends bit-identical to the uninterrupted one" \
        same full/model.h5 resumed/model.h5
}

case $MODE in
bitwise-dense) bitwise dense ;;
bitwise-lstm) bitwise lstm ;;
bitwise-bn) bitwise bn ;;
ranks-dense | ranks-lstm)
    if [ "$MODE" = ranks-dense ]; then
        "$MKDATA" friedman1 data.h5 --n 150 --features 5 >/dev/null || die "mkdata failed"
        dense_config cfg.yaml "$WORK/data.h5" 3
    else
        "$MKDATA" seqclass data.h5 --n 120 --variable-lengths >/dev/null || die "mkdata failed"
        lstm_config cfg.yaml "$WORK/data.h5" 3
        # SGD, as in sequence.sh: Adam would magnify the rounding of near-zero gradients
        sed -i 's/{name: adam, lr: 0.01}/{name: sgd, lr: 0.3}/' cfg.yaml
    fi
    run_logged full.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/full" ||
        die "uninterrupted run failed"
    for np in 1 4; do
        run_logged "resume$np.log" mpi "$np" "$DPTRAIN" train cfg.yaml \
            --set "output.dir=$WORK/np$np" --resume "$WORK/full/checkpoints/ckpt-0000000010.h5" ||
            die "resume on $np ranks failed"
        # Float summation order differs with the rank count; see equivalence.sh for the tolerance.
        "$H5CMP" full/model.h5 "np$np/model.h5" --rtol 1e-5 --atol 1e-2 >"cmp$np.log" 2>&1
        rc=$?
        tail -n 1 "cmp$np.log"
        check "2-rank checkpoint resumed on $np rank(s) ends within float32 noise" [ "$rc" -eq 0 ]
    done ;;
signal)
    "$MKDATA" friedman1 data.h5 --n 3000 --features 5 >/dev/null || die "mkdata failed"
    dense_config cfg.yaml "$WORK/data.h5" 400
    mpi 2 "$DPTRAIN" train "$WORK/cfg.yaml" --set "output.dir=$WORK/out" >run.log 2>&1 &
    job=$!
    for i in $(seq 1 100); do grep -q '^epoch 2/' run.log && break; sleep 0.2; done
    rank=$(pgrep -f -- "$WORK/cfg.yaml" | while read -r p; do
        [ "$(cat /proc/"$p"/comm 2>/dev/null)" = dptrain ] && echo "$p"; done | tail -n 1)
    [ -n "$rank" ] || die "no dptrain rank found"
    kill -USR1 "$rank"
    wait "$job"
    rc=$?
    cat run.log | grep -v '^epoch' | tail -n 5
    check "exit code 3 (stopped, resumable) (got $rc)" [ "$rc" -eq 3 ]
    check "a checkpoint was written on the stop" grep -q 'checkpoint (stop signal)' run.log
    check "latest names it" [ -s out/checkpoints/latest ]
    check "no process left behind" [ -z "$(leftover_procs "$WORK/cfg.yaml")" ]
    e=$(ckpt_epoch)
    run_logged resumed.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/out" \
        --set "training.epochs=$((e + 2))" --resume latest || die "resume after the stop failed"
    check "the resumed run continued at the stop and wrote the model" \
        grep -q "model written" resumed.log ;;
kill9)
    "$MKDATA" friedman1 data.h5 --n 3000 --features 5 >/dev/null || die "mkdata failed"
    dense_config cfg.yaml "$WORK/data.h5" 400
    start=$SECONDS
    mpi 2 "$DPTRAIN" train "$WORK/cfg.yaml" --set "output.dir=$WORK/out" >run.log 2>&1 &
    job=$!
    for i in $(seq 1 100); do grep -q '^epoch 2/' run.log && break; sleep 0.2; done
    rank=$(pgrep -f -- "$WORK/cfg.yaml" | while read -r p; do
        [ "$(cat /proc/"$p"/comm 2>/dev/null)" = dptrain ] && echo "$p"; done | tail -n 1)
    [ -n "$rank" ] || die "no dptrain rank found"
    killed_at=$SECONDS
    kill -KILL "$rank"
    wait "$job"
    rc=$?
    check "the job failed (exit $rc) instead of finishing" [ "$rc" -ne 0 ]
    check "the job ended within 30 s of the kill ($((SECONDS - killed_at)) s)" \
        [ $((SECONDS - killed_at)) -le 30 ]
    check "no process left behind" [ -z "$(leftover_procs "$WORK/cfg.yaml")" ]
    e=$(ckpt_epoch)
    run_logged resumed.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/out" \
        --set "training.epochs=$((e + 2))" --resume latest || die "resume after the kill failed"
    check "the last checkpoint resumed and the run finished" [ -s out/model.h5 ] ;;
nan-abort | nan-skip)
    "$MKDATA" bad huge-x data.h5 >/dev/null || die "mkdata failed"
    policy=${MODE#nan-}
    cat >cfg.yaml <<CFG
model:
  layers:
    - {type: dense, units: 4}
    - {type: dense, units: 1}
loss: mse
optimizer: {name: sgd, lr: 0.01}
data: {train: $WORK/data.h5, normalize_x: false, normalize_y: false}
training: {epochs: 3, batch_size: 4, seed: 1, on_nonfinite: $policy}
output: {dir: $WORK/out}
CFG
    E2E_TIMEOUT=60 mpi 2 "$DPTRAIN" train cfg.yaml >run.log 2>&1
    rc=$?
    cat run.log | grep -v '^epoch'
    if [ "$policy" = abort ]; then
        check "abort: non-zero exit ($rc)" [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
        check "abort: message names step, epoch and layer" \
            grep -qE 'non-finite .* at step [0-9]+ \(epoch [0-9]+\).*layer dense_[0-9]' run.log
        check "abort: no model written" [ ! -e out/model.h5 ]
        check "abort: no process left behind" [ -z "$(leftover_procs "$WORK/cfg.yaml")" ]
    else
        check "skip: the run finished ($rc)" [ "$rc" -eq 0 ]
        check "skip: the bad steps were skipped" grep -q 'skipped: non-finite' run.log
        check "skip: model written" [ -s out/model.h5 ]
    fi ;;
refuse)
    "$MKDATA" friedman1 data.h5 --n 150 --features 5 >/dev/null || die "mkdata failed"
    dense_config cfg.yaml "$WORK/data.h5" 1
    run_logged full.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/out" ||
        die "training failed"
    E2E_TIMEOUT=60 mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/out" \
        --set model.layers.0.units=20 --resume latest >other.log 2>&1
    rc=$?
    cat other.log | grep error | head -n 2
    check "a different model is refused (exit $rc)" [ "$rc" -ne 0 ]
    check "the message names the difference" grep -q 'model.layers.0.units' other.log
    ck=$(ls out/checkpoints/ckpt-*.h5 | tail -n 1)
    head -c 2000 "$ck" >"$WORK/truncated.h5"
    E2E_TIMEOUT=60 mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/out" \
        --resume "$WORK/truncated.h5" >trunc.log 2>&1
    rc=$?
    cat trunc.log | grep error | head -n 2
    check "a truncated checkpoint is refused (exit $rc)" [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
    check "the message names the file" grep -q 'truncated.h5' trunc.log ;;
*)
    die "unknown mode '$MODE'" ;;
esac
finish
