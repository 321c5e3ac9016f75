#!/bin/bash
# An embedding layer end to end: int32 token ids in the data file with a vocabulary, pre-trained
# GloVe-style vectors for part of it (the report line), an embedding -> gru -> dense classifier
# that learns whether a sequence holds one token, the padding row still zero in the model file,
# 2 ranks matching 1, a resumed run that does not load the vectors again and ends with the same
# bits, a vectors file with the wrong dimension refused with its file, line and layer, and an id
# the table has no row for refused with its file, row and position.
# Usage: embedding.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT
. "$(dirname "$0")/lib.sh"
e2e_init embedding

/usr/bin/python3 - <<'PY' || die "writing the data failed"
import h5py, numpy as np
rng = np.random.default_rng(3)
N, T, V = 240, 8, 20
X = rng.integers(2, V, size=(N, T)).astype(np.int32)
with h5py.File("text.h5", "w") as f:
    f["X"] = X
    f["y"] = (X == 5).any(axis=1).astype(np.int32)
    toks = ["<pad>", "<unk>"] + ["w%d" % i for i in range(2, V)]
    f.create_dataset("vocab", data=np.array(toks, dtype=object), dtype=h5py.string_dtype())
with open("glove.txt", "w") as g:
    for i in range(2, 14):
        g.write("w%d %s\n" % (i, " ".join("%.3f" % v for v in rng.normal(size=4))))
    g.write("zebra 1 2 3 4\n")
X[17, 3] = V  # one id the table has no row for
with h5py.File("bad_ids.h5", "w") as f:
    f["X"] = X
    f["y"] = (X == 5).any(axis=1).astype(np.int32)
with open("glove_bad.txt", "w") as g:
    g.write("w2 1 2 3 4\nw3 1 2 3\n")
PY

cat >cfg.yaml <<'CFG'
model:
  layers:
    - {type: embedding, name: emb, vocab_size: 20, dim: 4, padding_id: 0, weights: glove.txt}
    - {type: gru, units: 8}
    - {type: dense, units: 2}
loss: softmax_ce
metrics: [accuracy]
optimizer: {name: adam, lr: 0.02}
data:
  train: text.h5
  validation_split: 0.25
training:
  epochs: 20
  batch_size: 16
  seed: 2
checkpoint: {every_steps: 60, keep: 100}
CFG

run_logged np1.log mpi 1 "$DPTRAIN" train cfg.yaml --set output.dir=np1 || die "training failed"
check "the vectors of 12 of the 20 tokens are loaded" \
    grep -q "^embedding 'emb': 12 of 20 tokens from glove.txt$" np1.log
check "the classifier learns (val_accuracy >= 0.95 in the last epoch)" \
    awk '/^epoch 20\/20/ { for (i = 1; i < NF; i++) if ($i == "val_accuracy") ok = $(i + 1) >= 0.95 }
         END { exit !ok }' np1.log
check "the padding row is still zero" \
    grep -q "(0,0): 0, 0, 0, 0," <(h5dump -d /params/emb/W np1/model.h5)

run_logged np2.log mpi 2 "$DPTRAIN" train cfg.yaml --set output.dir=np2 || die "2 ranks failed"
# Summation order across ranks changes the parameters by float rounding, Adam amplifies it a
# little over 240 steps (seen: 1e-5 relative on values of 1e-2); a lost sample or a wrong
# scatter-add moves them by far more.
check "2 ranks end with the parameters of 1" \
    "$H5CMP" np1/model.h5 np2/model.h5 --rtol 1e-3 --atol 1e-2

run_logged resume.log mpi 1 "$DPTRAIN" train cfg.yaml --set output.dir=resumed \
    --resume np1/checkpoints/ckpt-0000000120.h5 || die "resume failed"
check "a resumed run does not load the vectors again" \
    bash -c "! grep -q \"^embedding 'emb'\" resume.log"
check "a resumed run ends with the same bits" \
    "$H5CMP" np1/model.h5 resumed/model.h5 --rtol 0 --atol 0

mpi 1 "$DPTRAIN" train cfg.yaml --set output.dir=bad \
    --set model.layers.0.weights=glove_bad.txt >bad.log 2>&1
check "a vectors file with the wrong dimension is refused (exit 1)" test $? -eq 1
check "... naming the file, line and layer" \
    grep -q "glove_bad.txt:2: embedding 'emb': expected a token and dim = 4 numbers, found 4 fields" \
    bad.log
# An id >= vocab_size is refused with the data, in memory and streamed, and by evaluate.
want="bad_ids.h5: X row 17, position 3: token id 20, expected < 20 (vocab_size of embedding 'emb')"
for mode in in_memory streaming; do
    mpi 2 "$DPTRAIN" train cfg.yaml --set output.dir=bad_$mode --set data.train=bad_ids.h5 \
        --set data.mode=$mode --set model.layers.0.weights= >bad_$mode.log 2>&1
    check "an id outside the vocabulary is refused ($mode, exit 1)" test $? -eq 1
    check "... naming the file, row, position and layer ($mode)" grep -qF "$want" bad_$mode.log
done
mpi 1 "$DPTRAIN" evaluate np1/model.h5 bad_ids.h5 >bad_eval.log 2>&1
check "evaluate refuses it too" grep -qF "$want" bad_eval.log
finish
