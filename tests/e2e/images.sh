#!/bin/bash
# Images and autoencoders through the data path (docs/data.md), with dense layers (they act on
# the last axis of (H, W, C)).  MODE:
#   image        X (N, H, W, C) float32 with image targets y (N, H, W, K): train in memory and
#                streamed, evaluate, predict writes (N, H, W, K); uint8 X trains to the same
#                bits as the float32 file holding np.float32(X) / np.float32(255)
#   autoencoder  data.target: input (no y dataset): 1 and 2 ranks end with the same parameters
#                (the equivalence tolerance), streamed too; predict writes reconstructions of
#                X's shape, --output-layer the codes of a named layer; the errors (output shape
#                not X's, an unknown layer)
#   augment      data.augment at 1 and 2 ranks ends with the same parameters (keyed by sample,
#                not by rank) and differently from no augmentation; validation is not augmented
#                (its last loss equals `evaluate` on the same rows); 2-D X is refused
# Usage: images.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT MODE
. "$(dirname "$0")/lib.sh"
MODE=$1
e2e_init "images_$MODE"
PY=/usr/bin/python3

# Data: img.h5 X (N, 6, 5, 2) float32 = u8 / 255, y (N, 6, 5, 3) float32; u8.h5 the same X as
# uint8; ae.h5 X only; flat.h5 X (N, 4) float32 and y (N, 1).
"$PY" - <<'PY' || die "writing the data files failed"
import h5py, numpy as np
rng = np.random.default_rng(4)
N = 67
u8 = rng.integers(0, 256, size=(N, 6, 5, 2), dtype=np.uint8)
xf = u8.astype(np.float32) / np.float32(255)
w = rng.standard_normal((2, 3)).astype(np.float32)
y = np.tanh(xf @ w).astype(np.float32)
with h5py.File("img.h5", "w") as f:
    f["X"] = xf
    f["y"] = y
with h5py.File("u8.h5", "w") as f:
    f["X"] = u8
    f["y"] = y
with h5py.File("ae.h5", "w") as f:
    f["X"] = xf
with h5py.File("flat.h5", "w") as f:
    f["X"] = rng.standard_normal((N, 4)).astype(np.float32)
    f["y"] = rng.standard_normal((N, 1)).astype(np.float32)
PY

# config FILE DATA LAST_UNITS EXTRA_DATA_KEYS
config() {
    cat >"$1" <<CFG
model:
  layers:
    - {type: dense, units: 8, activation: tanh, name: code}
    - {type: dense, units: $3, name: out}
loss: mse
metrics: [mae]
optimizer: {name: adam, lr: 0.01}
data: {train: $2$4}
training: {epochs: 3, batch_size: 16, seed: 9}
CFG
}

# shape_of FILE DATASET: the dataset's shape as "(a, b, ...)".
shape_of() {
    "$PY" -c 'import h5py, sys; print(tuple(h5py.File(sys.argv[1])[sys.argv[2]].shape))' "$1" "$2"
}

train() { # train NP NAME CONFIG [--set ...]: trains into run_NAME
    local np=$1 name=$2 cfg=$3
    shift 3
    run_logged "train_$name.log" mpi "$np" "$DPTRAIN" train "$cfg" --set "output.dir=$WORK/run_$name" "$@"
}

same_params() { # same_params A B RTOL ATOL DESC
    "$H5CMP" "run_$1/model.h5" "run_$2/model.h5" --rtol "$3" --atol "$4" --group /params >"cmp_$1_$2.log" 2>&1
    local rc=$?
    tail -n 1 "cmp_$1_$2.log"
    check "$5 (dpt_h5cmp exit $rc)" [ "$rc" -eq 0 ]
}

if [ "$MODE" = image ]; then
    config img.yaml "$WORK/img.h5" 3 ""
    train 1 mem img.yaml || die "training on image X failed"
    check "image X: the model is written" [ -s run_mem/model.h5 ]
    train 2 stream img.yaml --set data.mode=streaming --set data.block_rows=10 ||
        die "streamed training on image X failed"
    out=$(mpi 2 "$DPTRAIN" evaluate run_mem/model.h5 img.h5 2>&1)
    echo "$out"
    check "evaluate on image X: a finite loss" is_finite "$(num_field "$out" loss)"
    mpi 2 "$DPTRAIN" predict run_mem/model.h5 img.h5 pred.h5 >predict.log 2>&1 || cat predict.log
    check "predict writes (N, H, W, K)" [ "$(shape_of pred.h5 pred)" = "(67, 6, 5, 3)" ]
    # uint8 X is divided by 255 on load: the same bits as the float32 file, statistics included.
    config u8.yaml "$WORK/u8.h5" 3 ""
    train 1 u8 u8.yaml || die "training on uint8 X failed"
    same_params mem u8 0 1e-30 "uint8 X trains to the bits of float32 X / 255"
    train 2 u8_stream u8.yaml --set data.mode=streaming --set data.block_rows=10 ||
        die "streamed training on uint8 X failed"
    same_params stream u8_stream 0 1e-30 "streamed: uint8 X gives the bits of float32 X / 255"
fi

if [ "$MODE" = autoencoder ]; then
    config ae.yaml "$WORK/ae.h5" 2 ", target: input, normalize_x: false"
    train 1 np1 ae.yaml || die "autoencoder on 1 rank failed"
    train 2 np2 ae.yaml || die "autoencoder on 2 ranks failed"
    # The tolerance of equivalence.sh: summation order changes only float rounding.
    same_params np1 np2 1e-5 1e-2 "target: input: 2 ranks give the parameters of 1"
    train 1 s1 ae.yaml --set data.mode=streaming --set data.block_rows=10 ||
        die "streamed autoencoder on 1 rank failed"
    train 2 s2 ae.yaml --set data.mode=streaming --set data.block_rows=10 ||
        die "streamed autoencoder on 2 ranks failed"
    check "streamed, 2 ranks: a finite last loss" grep -q "epoch 3/3  loss [0-9]" train_s2.log
    out=$(mpi 2 "$DPTRAIN" evaluate run_np1/model.h5 ae.h5 2>&1)
    echo "$out"
    check "evaluate needs no y: a finite loss" is_finite "$(num_field "$out" loss)"
    mpi 2 "$DPTRAIN" predict run_np1/model.h5 ae.h5 rec.h5 >predict.log 2>&1 || cat predict.log
    check "predict writes reconstructions of X's shape" [ "$(shape_of rec.h5 pred)" = "(67, 6, 5, 2)" ]
    mpi 2 "$DPTRAIN" predict run_np1/model.h5 ae.h5 codes.h5 --output-layer code >codes.log 2>&1 ||
        cat codes.log
    check "--output-layer code writes (N, 6, 5, 8)" [ "$(shape_of codes.h5 pred)" = "(67, 6, 5, 8)" ]
    check "--output-layer says what it wrote" grep -q "outputs of layer code of 67 rows" codes.log
    mpi 1 "$DPTRAIN" predict run_np1/model.h5 ae.h5 x.h5 --output-layer nope >nope.log 2>&1
    rc=$?
    check "an unknown layer is an error (exit $rc)" [ "$rc" -ne 0 ]
    check "the error lists the layers" grep -q "has no layer 'nope'; its layers: code, activation_0, out" nope.log
    check "no file for an unknown layer" [ ! -e x.h5 ]
    # The codes are the first layer's outputs after its fused activation (tanh), in (-1, 1).
    check "codes are the layer's tanh outputs" "$PY" -c '
import h5py, numpy as np, sys
c = h5py.File("codes.h5")["pred"][...]
sys.exit(0 if np.all(np.abs(c) < 1) and np.std(c) > 0 else 1)'
    # With normalize_x the loss compares standardised X; predict writes X's units again.
    train 1 norm ae.yaml --set data.normalize_x=true || die "autoencoder with normalize_x failed"
    mpi 1 "$DPTRAIN" predict run_norm/model.h5 ae.h5 recn.h5 >predictn.log 2>&1 || cat predictn.log
    check "reconstructions come back in X's units (means within 0.1)" "$PY" -c '
import h5py, numpy as np, sys
x, p = h5py.File("ae.h5")["X"][...], h5py.File("recn.h5")["pred"][...]
sys.exit(0 if abs(x.mean() - p.mean()) < 0.1 else 1)'
    config bad.yaml "$WORK/ae.h5" 3 ", target: input"
    train 1 bad bad.yaml
    rc=$?
    check "an output shape other than X's is refused (exit $rc)" [ "$rc" -ne 0 ]
    check "the message names both shapes" grep -q "data.target: input needs the model's output shape to equal its input shape, but 'X' is (6, 5, 2) float32 per sample and the model outputs (6, 5, 3) float32" train_bad.log
fi

if [ "$MODE" = augment ]; then
    AUG=", augment: {flip_horizontal: true, translate: 2}"
    config aug.yaml "$WORK/img.h5" 3 "$AUG, validation_file: $WORK/img.h5"
    train 1 a1 aug.yaml || die "augmented training on 1 rank failed"
    train 2 a2 aug.yaml || die "augmented training on 2 ranks failed"
    same_params a1 a2 1e-5 1e-2 "augmentation: 2 ranks give the parameters of 1"
    train 2 a2s aug.yaml --set data.mode=streaming || die "streamed augmented training failed"
    config plain.yaml "$WORK/img.h5" 3 ", validation_file: $WORK/img.h5"
    train 1 plain plain.yaml || die "training without augmentation failed"
    "$H5CMP" run_a1/model.h5 run_plain/model.h5 --rtol 1e-5 --atol 1e-2 --group /params >cmp_aug.log 2>&1
    rc=$?
    check "augmentation changes the result (dpt_h5cmp exit $rc)" [ "$rc" -eq 1 ]
    # Validation runs on the rows as stored: its last loss is what evaluate reports.
    out=$(mpi 1 "$DPTRAIN" evaluate run_a1/model.h5 img.h5 2>&1)
    echo "$out"
    ev=$(num_field "$out" loss)
    val=$("$PY" -c 'import json, sys; print("%.6f" % [json.loads(l) for l in open(sys.argv[1])][-1]["val_loss"])' run_a1/metrics.jsonl)
    check "validation is not augmented (val_loss $val, evaluate $ev)" [ "$val" = "$ev" ]
    config flat.yaml "$WORK/flat.h5" 1 "$AUG"
    train 1 flat flat.yaml
    rc=$?
    check "augment on 2-D X is refused (exit $rc)" [ "$rc" -ne 0 ]
    check "the message names the key and the shape" grep -q "data.augment: needs images, X (N, H, W, C) float or uint8, but 'X' in $WORK/flat.h5 holds (4) float32 per row" train_flat.log
fi
finish
