#!/bin/bash
# Bad input under mpirun -n 2: dptrain must fail fast with a non-zero exit, a message that names
# the file and the dataset or key, and no process left behind.  One ctest test per CASE.
# Usage: bad_input.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT CASE
. "$(dirname "$0")/lib.sh"
CASE=$1
e2e_init "bad_$CASE"

# A small valid classifier setup (2 features, 2 classes); each case breaks one thing.
write_config() { # write_config FILE [extra YAML lines for the top level]
    cat >"$1" <<EOF
model:
  layers:
    - {type: ${LAYER_TYPE:-dense}, units: 4, activation: ${ACTIVATION:-tanh}}
    - {type: dense, units: 2}
loss: softmax_ce
metrics: [accuracy]
optimizer: {name: adam, lr: ${LR:-0.01}}
data:
  train: ${DATA:-$WORK/good.h5}
  normalize_x: false
training:
  epochs: ${EPOCHS:-2}
  batch_size: 4
  seed: 1
output:
  dir: $WORK/out
EOF
    [ $# -gt 1 ] && printf '%s\n' "$2" >>"$1"
    return 0
}

"$MKDATA" classify "$WORK/good.h5" --n 16 --features 2 --classes 2 >/dev/null ||
    die "dpt_mkdata classify failed"
CFG=$WORK/cfg.yaml
SETS=()       # --set arguments
EXPECT=()     # fixed strings the error output must contain
EXPECT_RE=    # extended regex (case-insensitive) the error output must match, if set
CFG_ARG=$CFG  # the config path given to dptrain

bad_data() { # bad_data KIND: a broken file from dpt_mkdata bad
    "$MKDATA" bad "$1" "$WORK/bad-$1.h5" >/dev/null || die "dpt_mkdata bad $1 failed"
    DATA=$WORK/bad-$1.h5
}

case $CASE in
missing_data_file)
    DATA=$WORK/no-such-file.h5
    EXPECT=(no-such-file.h5) ;;
missing_dataset)
    SETS=(--set data.x=Nope)
    EXPECT=(good.h5 Nope) ;;
rows_mismatch)
    bad_data rows-mismatch
    EXPECT=(bad-rows-mismatch.h5)
    EXPECT_RE='rows|10.*9|9.*10' ;;
x_4d)
    bad_data x-4d
    EXPECT=(bad-x-4d.h5 X)
    EXPECT_RE='4-d|rank|dimension|dims|3-d|shape' ;;
int_x_into_dense)
    # integer X (token ids) given to a model whose first layer reads floats
    bad_data x-int
    EXPECT=(bad-x-int.h5 X int32)
    EXPECT_RE='token ids' ;;
seq_into_dense)
    # sequence data (N, T, F) with one label per sample, given to a dense-only model
    "$MKDATA" seqclass "$WORK/seq.h5" --n 16 --features 2 --classes 2 >/dev/null ||
        die "dpt_mkdata seqclass failed"
    DATA=$WORK/seq.h5
    EXPECT=(seq.h5 X)
    EXPECT_RE='return_sequences|recurrent' ;;
flat_into_rnn)
    # the reverse: a recurrent model given plain vectors (N, F)
    LAYER_TYPE=rnn
    EXPECT=(good.h5 X rnn_0)
    EXPECT_RE='sequence|\(N, T, F\)' ;;
y_steps_mismatch)
    bad_data y-steps
    LAYER_TYPE=rnn
    EXPECT=(bad-y-steps.h5)
    EXPECT_RE='steps' ;;
lengths_out_of_range)
    bad_data lengths-range
    LAYER_TYPE=rnn
    EXPECT=(bad-lengths-range.h5 lengths)
    EXPECT_RE='outside|range' ;;
nan_x)
    bad_data nan-x
    EXPECT=(bad-nan-x.h5 X)
    EXPECT_RE='nan|finite' ;;
inf_x)
    bad_data inf-x
    EXPECT=(bad-inf-x.h5 X)
    EXPECT_RE='inf|finite' ;;
fewer_rows_than_ranks)
    "$MKDATA" classify "$WORK/one-row.h5" --n 1 --features 2 --classes 2 >/dev/null ||
        die "dpt_mkdata classify --n 1 failed"
    DATA=$WORK/one-row.h5
    EXPECT=(one-row.h5)
    EXPECT_RE='rank|rows' ;;
unknown_config_key)
    EXTRA='extra_key: 1'
    EXPECT=(cfg.yaml extra_key) ;;
wrong_type)
    EPOCHS=abc
    EXPECT=(cfg.yaml training.epochs abc) ;;
negative_lr)
    LR=-0.1
    EXPECT=(cfg.yaml optimizer.lr) ;;
unknown_layer_type)
    LAYER_TYPE=densse
    EXPECT=(cfg.yaml densse) ;;
unknown_activation)
    ACTIVATION=relux
    EXPECT=(cfg.yaml relux) ;;
missing_config_file)
    CFG_ARG=$WORK/no-such-config.yaml
    EXPECT=(no-such-config.yaml) ;;
label_out_of_range)
    bad_data label-range
    EXPECT=(bad-label-range.h5)
    EXPECT_RE='label|class|range' ;;
bad_set_syntax)
    SETS=(--set training.epochs)
    EXPECT=(training.epochs) ;;
conv_on_flat_x | kernel_too_large | pool_leaves_nothing | reshape_mismatch)
    # image layers that cannot take their input: refused before training, naming the layer,
    # its config line and the shapes
    "$MKDATA" shapes "$WORK/img.h5" --n 16 --size 6 >/dev/null || die "dpt_mkdata shapes failed"
    case $CASE in
    conv_on_flat_x) L="{type: conv2d, filters: 4, kernel_size: 3}"; IMG=$WORK/good.h5
        EXPECT=("layer 0 (conv2d, line 3)" "conv2d needs (H, W, C) input, got (2) float32") ;;
    kernel_too_large) L="{type: conv2d, filters: 4, kernel_size: 7}"; IMG=$WORK/img.h5
        EXPECT=("layer 0 (conv2d, line 3)" "kernel 7x7 is larger than the input 6x6 padded by 0x0") ;;
    pool_leaves_nothing) L="{type: max_pool2d, pool_size: 8}"; IMG=$WORK/img.h5
        EXPECT=("layer 0 (max_pool2d, line 3)" "leaves nothing" "6x6") ;;
    reshape_mismatch) L="{type: reshape, target_shape: [5, 5]}"; IMG=$WORK/img.h5
        EXPECT=("layer 0 (reshape, line 3)" "(6, 6, 1) float32 (36 values) into [5, 5] (25 values)") ;;
    esac
    CFG_ARG=$WORK/img.yaml
    printf 'model:\n  layers:\n    - %s\n    - {type: flatten}\n    - {type: dense, units: 3}\nloss: softmax_ce\ndata: {train: %s}\noutput: {dir: %s}\n' \
        "$L" "$IMG" "$WORK/out" >"$CFG_ARG" ;;
graph_cycle | unknown_input_name | state_wrong_size | missing_input_dataset | \
    merge_shape_mismatch | vocab_larger_than_embedding)
    # graphs that cannot be built or fed: refused before training, naming the layer, its
    # config line (or the dataset) and what was expected
    "$MKDATA" seqclass "$WORK/seq.h5" --n 16 --features 2 --classes 2 >/dev/null ||
        die "dpt_mkdata seqclass failed"
    INPUTS=
    case $CASE in
    graph_cycle)
        L=$'    - {type: dense, units: 4, name: a, inputs: b}\n    - {type: dense, units: 4, name: b, inputs: a}\n    - {type: dense, units: 2, inputs: b}'
        G=$WORK/good.h5
        EXPECT=("layer 0 (dense, line 3)" "the layers' inputs form a cycle: a <- b <- a") ;;
    unknown_input_name)
        L=$'    - {type: dense, units: 4, name: a}\n    - {type: dense, units: 2, inputs: [a, nope]}'
        G=$WORK/good.h5
        EXPECT=("layer 1 (dense, line 4)" "no layer or model input is named 'nope'") ;;
    state_wrong_size)
        L=$'    - {type: lstm, units: 4, name: enc}\n    - {type: gru, units: 4, inputs: input, initial_state: enc}\n    - {type: dense, units: 2}'
        G=$WORK/seq.h5
        EXPECT=("layer 1 (gru, line 4)" "'enc' gives a state of 8 values per sample, this gru needs 4") ;;
    merge_shape_mismatch)
        L=$'    - {type: dense, units: 4, name: a}\n    - {type: dense, units: 3, name: b, inputs: input}\n    - {type: add, inputs: [a, b]}\n    - {type: dense, units: 2}'
        G=$WORK/good.h5
        EXPECT=("layer 2 (add, line 5)" "add needs inputs of one shape, got (4) and (3)") ;;
    vocab_larger_than_embedding)
        "$MKDATA" addition "$WORK/add.h5" "$WORK/add-test.h5" --n 40 --test-n 10 >/dev/null ||
            die "dpt_mkdata addition failed"
        INPUTS=$'  inputs: [source]\n'
        L=$'    - {type: embedding, vocab_size: 10, dim: 4}\n    - {type: lstm, units: 4}\n    - {type: dense, units: 16}'
        G=$WORK/add.h5
        EXPECT=("embedding 'embedding_0' (line 4) has vocab_size 10" "add.h5 has 16 tokens" "set vocab_size: 16") ;;
    missing_input_dataset)
        INPUTS=$'  inputs: [source, target_in]\n'
        L=$'    - {type: lstm, units: 4, inputs: source}\n    - {type: dense, units: 2, inputs: [lstm_0, target_in]}'
        G=$WORK/seq.h5
        EXPECT=(seq.h5 "no dataset 'source' (model.inputs)") ;;
    esac
    CFG_ARG=$WORK/graph.yaml
    printf 'model:\n%s  layers:\n%s\nloss: softmax_ce\ndata: {train: %s, normalize_x: false}\noutput: {dir: %s}\n' \
        "$INPUTS" "$L" "$G" "$WORK/out" >"$CFG_ARG" ;;
value_metric_on_labels) # mse of class labels: was an assertion failure, must be a clean error
    SETS=(--set 'metrics=[accuracy,mse]')
    EXPECT=(good.h5 "metric 'mse' needs float targets") ;;
*)
    die "unknown case '$CASE'" ;;
esac
write_config "$CFG" "${EXTRA:-}"

E2E_TIMEOUT=60 mpi 2 "$DPTRAIN" train "$CFG_ARG" "${SETS[@]}" >"$WORK/out.log" 2>&1
rc=$?
echo "--- dptrain train under mpirun -n 2 exited with $rc; output:"
cat "$WORK/out.log"
echo "---"
check "exit status is non-zero" [ "$rc" -ne 0 ]
check "did not hang (timeout 60 s)" [ "$rc" -ne 124 ]
check "message has 'dptrain: error:'" grep -q 'dptrain: error:' "$WORK/out.log"
for s in "${EXPECT[@]}"; do
    check "message names '$s'" grep -qF -- "$s" "$WORK/out.log"
done
if [ -n "$EXPECT_RE" ]; then
    check "message matches /$EXPECT_RE/i" grep -qiE -- "$EXPECT_RE" "$WORK/out.log"
fi
left=$(leftover_procs "$WORK/")
check "no process left behind" [ -z "$left" ]
if [ -n "$left" ]; then
    ps -o pid,args -p "$(echo "$left" | paste -sd,)" >&2
    for p in $left; do kill -KILL "$p" 2>/dev/null; done
fi
check "no model written" [ ! -e "$WORK/out/model.h5" ]
finish
