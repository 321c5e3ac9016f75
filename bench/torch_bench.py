#!/usr/bin/env python3
"""The bench_train workloads in PyTorch (CPU, float32), for bench/compare.sh.

Same models, losses, optimizers, global batch and synthetic in-memory data as bench/bench_train.c;
one step = zero_grad, forward, loss, backward, optimizer step.  --ranks 2 runs two processes
under torch.distributed (gloo) with DistributedDataParallel, each on its share of the global
batch, as dptrain's ranks.  Prints one line per workload:
  TORCH workload=NAME ranks=R threads=T samples_per_s=X ms_per_step=Y
Timing: median of 5 blocks of steps after warm-up (as bench_train).  A benchmark-only script:
needs Debian's python3-torch, never used by the tests."""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn

WORKLOADS = {
    # name: (global batch, widths, loss, optimizer, recurrent cell or None, steps)
    "boston-mlp-16": (16, [13, 128, 128, 64, 1], "mse", "rmsprop", None, 1),
    "boston-mlp-256": (256, [13, 128, 128, 64, 1], "mse", "rmsprop", None, 1),
    "wide-mlp-256": (256, [784, 1024, 1024, 10], "ce", "momentum", None, 1),
    "lstm-rows": (128, [28, 128, 10], "ce", "adam", "lstm", 28),
    "gru-rows": (128, [28, 128, 10], "ce", "adam", "gru", 28),
    "rnn-rows": (128, [28, 128, 10], "ce", "adam", "rnn", 28),
    # configs/fashion-mnist-cnn.yaml on (1, 28, 28) images (PyTorch's NCHW)
    "fmnist-cnn-128": (128, [784, 10], "ce", "adam", "cnn", 1),
    # configs/fortunes-char-lm.yaml's model: ids in [0, V), widths V, D, H (2 layers), K = V
    "charlm-64": (64, [115, 48, 192, 115], "ce_steps", "adam", "charlm", 100),
}
NBLOCKS = 5


class Recurrent(nn.Module):
    """cell over 28 steps, last state -> dense."""

    def __init__(self, cell, F, H, K):
        super().__init__()
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = kind(F, H, batch_first=True)
        self.out = nn.Linear(H, K)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y[:, -1, :])


class CharLM(nn.Module):
    """embedding V x D (padding id 0) -> 2 stacked LSTMs of H -> dense V at every step."""

    def __init__(self, V, D, H, K):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=0)
        self.lstm = nn.LSTM(D, H, num_layers=2, batch_first=True)
        self.out = nn.Linear(H, K)

    def forward(self, x):
        y, _ = self.lstm(self.emb(x))
        return self.out(y)


def cnn():
    """conv 32 3x3 same ReLU, max-pool 2, conv 64 3x3 same ReLU, max-pool 2, dense 128 ReLU, 10."""
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def build(name):
    B, widths, loss, opt, cell, steps = WORKLOADS[name]
    if cell == "cnn":
        model = cnn()
    elif cell == "charlm":
        model = CharLM(*widths)
    elif cell:
        model = Recurrent(cell, widths[0], widths[1], widths[2])
    else:
        layers = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i + 2 < len(widths):
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
    return model


def optimizer(kind, params):
    # The same hyper-parameters as dptrain's defaults in bench_train (Keras-style RMSProp).
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)
    if kind == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)
    return torch.optim.Adam(params, lr=1e-3)


def run(name, args, rank, size):
    B, widths, loss_kind, opt_kind, cell, steps = WORKLOADS[name]
    torch.manual_seed(42)
    model = build(name)
    if size > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = optimizer(opt_kind, model.parameters())
    b = B // size + (1 if rank < B % size else 0)
    g = torch.Generator().manual_seed(7 + rank)
    shape = (b, 1, 28, 28) if cell == "cnn" else (b, steps, widths[0]) if cell else (b, widths[0])
    x = torch.randn(shape, generator=g)
    if loss_kind == "ce_steps":  # dptrain's softmax_ce on sequences: sum over steps, mean over b
        x = torch.randint(0, widths[0], (b, steps), generator=g)
        y = torch.randint(0, widths[-1], (b, steps), generator=g)

        def lossf(out, y):
            return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1),
                                               reduction="sum") / out.shape[0]
    elif loss_kind == "ce":
        y = torch.randint(0, widths[-1], (b,), generator=g)
        lossf = nn.CrossEntropyLoss()
    else:
        y = torch.randn(b, widths[-1], generator=g)
        lossf = nn.MSELoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    n = args.steps
    if n == 0:  # about one second's worth, judged from a few steps, agreed by all ranks
        t0 = time.perf_counter()
        for _ in range(5):
            step()
        per = (time.perf_counter() - t0) / 5
        n = max(20, int(1.0 / max(per, 1e-6)))
        if size > 1:
            t = torch.tensor([n])
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
            n = int(t.item())
    blk = max(1, n // NBLOCKS)
    times = []
    for _ in range(NBLOCKS):
        if size > 1:
            dist.barrier()
        t0 = time.perf_counter()
        for _ in range(blk):
            step()
        t = torch.tensor([(time.perf_counter() - t0) / blk], dtype=torch.float64)
        if size > 1:
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        times.append(t.item())
    s = statistics.median(times)
    if rank == 0:
        print(f"TORCH workload={name} ranks={size} threads={args.threads} "
              f"samples_per_s={B / s:.1f} ms_per_step={s * 1e3:.4f}", flush=True)


def worker(rank, size, args):
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    if size > 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
        dist.init_process_group("gloo", rank=rank, world_size=size)
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    for name in names:
        run(name, args, rank, size)
    if size > 1:
        dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="all", choices=["all"] + list(WORKLOADS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--info", action="store_true", help="print torch's build and BLAS, then exit")
    args = p.parse_args()
    if args.info:
        print(f"torch {torch.__version__}")
        print(torch.__config__.show())
        print("parallel:", torch.__config__.parallel_info().splitlines()[:6])
        return
    if args.ranks > 1:
        os.environ["MASTER_PORT"] = str(29500 + os.getpid() % 1000)
        torch.multiprocessing.spawn(worker, args=(args.ranks, args), nprocs=args.ranks)
    else:
        worker(0, 1, args)


if __name__ == "__main__":
    sys.exit(main())
