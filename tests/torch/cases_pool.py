"""Pools, flatten, reshape and upsampling (core/layer_pool.c, layer_reshape.c, layer_upsample.c)
against torch.nn.functional.  dptrain's images are (B, H, W, C) and sequences (B, T, F); torch
wants channels first, so each case moves C (F) in front and back.  min pools are -max(-x);
padding: same (which torch's pools lack) pads as Keras does, total = max((out - 1) s + k - in,
0), the smaller half before, with -inf for max and, for avg, a mean over the input cells only
(a sum pool divided by a pool of ones, as count_include_pad=False does for explicit padding).
Random inputs have no ties, so max / min agree on the cell that gets the gradient."""
import math

import torch
import torch.nn.functional as F


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(y):
    return y.permute(0, 2, 3, 1)


def same_pads(size, k, s):
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def pool2d(op, k, s=None, pad=0):
    """op 'max' / 'avg' / 'min'; k, s (h, w); pad 'same' or an int / pair (explicit)."""
    s = s or k

    def run(x, p):
        t = nchw(x)
        if pad == "same":
            top, bottom = same_pads(t.shape[2], k[0], s[0])
            left, right = same_pads(t.shape[3], k[1], s[1])
            pads = (left, right, top, bottom)
            if op == "avg":
                sums = F.avg_pool2d(F.pad(t, pads), k, s, divisor_override=1)
                ones = torch.ones_like(t[:1, :1])
                counts = F.avg_pool2d(F.pad(ones, pads), k, s, divisor_override=1)
                return nhwc(sums / counts)
            sign = -1.0 if op == "min" else 1.0
            y = F.max_pool2d(F.pad(sign * t, pads, value=-math.inf), k, s)
            return nhwc(sign * y)
        if op == "avg":
            return nhwc(F.avg_pool2d(t, k, s, pad, count_include_pad=False))
        if op == "min":
            return nhwc(-F.max_pool2d(-t, k, s, pad))
        return nhwc(F.max_pool2d(t, k, s, pad))

    return run


def pool1d(op, k, s=None, pad=0):
    """The 1-D pools as the 2-D ones on (B, 1, T, F)."""
    two = pool2d(op, (1, k), (1, s or k), pad if pad == "same" else (0, pad))
    return lambda x, p: two(x.unsqueeze(1), p).squeeze(1)


def seq(fn):
    """fn on (B, F, T) -> (B, F, T'), for a sequence (B, T, F)."""
    return lambda x, p: fn(x.transpose(1, 2)).transpose(1, 2)


CASES = [
    {"name": "max_pool2d", "spec": "max_pool2d", "shape": "6,6,3", "B": 3,
     "torch": pool2d("max", (2, 2))},
    {"name": "max_pool2d_overlapping", "spec": "max_pool2d pool_size=3 strides=1",
     "shape": "5,6,2", "B": 2, "torch": pool2d("max", (3, 3), (1, 1))},
    {"name": "max_pool2d_same_odd", "spec": "max_pool2d pool_size=3 strides=2 padding=same",
     "shape": "6,5,3", "B": 2, "torch": pool2d("max", (3, 3), (2, 2), "same")},
    {"name": "max_pool2d_explicit", "spec": "max_pool2d pool_size=3 strides=2 padding=1",
     "shape": "7,6,2", "B": 2, "torch": pool2d("max", (3, 3), (2, 2), 1)},
    {"name": "max_pool2d_nonsquare", "spec": "max_pool2d pool_size=[2,3] strides=[1,2]",
     "shape": "5,8,2", "B": 2, "torch": pool2d("max", (2, 3), (1, 2))},
    {"name": "avg_pool2d", "spec": "avg_pool2d", "shape": "6,4,3", "B": 3,
     "torch": pool2d("avg", (2, 2))},
    {"name": "avg_pool2d_same_odd", "spec": "avg_pool2d pool_size=3 strides=2 padding=same",
     "shape": "6,5,3", "B": 2, "torch": pool2d("avg", (3, 3), (2, 2), "same")},
    {"name": "avg_pool2d_explicit_no_pad_count",
     "spec": "avg_pool2d pool_size=[3,2] strides=[2,1] padding=[1,1]", "shape": "5,4,2", "B": 2,
     "torch": pool2d("avg", (3, 2), (2, 1), (1, 1))},
    {"name": "min_pool2d", "spec": "min_pool2d", "shape": "4,6,2", "B": 2,
     "torch": pool2d("min", (2, 2))},
    {"name": "min_pool2d_same", "spec": "min_pool2d pool_size=[2,3] strides=[1,2] padding=same",
     "shape": "4,7,3", "B": 2, "torch": pool2d("min", (2, 3), (1, 2), "same")},
    {"name": "global_avg_pool2d", "spec": "global_avg_pool2d", "shape": "3,5,4", "B": 3,
     "torch": lambda x, p: F.adaptive_avg_pool2d(nchw(x), 1).flatten(1)},
    {"name": "global_max_pool2d", "spec": "global_max_pool2d", "shape": "3,5,4", "B": 3,
     "torch": lambda x, p: F.adaptive_max_pool2d(nchw(x), 1).flatten(1)},
    {"name": "max_pool1d", "spec": "max_pool1d", "shape": "9,3", "B": 3,
     "torch": seq(lambda t: F.max_pool1d(t, 2))},
    {"name": "max_pool1d_explicit", "spec": "max_pool1d pool_size=3 strides=2 padding=1",
     "shape": "8,2", "B": 2, "torch": seq(lambda t: F.max_pool1d(t, 3, 2, 1))},
    {"name": "avg_pool1d_same", "spec": "avg_pool1d pool_size=3 strides=2 padding=same",
     "shape": "8,2", "B": 2, "torch": pool1d("avg", 3, 2, "same")},
    {"name": "avg_pool1d_explicit", "spec": "avg_pool1d pool_size=2 padding=1", "shape": "5,3",
     "B": 2, "torch": seq(lambda t: F.avg_pool1d(t, 2, 2, 1, count_include_pad=False))},
    {"name": "min_pool1d", "spec": "min_pool1d pool_size=4 strides=3", "shape": "11,2", "B": 2,
     "torch": seq(lambda t: -F.max_pool1d(-t, 4, 3))},
    {"name": "global_avg_pool1d", "spec": "global_avg_pool1d", "shape": "6,3", "B": 3,
     "torch": lambda x, p: F.adaptive_avg_pool1d(x.transpose(1, 2), 1).flatten(1)},
    {"name": "global_max_pool1d", "spec": "global_max_pool1d", "shape": "6,3", "B": 3,
     "torch": lambda x, p: F.adaptive_max_pool1d(x.transpose(1, 2), 1).flatten(1)},
    {"name": "flatten", "spec": "flatten", "shape": "3,2,4", "B": 2,
     "torch": lambda x, p: x.flatten(1)},
    {"name": "reshape", "spec": "reshape target_shape=[4,-1]", "shape": "3,2,4", "B": 2,
     "torch": lambda x, p: x.reshape(x.shape[0], 4, 6)},
    {"name": "upsample2d", "spec": "upsample2d", "shape": "3,4,2", "B": 2,
     "torch": lambda x, p: nhwc(F.interpolate(nchw(x), scale_factor=2, mode="nearest"))},
    {"name": "upsample2d_nonsquare", "spec": "upsample2d size=[3,2]", "shape": "2,3,3", "B": 2,
     "torch": lambda x, p: nhwc(F.interpolate(nchw(x), scale_factor=(3, 2), mode="nearest"))},
    {"name": "upsample1d", "spec": "upsample1d size=3", "shape": "4,2", "B": 2,
     "torch": seq(lambda t: F.interpolate(t, scale_factor=3, mode="nearest"))},
]
