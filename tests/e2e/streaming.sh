#!/bin/bash
# data.mode streaming (an I/O thread per rank, block-permuted order through a shuffle buffer)
# and the per-epoch time breakdown / Chrome trace.  MODE:
#   equiv     1 rank, no shuffling: streaming reads the rows in file order, so the run ends with
#             the parameters of the in-memory run (dense with a validation split; LSTM with
#             variable lengths), read in blocks that do not divide the rows
#   ranks     2 ranks, shuffled: every epoch trains on all rows (samples per epoch), the run
#             learns, and a second run is bit-identical
#   resume    2 ranks: a run resumed from a mid-epoch checkpoint is bit-identical to the
#             uninterrupted one; resuming it mid-epoch on 1 rank is refused with the reason
#   bad       a NaN in the file stops a streamed run with the file, dataset and row
#   overlap   parallel.overlap true (one layer per bucket) and false end with the same
#             parameters at 2 and 3 ranks, in memory and streamed, with dropout
#   trace     output.trace: one valid Chrome trace per rank with the step's phases, the I/O
#             thread's reads and the allreduces; metrics.jsonl has the time breakdown
# Usage: streaming.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT MODE
. "$(dirname "$0")/lib.sh"
MODE=$1
e2e_init "streaming_$MODE"

dense_config() { # dense_config FILE DATA EPOCHS
    cat >"$1" <<CFG
model:
  layers:
    - {type: dense, units: 24, activation: relu}
    - {type: dropout, rate: 0.1}
    - {type: dense, units: 1}
loss: mse
metrics: [mae]
optimizer: {name: adam, lr: 0.01}
data: {train: $2, validation_split: 0.2, block_rows: 7, shuffle_buffer: 20}
training: {epochs: $3, batch_size: 16, seed: 3}
checkpoint: {every_steps: 5, keep: 100}
CFG
}

lstm_config() { # lstm_config FILE DATA
    cat >"$1" <<CFG
model:
  layers:
    - {type: lstm, units: 8}
    - {type: dense, units: 3}
loss: softmax_ce
metrics: [accuracy]
optimizer: {name: sgd, lr: 0.3}
data: {train: $2, block_rows: 9}
training: {epochs: 2, batch_size: 16, seed: 3, shuffle: false}
CFG
}

same() { # same A B: /params bit-identical
    "$H5CMP" "$1" "$2" --rtol 0 --atol 1e-30 --group /params >cmp.log 2>&1
    local rc=$?
    tail -n 1 cmp.log
    return $rc
}

case $MODE in
equiv)
    "$MKDATA" friedman1 data.h5 --n 150 --features 5 >/dev/null || die "mkdata failed"
    dense_config cfg.yaml "$WORK/data.h5" 3
    for mode in in_memory streaming; do
        run_logged "$mode.log" "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/$mode" \
            --set training.shuffle=false --set "data.mode=$mode" || die "$mode run failed"
    done
    check "the run says it streams" grep -q 'input: streaming, blocks of 7 rows' streaming.log
    # Statistics come from one streamed pass (pairwise means) instead of two passes over the
    # shard: equal up to double rounding, so the float32 parameters agree to float32 noise.
    "$H5CMP" in_memory/model.h5 streaming/model.h5 --rtol 1e-5 --atol 1e-6 >cmp.log 2>&1
    rc=$?
    tail -n 1 cmp.log
    check "dense: streamed run ends with the in-memory run's parameters" [ "$rc" -eq 0 ]
    "$MKDATA" seqclass seq.h5 --n 100 --variable-lengths >/dev/null || die "mkdata failed"
    lstm_config seq.yaml "$WORK/seq.h5"
    for mode in in_memory streaming; do
        run_logged "seq_$mode.log" "$DPTRAIN" train seq.yaml --set "output.dir=$WORK/seq_$mode" \
            --set "data.mode=$mode" || die "sequence $mode run failed"
    done
    "$H5CMP" seq_in_memory/model.h5 seq_streaming/model.h5 --rtol 1e-5 --atol 1e-6 >cmp.log 2>&1
    rc=$?
    tail -n 1 cmp.log
    check "LSTM, variable lengths: the same" [ "$rc" -eq 0 ] ;;
ranks)
    "$MKDATA" friedman1 data.h5 --n 600 --features 5 >/dev/null || die "mkdata failed"
    dense_config cfg.yaml "$WORK/data.h5" 6
    for run in a b; do
        run_logged "$run.log" mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/$run" \
            --set data.mode=streaming || die "streamed run $run failed"
    done
    # 480 training rows per epoch: samples/s times the epoch's time is the row count.
    check "every epoch trains on all 480 rows" awk -F'[:,] *' '{
        for (i = 1; i < NF; i++) { if ($i == "\"samples_per_s\"") s = $(i + 1)
                                   if ($i == "\"time_s\"") t = $(i + 1) }
        n++; if (s * t < 479.5 || s * t > 480.5) bad = 1 } END { exit bad || n != 6 }' \
        a/metrics.jsonl
    first=$(sed -n 's/^epoch 1\/6.* val_loss \([0-9.e+-]*\).*/\1/p' a.log)
    last=$(sed -n 's/^epoch 6\/6.* val_loss \([0-9.e+-]*\).*/\1/p' a.log)
    echo "val_loss epoch 1: $first, epoch 6: $last"
    check "the streamed run learns (val_loss falls by a third)" \
        awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a * 0.67) }'
    check "a second run is bit-identical" same a/model.h5 b/model.h5 ;;
resume)
    "$MKDATA" friedman1 data.h5 --n 150 --features 5 >/dev/null || die "mkdata failed"
    dense_config cfg.yaml "$WORK/data.h5" 3
    run_logged full.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/full" \
        --set data.mode=streaming || die "uninterrupted run failed"
    ck=$WORK/full/checkpoints/ckpt-0000000010.h5 # mid-epoch: an epoch has 8 steps
    [ -s "$ck" ] || die "no checkpoint at step 10"
    run_logged resumed.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/resumed" \
        --set data.mode=streaming --resume "$ck" || die "resumed run failed"
    check "resumed streamed run ends bit-identical to the uninterrupted one" \
        same full/model.h5 resumed/model.h5
    E2E_TIMEOUT=60 mpi 1 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/np1" \
        --set data.mode=streaming --resume "$ck" >np1.log 2>&1
    rc=$?
    grep error np1.log | head -n 1
    check "mid-epoch resume on another rank count is refused (exit $rc)" [ "$rc" -eq 1 ]
    check "the message says why" grep -q 'streaming orders rows per rank, so resume on 2' np1.log ;;
bad)
    "$MKDATA" bad nan-x data.h5 >/dev/null || die "mkdata failed"
    cat >cfg.yaml <<CFG
model:
  layers:
    - {type: dense, units: 2}
loss: softmax_ce
data: {train: $WORK/data.h5, mode: streaming, normalize_x: false, block_rows: 2}
training: {epochs: 2, batch_size: 4}
output: {dir: $WORK/out}
CFG
    E2E_TIMEOUT=60 mpi 2 "$DPTRAIN" train cfg.yaml >run.log 2>&1
    rc=$?
    grep error run.log | head -n 2
    check "exit code 1 ($rc)" [ "$rc" -eq 1 ]
    check "the message names file, dataset, row and value" \
        grep -qE "data.h5: X row [0-9]+, column [0-9]+: NaN" run.log
    check "no model written" [ ! -e out/model.h5 ] ;;
overlap)
    "$MKDATA" friedman1 data.h5 --n 300 --features 5 >/dev/null || die "mkdata failed"
    dense_config cfg.yaml "$WORK/data.h5" 3
    for np in 2 3; do
        for mode in in_memory streaming; do
            for ov in true false; do
                run_logged "$np-$mode-$ov.log" mpi "$np" "$DPTRAIN" train cfg.yaml \
                    --set "output.dir=$WORK/$np-$mode-$ov" --set "data.mode=$mode" \
                    --set "parallel.overlap=$ov" --set parallel.bucket_mb=0.0001 ||
                    die "$np ranks, $mode, overlap $ov failed"
            done
            check "$np ranks, $mode: the overlapped run says so" \
                grep -q 'allreduce: overlapped with backward, 2 buckets' "$np-$mode-true.log"
            # Buckets change nothing in the sums' order at 2 ranks (a + b); at 3 Open MPI may
            # pick another reduction order per message size: float32 noise after 57 Adam steps.
            "$H5CMP" "$np-$mode-true/model.h5" "$np-$mode-false/model.h5" --rtol 1e-5 \
                --atol 1e-6 --group /params >cmp.log 2>&1
            rc=$?
            tail -n 1 cmp.log
            check "$np ranks, $mode: overlap on and off end with the same parameters" [ "$rc" -eq 0 ]
        done
    done ;;
trace)
    "$MKDATA" friedman1 data.h5 --n 200 --features 5 >/dev/null || die "mkdata failed"
    dense_config cfg.yaml "$WORK/data.h5" 2
    run_logged run.log mpi 2 "$DPTRAIN" train cfg.yaml --set "output.dir=$WORK/out" \
        --set data.mode=streaming --set output.trace=true --set parallel.overlap=true \
        --set parallel.bucket_mb=0.001 ||
        die "traced run failed"
    check "the epoch line shows the breakdown" \
        grep -qE '^epoch 2/2 .*\(compute [0-9.]+, comm [0-9.]+, data wait [0-9.]+\)' run.log
    check "metrics.jsonl logs it" grep -q '"compute_s".*"comm_exposed_s".*"data_wait_s"' \
        out/metrics.jsonl
    for r in 0 1; do
        f=out/trace-rank$r.json
        check "rank $r: trace file written" [ -s "$f" ]
        if command -v python3 >/dev/null; then
            check "rank $r: valid JSON with the phases of each thread" python3 - "$f" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
names = {(e["tid"], e["name"]) for e in ev if e["ph"] == "X"}
need = {(0, "forward"), (0, "backward"), (0, "update"), (0, "data_wait"), (0, "comm_wait"),
        (1, "allreduce"), (2, "read")}
missing = need - names
steps = {e["args"]["step"] for e in ev if e["ph"] == "X" and e["name"] == "forward"}
print("events:", len(ev), "steps:", len(steps), "missing:", sorted(missing))
sys.exit(1 if missing or len(steps) != 20 else 0)
PY
        fi
    done
    check "no temporary trace file left" [ -z "$(ls out | grep tmp)" ] ;;
*) die "unknown mode $MODE" ;;
esac
finish
