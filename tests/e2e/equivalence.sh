#!/bin/bash
# Distributed equivalence: the same run on 1, 2, 3 and 4 ranks gives the same parameters (to
# float rounding), because gradients are summed over the ranks and divided by the global count.
# 203 rows and a batch of 32 make the batches split unevenly and the last batch short.
# MODE dropout adds a dropout layer: its masks are keyed by (seed, step, layer, global sample
# id), not drawn per rank, so the equality must hold with dropout on too.
# MODE batchnorm adds a batch_norm layer: its statistics are the global batch's (reduced across
# ranks), and its moving averages (compared with the parameters: they sit in /params) too.
# MODE graph trains an encoder-decoder graph (token inputs with lengths, embeddings, a final
# state passed on, attention, concatenate) instead.
# Usage: equivalence.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT [plain|dropout|batchnorm|graph]
. "$(dirname "$0")/lib.sh"
MODE=${1:-plain}
e2e_init "equivalence_$MODE"
DROPOUT=
[ "$MODE" = dropout ] && DROPOUT="    - {type: dropout, rate: 0.3}"
[ "$MODE" = batchnorm ] && DROPOUT="    - {type: batch_norm, momentum: 0.9}"

if [ "$MODE" = graph ]; then
    # A graph with two token inputs and their lengths, embeddings, state passing, attention
    # over the encoder's padded steps and a concatenation (fan-out: the decoder's states feed
    # both the attention and the concatenation; the encoder's, the attention and the state).
    "$MKDATA" reverse "$WORK/data.h5" "$WORK/unused.h5" --n 203 --test-n 10 --min-len 3 \
        --max-len 8 --tokens 6 --seed 5 >/dev/null || die "dpt_mkdata reverse failed"
    cat >cfg.yaml <<CFG
model:
  inputs: [source, target_in]
  layers:
    - {type: embedding, name: src_emb, inputs: source, vocab_size: 10, dim: 6, padding_id: 0}
    - {type: gru, name: encoder, units: 8, return_sequences: true}
    - {type: embedding, name: tgt_emb, inputs: target_in, vocab_size: 10, dim: 6, padding_id: 0}
    - {type: gru, name: decoder, units: 8, return_sequences: true, initial_state: encoder}
    - {type: attention, name: attn, inputs: [decoder, encoder], score: general}
    - {type: concatenate, inputs: [attn, decoder]}
    - {type: dense, units: 10}
loss: softmax_ce
metrics: [accuracy]
optimizer: {name: sgd, lr: 0.05}
data:
  train: $WORK/data.h5
  normalize_x: false
training:
  epochs: 3
  batch_size: 32
  seed: 11
  shuffle: true
CFG
else
"$MKDATA" friedman1 "$WORK/data.h5" --n 203 --features 7 --seed 5 >/dev/null ||
    die "dpt_mkdata friedman1 failed"
cat >cfg.yaml <<CFG
model:
  layers:
    - {type: dense, units: 24, activation: relu}
$DROPOUT
    - {type: dense, units: 16, activation: tanh}
    - {type: dense, units: 1}
loss: mse
metrics: [mae]
optimizer: {name: sgd, lr: 0.05}
data:
  train: $WORK/data.h5
  normalize_x: true
  normalize_y: true
training:
  epochs: 3
  batch_size: 32
  seed: 11
  shuffle: true
CFG
fi
for np in 1 2 3 4; do
    run_logged "train$np.log" mpi "$np" "$DPTRAIN" train "$WORK/cfg.yaml" \
        --set "output.dir=$WORK/np$np" || die "training on $np ranks failed"
    check "np=$np: model written" [ -s "np$np/model.h5" ]
done
# Summing the gradients in another order changes them by float rounding, and parameters that
# stay near zero (biases start at 0) show that as a large relative difference: 1e-8 on 1e-4.
# --atol 1e-2 compares values below 0.01 on an absolute scale (tolerance 1e-7); a real error
# (a wrong divisor or a lost row in an uneven batch) moves parameters by about lr * gradient,
# ~1e-3, four orders of magnitude more.
for np in 2 3 4; do
    "$H5CMP" "np1/model.h5" "np$np/model.h5" --rtol 1e-5 --atol 1e-2 --group /params \
        >"cmp$np.log" 2>&1
    rc=$?
    cat "cmp$np.log"
    check "np=$np parameters equal np=1 within rtol 1e-5 (dpt_h5cmp exit $rc)" [ "$rc" -eq 0 ]
done
# Negative control: the comparison must see a real change (a batch of 31 instead of 32).
run_logged train_b31.log mpi 1 "$DPTRAIN" train "$WORK/cfg.yaml" --set "output.dir=$WORK/b31" \
    --set training.batch_size=31 || die "training with batch 31 failed"
"$H5CMP" np1/model.h5 b31/model.h5 --rtol 1e-5 --atol 1e-2 >cmp_b31.log 2>&1
rc=$?
tail -n 1 cmp_b31.log
check "batch 31 vs 32 is reported as different (dpt_h5cmp exit $rc)" [ "$rc" -eq 1 ]
# The per-epoch training loss must agree too (same samples, same updates).
for np in 2 3 4; do
    a=$(sed -n 's/.*"loss":\([^,}]*\).*/\1/p' np1/metrics.jsonl | tail -n 1)
    b=$(sed -n 's/.*"loss":\([^,}]*\).*/\1/p' "np$np/metrics.jsonl" | tail -n 1)
    check "np=$np last-epoch loss $b equals np=1 loss $a within 1e-4 relative" \
        awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-4 * (a < 0 ? -a : a) + 1e-12) }'
done
finish
