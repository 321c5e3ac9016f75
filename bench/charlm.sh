#!/bin/bash
# configs/fortunes-char-lm.yaml against the same model in PyTorch (bench/charlm_torch.py): imports
# the fortunes (if data/fortunes.h5 is missing), trains dptrain, evaluates its held-out
# bits_per_token with `dptrain evaluate`, trains PyTorch with the same settings on the same rows,
# prints both bits per character, their ratio and whether dptrain is within 2 %, and one sample
# of generated text.  Run from the source tree:
#   bench/charlm.sh BUILD_DIR [--epochs N] [--rows N] [--layout RANKSxTHREADS]
# --epochs: default the config's; --rows: train both on the first N training windows only (a
# quick check; the held-out file is always whole); --layout: dptrain's ranks x threads per rank
# (default 1x2); PyTorch gets ranks x threads threads.  Needs Debian's python3-torch and
# python3-h5py and the package fortunes.  Docs: docs/text.md.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1/dptrain" ]; then
    echo "usage: $0 BUILD_DIR [--epochs N] [--rows N] [--layout RANKSxTHREADS]" \
        "(BUILD_DIR/dptrain must exist)" >&2
    exit 2
fi
build=$1
shift
config=configs/fortunes-char-lm.yaml
epochs="" rows=0 layout=1x2
while [ $# -gt 0 ]; do
    case "$1" in
        --epochs) epochs=$2 ;;
        --rows) rows=$2 ;;
        --layout) layout=$2 ;;
        *) echo "$0: unknown argument '$1'" >&2 && exit 2 ;;
    esac
    shift 2
done
if [ -z "$epochs" ]; then
    epochs=$(sed -n 's/^ *epochs: *\([0-9]*\).*/\1/p' "$config")
fi
ranks=${layout%x*} threads=${layout#*x}
# The model's settings, read from the config so both sides train the same model.
read -r dim units lr batch seed < <(/usr/bin/python3 - "$config" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
def one(pat):
    return re.search(pat, t).group(1)
print(one(r"type: embedding.*?dim: (\d+)"), one(r"type: lstm, units: (\d+)"),
      one(r"lr: ([0-9.e-]+)"), one(r"batch_size: (\d+)"), one(r"seed: (\d+)"))
EOF
)

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS BLIS_NUM_THREADS
mkdir -p data runs
if [ ! -f data/fortunes.h5 ] || [ ! -f data/fortunes-test.h5 ]; then
    # shellcheck disable=SC2046  # one argument per file on purpose
    "$build/dptrain" import text $(find /usr/share/games/fortunes -maxdepth 1 -type f \
        ! -name '*.dat' ! -name '*.u8' | sort) data/fortunes.h5 --level char --seq-len 100 \
        --documents percent --holdout 0.1 --holdout-out data/fortunes-test.h5 --seed 1
fi
train=data/fortunes.h5
if [ "$rows" -gt 0 ]; then
    # The first N windows with the vocabulary (and every other dataset) as they are.
    train=data/fortunes-rows$rows.h5
    /usr/bin/python3 - data/fortunes.h5 "$train" "$rows" <<'EOF'
import sys, h5py
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
    for k, v in f.attrs.items():
        g.attrs[k] = v
    for name in f:
        if name in ("X", "y"):
            d = g.create_dataset(name, data=f[name][:n])
            for k, v in f[name].attrs.items():
                d.attrs[k] = v
        else:
            f.copy(name, g)
EOF
fi

out=runs/charlm-bench
launch=()
if [ "$ranks" -gt 1 ]; then launch=(mpirun -n "$ranks"); fi
t0=$(date +%s)
"${launch[@]}" "$build/dptrain" train "$config" --set training.epochs="$epochs" \
    --set training.threads="$threads" --set data.train="$train" --set output.dir="$out" >&2
t1=$(date +%s)
eval_out=$("$build/dptrain" evaluate "$out/model.h5" data/fortunes-test.h5)
echo "$eval_out" >&2
dpt_bpc=$(echo "$eval_out" | sed -n 's/.*bits_per_token[ =:]*\([0-9.]*\).*/\1/p' | head -1)

torch_out=$(/usr/bin/python3 bench/charlm_torch.py "$train" data/fortunes-test.h5 --dim "$dim" \
    --units "$units" --lr "$lr" --batch "$batch" --epochs "$epochs" --seed "$seed" \
    --threads $((ranks * threads)))
echo "$torch_out" >&2
torch_bpc=$(echo "$torch_out" | sed -n 's/^TORCH_CHARLM bpc=\([0-9.]*\).*/\1/p')
torch_s=$(echo "$torch_out" | sed -n 's/^TORCH_CHARLM .*seconds=\([0-9.]*\).*/\1/p')

echo "fortunes char-LM, $epochs epoch(s) on $(basename "$train"), dptrain ${ranks}x$threads:"
echo "  dptrain held-out bits/char $dpt_bpc (train + per-epoch validation $((t1 - t0)) s)"
echo "  PyTorch held-out bits/char $torch_bpc (training $torch_s s)"
/usr/bin/python3 - "$dpt_bpc" "$torch_bpc" <<'EOF'
import sys
d, t = float(sys.argv[1]), float(sys.argv[2])
print(f"  ratio dptrain / PyTorch {d / t:.4f}: {'within' if d <= 1.02 * t else 'NOT within'} 2 %")
EOF
echo "sample (--prompt 'The ' --temperature 0.7 --seed 1):"
"$build/dptrain" generate "$out/model.h5" --prompt "The " --length 300 --temperature 0.7 --seed 1
