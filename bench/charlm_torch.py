#!/usr/bin/python3
"""configs/fortunes-char-lm.yaml's character-level language model in PyTorch, for bench/charlm.sh.

Reads the two files `dptrain import text --level char` writes (X (N, T) int32 ids, y (N, T) int32
next ids, vocab (V)) and trains the same model on the same problem as dptrain:

- nn.Embedding(V, D, padding_idx=0) initialised U(-0.05, 0.05) with the padding row zero (dptrain:
  Keras's uniform); nn.LSTM(D, H, num_layers=L, batch_first=True) with PyTorch's default
  U(-1/sqrt(H), 1/sqrt(H)) for every tensor (dptrain's default too, both biases b_ih and b_hh);
  nn.Linear(H, V) with Glorot-uniform weights and zero bias (dptrain's dense default).
- The loss is dptrain's softmax_ce on sequences: cross-entropy summed over the T steps of a sample,
  averaged over the samples of the batch (not the per-token mean, which is T times smaller: Adam
  is nearly scale-invariant, but its eps is not).
- Adam with dptrain's defaults (beta1 0.9, beta2 0.999, eps 1e-7, Keras's: added outside the
  square root of the bias-corrected second moment, as torch.optim.Adam does), constant lr.
- The same batch size and epochs; the training rows are reshuffled every epoch (a permutation drawn
  from the seed; not dptrain's stream, so the batches differ), the last batch may be smaller.

Prints per epoch the mean training loss, then the held-out bits per character (mean over every
held-out token of -log2 p(label)) and the training throughput:
  TORCH_CHARLM bpc=X train_samples_per_s=Y seconds=Z
A benchmark-only script: needs Debian's python3-torch and python3-h5py."""
import argparse
import math
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class CharLM(nn.Module):
    def __init__(self, V, D, H, L):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=0)
        self.lstm = nn.LSTM(D, H, num_layers=L, batch_first=True)
        self.out = nn.Linear(H, V)
        with torch.no_grad():
            nn.init.uniform_(self.emb.weight, -0.05, 0.05)
            self.emb.weight[0].zero_()
            nn.init.xavier_uniform_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x):  # x (B, T) int64 -> logits (B, T, V)
        h, _ = self.lstm(self.emb(x))
        return self.out(h)


def load(path):
    with h5py.File(path, "r") as f:
        X = torch.from_numpy(np.asarray(f["X"][...], dtype=np.int64))
        y = torch.from_numpy(np.asarray(f["y"][...], dtype=np.int64))
        V = len(f["vocab"]) if "vocab" in f else None
    return X, y, V


def loss_sum_steps(logits, y):
    """dptrain's softmax_ce on sequences: sum over steps, mean over the batch's samples."""
    B, T, V = logits.shape
    ce = F.cross_entropy(logits.reshape(B * T, V), y.reshape(B * T), reduction="sum")
    return ce / B


@torch.no_grad()
def bits_per_char(model, X, y, batch):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(X), batch):
        logits = model(X[i:i + batch])
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[i:i + batch].reshape(-1),
                             reduction="sum")
        total += float(ce)
        count += y[i:i + batch].numel()
    model.train()
    return total / count / math.log(2.0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("train")
    p.add_argument("test")
    p.add_argument("--vocab-size", type=int, default=0, help="V (default: the file's vocabulary)")
    p.add_argument("--dim", type=int, default=48)
    p.add_argument("--units", type=int, default=192)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-rows", type=int, default=0, help="train on the first N rows only")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    X, y, V = load(a.train)
    Xt, yt, _ = load(a.test)
    if a.max_rows:
        X, y = X[:a.max_rows], y[:a.max_rows]
    V = a.vocab_size or V
    if V is None:
        sys.exit(f"{a.train}: no dataset 'vocab'; give --vocab-size")
    model = CharLM(V, a.dim, a.units, a.layers)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-7)
    gen = torch.Generator().manual_seed(a.seed)
    N, seen, t_train = len(X), 0, 0.0
    for epoch in range(a.epochs):
        perm = torch.randperm(N, generator=gen)
        t0, loss_sum = time.perf_counter(), 0.0
        for i in range(0, N, a.batch):
            idx = perm[i:i + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_sum_steps(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            loss_sum += float(loss) * len(idx)
        dt = time.perf_counter() - t0
        t_train, seen = t_train + dt, seen + N
        bits = loss_sum / N / X.shape[1] / math.log(2.0)
        print(f"epoch {epoch + 1}/{a.epochs}: loss {loss_sum / N:.4f} ({bits:.4f} bits/char), "
              f"{N / dt:.1f} samples/s", flush=True)
    bpc = bits_per_char(model, Xt, yt, 256)
    print(f"TORCH_CHARLM bpc={bpc:.4f} train_samples_per_s={seen / t_train:.1f} "
          f"seconds={t_train:.1f}", flush=True)


if __name__ == "__main__":
    main()
