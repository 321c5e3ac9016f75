#!/usr/bin/python3
"""Forward and backward of dptrain's layers against PyTorch on random data.

For every case in tests/torch/cases_*.py (a list CASES of dicts: name, spec — one layer line as
dpt_layer_spec_parse reads it —, shape — the per-sample input "H,W,C" —, B, torch — a function
(x, p) -> y building the same computation in PyTorch from x (B, *shape) and the parameters p in
dptrain's layout, keyed "W", "b", ... and "<layer>/<tensor>", the layers' state tensors before
the pass under their names too ("moving_mean", ...) —, optional seed and rtol, and optional state —
a function (x, p) -> {name: the state tensor expected after the training pass}, and optional
ids — V: x is int32 token ids uniform in [0, V), given to torch as int64, and has no gradient),
this
runs build/tests/torch/dpt_layer_io, which writes x, the parameters, dy and dptrain's y, dx and
parameter gradients, then recomputes y, dx and the gradients in float64 with torch.autograd and
compares.

A case of a layer with several inputs (a merge, attention) gives shapes — a list of per-sample
input shapes ["5,8", "7,8"] — instead of shape, optional lengths — one entry per input, None
(all steps) or B valid steps of its first axis —, and torch (xs, p, lengths) -> y with xs the
inputs (B, *shape k) and lengths the list with LongTensors (B) or None.  dpt_layer_io then
builds that one layer with dpt_layer_build_n (no model) and writes x0, x1, ... and dx0, dx1,
..., compared as dx above, input by input.

Tolerance: max|dptrain - torch| <= rtol * max|torch| per tensor, rtol 2e-5 unless the case says.
dptrain computes in float32 (unit roundoff u = 6e-8); each compared value is a sum of at most a
few thousand products of O(1) numbers, whose float32 rounding error grows like sqrt(n) u
relative to the largest magnitudes (random rounding): ~3e-6 for n = 2000, so 2e-5 leaves a
margin of ~7, while a wrong index, transposition, padding or missing term is off by O(1) of the
largest value.  Cases that divide by small numbers (normalisation) say their own rtol.

    tests/torch/run.py BUILD_DIR [-k SUBSTRING]
"""
import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
except ImportError:
    sys.exit("tests/torch/run.py needs PyTorch: apt-get install python3-torch")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_RTOL = 2e-5


def load_cases(pattern):
    cases = []
    for path in sorted(glob.glob(os.path.join(HERE, "cases_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for c in mod.CASES:
            if pattern is None or pattern in c["name"]:
                cases.append((name, c))
    return cases


def read(d, name, shape):
    a = np.fromfile(os.path.join(d, name + ".bin"), dtype="<f4")
    return torch.tensor(a.astype(np.float64)).reshape(shape)


def params_of(d, man, grads_too):
    flat = read(d, "params", (man["nparams"],))
    gflat = read(d, "grads", (man["nparams"],))
    p, g = {}, {}
    for layer in man["layers"]:
        for t in layer["tensors"]:
            n = int(np.prod(t["dims"]))
            v = flat[t["offset"]:t["offset"] + n].reshape(t["dims"]).clone().requires_grad_(True)
            gv = gflat[t["offset"]:t["offset"] + n].reshape(t["dims"])
            for key in (layer["name"] + "/" + t["name"], t["name"]):
                if key not in p:
                    p[key], g[key] = v, gv
    return p, g


def states_of(d, man, name):
    flat = read(d, name, (man.get("nstate", 0),))
    s = {}
    for layer in man["layers"]:
        for t in layer.get("states", []):
            v = flat[t["offset"]:t["offset"] + int(np.prod(t["dims"]))].reshape(t["dims"])
            for key in (layer["name"] + "/" + t["name"], t["name"]):
                s.setdefault(key, v)
    return s


def compare(what, got, ref, rtol):
    scale = float(ref.abs().max()) if ref.numel() else 0.0
    err = float((got - ref).abs().max()) if ref.numel() else 0.0
    ok = err <= rtol * max(scale, 1e-30)
    return ok, "%s: max err %.3g (%.3g of max %.3g)" % (what, err, err / max(scale, 1e-30), scale)


def run_case(tool, c):
    shape = [int(v) for v in c["shape"].split(",")]
    B = c["B"]
    with tempfile.TemporaryDirectory() as d:
        ids = c.get("ids")
        r = subprocess.run([tool, d, c["spec"], c["shape"], str(B), str(c.get("seed", 1))] +
                           ([str(ids)] if ids else []), capture_output=True, text=True)
        if r.returncode != 0:
            return False, ["dpt_layer_io failed: " + r.stderr.strip()]
        with open(os.path.join(d, "manifest.json")) as f:
            man = json.load(f)
        out = [B] + man["out_shape"]
        if ids:
            x = torch.tensor(np.fromfile(os.path.join(d, "x.bin"), dtype="<i4").astype(np.int64))
            x = x.reshape([B] + shape)
        else:
            x = read(d, "x", [B] + shape).requires_grad_(True)
        p, g = params_of(d, man, True)
        for k, v in states_of(d, man, "state_before").items():
            p.setdefault(k, v)
        y_ref = c["torch"](x, p)
        rtol = c.get("rtol", DEFAULT_RTOL)
        checks = [compare("y", read(d, "y", out), y_ref.detach().reshape(out), rtol)]
        if y_ref.requires_grad:  # not for a frozen layer alone
            y_ref.backward(read(d, "dy", out).reshape(y_ref.shape))
        if not ids:
            checks.append(compare("dx", read(d, "dx", [B] + shape), x.grad, rtol))
        for layer in man["layers"]:
            for t in layer["tensors"]:
                key = layer["name"] + "/" + t["name"]
                ref = p[key].grad
                if ref is None:
                    ref = torch.zeros_like(p[key])
                checks.append(compare("d" + key, g[key], ref, rtol))
        if "state" in c:
            after = states_of(d, man, "state")
            for key, ref in c["state"](x.detach(), p).items():
                checks.append(compare(key, after[key], ref, rtol))
    return all(ok for ok, _ in checks), [m for _, m in checks]


def run_case_n(tool, c):
    shapes = [[int(v) for v in s.split(",")] for s in c["shapes"]]
    B = c["B"]
    lengths = c.get("lengths") or [None] * len(shapes)
    assert len(lengths) == len(shapes), "one lengths entry per input"
    with tempfile.TemporaryDirectory() as d:
        args = [tool, d, c["spec"], ";".join(c["shapes"]), str(B), str(c.get("seed", 1))]
        if any(n is not None for n in lengths):
            args.append(";".join("-" if n is None else ",".join(map(str, n)) for n in lengths))
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            return False, ["dpt_layer_io failed: " + r.stderr.strip()]
        with open(os.path.join(d, "manifest.json")) as f:
            man = json.load(f)
        out = [B] + man["out_shape"]
        xs = [read(d, "x%d" % k, [B] + s).requires_grad_(True) for k, s in enumerate(shapes)]
        p, g = params_of(d, man, True)
        lens = [None if n is None else torch.tensor(n, dtype=torch.long) for n in lengths]
        y_ref = c["torch"](xs, p, lens)
        rtol = c.get("rtol", DEFAULT_RTOL)
        checks = [compare("y", read(d, "y", out), y_ref.detach().reshape(out), rtol)]
        y_ref.backward(read(d, "dy", out).reshape(y_ref.shape))
        for k, s in enumerate(shapes):
            ref = xs[k].grad if xs[k].grad is not None else torch.zeros_like(xs[k])
            checks.append(compare("dx%d" % k, read(d, "dx%d" % k, [B] + s), ref, rtol))
        for t in man["layers"][0]["tensors"]:
            key = man["layers"][0]["name"] + "/" + t["name"]
            ref = p[key].grad if p[key].grad is not None else torch.zeros_like(p[key])
            checks.append(compare("d" + key, g[key], ref, rtol))
    return all(ok for ok, _ in checks), [m for _, m in checks]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tool = os.path.join(sys.argv[1], "tests", "torch", "dpt_layer_io")
    pattern = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "-k" else None
    torch.manual_seed(0)
    # The check itself can fail: an error of 1e-4 of the largest value is caught.
    ref = torch.linspace(-1.0, 2.0, 7, dtype=torch.float64)
    assert not compare("self-test", ref + 1e-4 * 2.0, ref, DEFAULT_RTOL)[0]
    assert compare("self-test", ref + 1e-6, ref, DEFAULT_RTOL)[0]
    cases = load_cases(pattern)
    if not cases:
        sys.exit("no cases matched")
    failed = 0
    for mod, c in cases:
        ok, msgs = (run_case_n if "shapes" in c else run_case)(tool, c)
        failed += not ok
        print("%s %s/%s: %s" % ("ok  " if ok else "FAIL", mod, c["name"], "; ".join(msgs)))
    print("%d of %d cases agree with PyTorch" % (len(cases) - failed, len(cases)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
