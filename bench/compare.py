#!/usr/bin/python3
"""dptrain against PyTorch (CPU) on the same workloads, in alternation, in one run.

For each round, layout (ranks x threads) and workload it runs bench/bench_train (dptrain's own
step, which also measures sgemm alone on the step's GEMM shapes: the roofline) and then
bench/torch_bench.py once per BLAS PyTorch can use here (OpenBLAS, and BLIS with its AVX-512
'skx' kernels forced; thread counts set in the environment), and reports medians over rounds:
samples/s, the ratio, and each one's % of the roofline (GEMM flops of a step / step time /
sgemm rate on the same shapes).  PyTorch's number is its best BLAS.  Benchmark-only: needs
Debian's python3-torch (and libopenblas0-pthread for the OpenBLAS variant).

usage: bench/compare.py BUILD_DIR [--rounds 3] [--workload NAME ...] [--layouts 1x1,1x2,2x1]
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = "/usr/lib/x86_64-linux-gnu"
WORKLOADS = ["boston-mlp-16", "boston-mlp-256", "wide-mlp-256", "lstm-rows", "gru-rows",
             "rnn-rows", "fmnist-cnn-128", "charlm-64"]
# Targets (issues 6, 12 and 13): best dptrain layout against best PyTorch configuration.
TARGETS = {"boston-mlp-16": [("ratio", 3.0)], "wide-mlp-256": [("roofline", 85.0)],
           "lstm-rows": [("ratio", 2.0)], "gru-rows": [("ratio", 2.0)], "rnn-rows": [("ratio", 2.0)],
           "fmnist-cnn-128": [("ratio", 1.5), ("roofline", 60.0)],
           "charlm-64": [("ratio", 1.5)]}


def blas_variants(threads):
    """(name, environment) for each BLAS libtorch can load as libblas.so.3."""
    out = []
    if os.path.exists(f"{LIB}/openblas-pthread/libblas.so.3"):
        out.append(("OpenBLAS", {"LD_LIBRARY_PATH": f"{LIB}/openblas-pthread",
                                 "OPENBLAS_NUM_THREADS": str(threads)}))
    if os.path.exists(f"{LIB}/blis-openmp/libblas.so.3"):
        out.append(("BLIS skx", {"LD_LIBRARY_PATH": f"{LIB}/blis-openmp", "BLIS_ARCH_TYPE": "0",
                                 "BLIS_NUM_THREADS": str(threads)}))
    return out


def base_env(threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "BLIS_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_ARCH_TYPE",
              "LD_LIBRARY_PATH", "OMPI_MCA_rmaps_base_oversubscribe"):
        env.pop(k, None)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def run_dptrain(build, w, ranks, threads):
    cmd = [f"{build}/bench/bench_train", "--workload", w, "--threads", str(threads)]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks)] + cmd
    out = subprocess.run(cmd, env=base_env(threads), capture_output=True, text=True, check=True)
    row = [line for line in out.stdout.splitlines() if line.startswith(f"| {w} |")][-1]
    f = [c.strip() for c in row.strip("|").split("|")]
    return {"sps": float(f[4]), "gemm": float(f[6]), "peak": float(f[7])}


def run_torch(w, ranks, threads, blas_env):
    env = base_env(threads)
    env.update(blas_env)
    cmd = [sys.executable, f"{HERE}/torch_bench.py", "--workload", w, "--threads", str(threads),
           "--ranks", str(ranks)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("TORCH ")][-1]
    kv = dict(item.split("=") for item in line.split()[1:])
    return float(kv["samples_per_s"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workload", nargs="*", default=WORKLOADS)
    p.add_argument("--layouts", default="1x1,1x2,2x1")
    a = p.parse_args()
    try:
        import torch  # noqa: F401  (only to fail early with a clear message)
    except ImportError:
        sys.exit("compare.py needs PyTorch: apt-get install python3-torch libopenblas0-pthread")
    layouts = [tuple(int(v) for v in s.split("x")) for s in a.layouts.split(",")]
    res = {}  # (w, layout) -> {"dpt": [...], blas name: [...]}
    for r in range(a.rounds):
        for ranks, threads in layouts:
            for w in a.workload:
                d = res.setdefault((w, (ranks, threads)), {"dpt": []})
                d["dpt"].append(run_dptrain(a.build, w, ranks, threads))
                for name, env in blas_variants(threads):
                    d.setdefault(name, []).append(run_torch(w, ranks, threads, env))
                print(f"round {r + 1}/{a.rounds} {w} {ranks}x{threads}: dptrain "
                      f"{d['dpt'][-1]['sps']:.0f}", file=sys.stderr, flush=True)
    report(res, a.workload, layouts)


def summary(d):
    dpt = d["dpt"]
    sps = statistics.median(x["sps"] for x in dpt)
    gemm_per_sample = statistics.median(x["gemm"] / x["sps"] for x in dpt)  # GFLOP per sample
    peak = statistics.median(x["peak"] for x in dpt)
    torch = {k: statistics.median(v) for k, v in d.items() if k != "dpt"}
    best = max(torch, key=torch.get)
    return sps, torch[best], best, 100 * gemm_per_sample * sps / peak, \
        100 * gemm_per_sample * torch[best] / peak, torch


def report(res, workloads, layouts):
    print("| workload | ranks x threads | dptrain samples/s | PyTorch samples/s (best BLAS) "
          "| ratio | dptrain % roofline | PyTorch % roofline | PyTorch by BLAS |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    best = {}
    for w in workloads:
        for lay in layouts:
            sps, tsps, blas, droof, troof, torch = summary(res[(w, lay)])
            by = ", ".join(f"{k} {v:.0f}" for k, v in sorted(torch.items()))
            print(f"| {w} | {lay[0]}x{lay[1]} | {sps:.0f} | {tsps:.0f} ({blas}) | "
                  f"{sps / tsps:.2f} | {droof:.0f}% | {troof:.0f}% | {by} |")
            b = best.setdefault(w, [0, None, 0, None, 0])
            if sps > b[0]:
                b[0], b[1], b[4] = sps, lay, droof
            if tsps > b[2]:
                b[2], b[3] = tsps, (lay, blas)
    print()
    print("| workload | best dptrain (layout) | best PyTorch (layout, BLAS) | ratio | dptrain % "
          "roofline | target | met |")
    print("|---|---:|---:|---:|---:|---|---|")
    for w in workloads:
        d, dl, t, (tl, tb), roof = best[w]
        tgts, mets = [], []
        for kind, goal in TARGETS.get(w, []):
            if kind == "ratio":
                tgts.append(f">= {goal:g}x PyTorch")
                mets.append(d / t >= goal)
            else:
                tgts.append(f">= {goal:g}% roofline")
                mets.append(roof >= goal)
        tgt, met = (", ".join(tgts), all(mets)) if tgts else ("-", None)
        print(f"| {w} | {d:.0f} ({dl[0]}x{dl[1]}) | {t:.0f} ({tl[0]}x{tl[1]}, {tb}) | "
              f"{d / t:.2f} | {roof:.0f}% | {tgt} | {'-' if met is None else 'yes' if met else 'no'} |")


if __name__ == "__main__":
    main()
