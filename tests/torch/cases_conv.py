"""conv2d, conv1d and conv2d_transpose against torch.nn.functional.conv2d / conv1d /
conv_transpose2d.  dptrain is channels last with W (filters, kh, kw, C) (conv1d (filters, k, F))
and, for the transpose, W (C, kh, kw, filters); PyTorch is channels first with (out, in, kh, kw)
and ConvTranspose2d's (in, out, kh, kw): the permutations below are the ones the layers' file
headers document.  "same" padding is spelled out (F.pad): PyTorch's padding="same" takes no
stride, and Keras puts the odd row after, as dptrain does."""
import torch
import torch.nn.functional as F


def same_pads(n, k, s, d):
    """(before, after) of Keras/TF "same" padding on one axis."""
    out = (n + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def conv2d(k, s=(1, 1), d=(1, 1), pad="valid", bias=True, act=None):
    def run(x, p):
        xn = x.permute(0, 3, 1, 2)
        if pad == "same":
            pt, pb = same_pads(xn.shape[2], k[0], s[0], d[0])
            pl, pr = same_pads(xn.shape[3], k[1], s[1], d[1])
            xn = F.pad(xn, (pl, pr, pt, pb))
        padding = 0 if pad in ("valid", "same") else pad
        y = F.conv2d(xn, p["W"].permute(0, 3, 1, 2), p["b"] if bias else None, stride=s,
                     padding=padding, dilation=d)
        y = y.permute(0, 2, 3, 1)
        return act(y) if act else y
    return run


def conv1d(k, s=1, d=1, pad="valid", bias=True):
    def run(x, p):
        xn = x.permute(0, 2, 1)
        if pad == "same":
            xn = F.pad(xn, same_pads(xn.shape[2], k, s, d))
        padding = 0 if pad in ("valid", "same") else pad
        y = F.conv1d(xn, p["W"].permute(0, 2, 1), p["b"] if bias else None, stride=s,
                     padding=padding, dilation=d)
        return y.permute(0, 2, 1)
    return run


def conv2d_transpose(k, s, pad="valid", bias=True):
    """The full transposed convolution ((H - 1) s + k), cropped to dptrain's output: valid keeps
    it, same keeps H s rows from (k - s) // 2 (zeros past the end when k < s), explicit p crops
    p on each side (PyTorch's padding)."""
    def run(x, p):
        xn = x.permute(0, 3, 1, 2)
        full = F.conv_transpose2d(xn, p["W"].permute(0, 3, 1, 2), None, stride=s)
        crops = []
        for axis in (0, 1):
            n = xn.shape[2 + axis]
            if pad == "valid":
                crops.append((0, (n - 1) * s[axis] + k[axis]))
            elif pad == "same":
                crops.append((max(k[axis] - s[axis], 0) // 2, n * s[axis]))
            else:
                crops.append((pad, (n - 1) * s[axis] + k[axis] - 2 * pad))
        (t, h), (l, w) = crops
        full = F.pad(full, (0, max(l + w - full.shape[3], 0), 0, max(t + h - full.shape[2], 0)))
        y = full[:, :, t:t + h, l:l + w].permute(0, 2, 3, 1)
        return y + p["b"] if bias else y
    return run


CASES = [
    {"name": "conv2d_valid_stride2", "spec": "conv2d filters=4 kernel_size=3 strides=2",
     "shape": "9,9,3", "B": 3, "torch": conv2d((3, 3), s=(2, 2))},
    {"name": "conv2d_same_odd_total", "spec": "conv2d filters=3 kernel_size=[2,3] padding=same",
     "shape": "6,7,2", "B": 2, "torch": conv2d((2, 3), pad="same")},
    {"name": "conv2d_same_stride2", "spec": "conv2d filters=5 kernel_size=3 strides=2 padding=same",
     "shape": "8,7,3", "B": 2, "torch": conv2d((3, 3), s=(2, 2), pad="same")},
    {"name": "conv2d_dilated", "spec": "conv2d filters=2 kernel_size=3 dilation_rate=[2,1] "
     "padding=same", "shape": "7,6,2", "B": 2, "torch": conv2d((3, 3), d=(2, 1), pad="same")},
    {"name": "conv2d_explicit_padding", "spec": "conv2d filters=3 kernel_size=3 padding=[2,1] "
     "strides=[1,2]", "shape": "5,6,2", "B": 2, "torch": conv2d((3, 3), s=(1, 2), pad=(2, 1))},
    {"name": "conv2d_1x1", "spec": "conv2d filters=6 kernel_size=1", "shape": "4,5,8", "B": 3,
     "torch": conv2d((1, 1))},
    {"name": "conv2d_relu_no_bias", "spec": "conv2d filters=4 kernel_size=3 padding=same "
     "activation=relu use_bias=false", "shape": "6,6,3", "B": 2,
     "torch": conv2d((3, 3), pad="same", bias=False, act=torch.relu)},
    {"name": "conv2d_fmnist_second", "spec": "conv2d filters=16 kernel_size=3 padding=same",
     "shape": "14,14,32", "B": 2, "torch": conv2d((3, 3), pad="same")},
    {"name": "conv1d_same", "spec": "conv1d filters=4 kernel_size=3 padding=same", "shape": "10,3",
     "B": 3, "torch": conv1d(3, pad="same")},
    {"name": "conv1d_stride_dilation", "spec": "conv1d filters=2 kernel_size=2 strides=2 "
     "dilation_rate=3 use_bias=false", "shape": "11,4", "B": 2,
     "torch": conv1d(2, s=2, d=3, bias=False)},
    {"name": "conv2d_transpose_valid", "spec": "conv2d_transpose filters=3 kernel_size=3 strides=2",
     "shape": "4,3,2", "B": 2, "torch": conv2d_transpose((3, 3), (2, 2))},
    {"name": "conv2d_transpose_same", "spec": "conv2d_transpose filters=4 kernel_size=3 strides=2 "
     "padding=same", "shape": "4,5,3", "B": 2, "torch": conv2d_transpose((3, 3), (2, 2), "same")},
    {"name": "conv2d_transpose_same_k2", "spec": "conv2d_transpose filters=2 kernel_size=2 "
     "strides=2 padding=same", "shape": "3,3,4", "B": 2,
     "torch": conv2d_transpose((2, 2), (2, 2), "same")},
    {"name": "conv2d_transpose_k_below_stride", "spec": "conv2d_transpose filters=2 kernel_size=1 "
     "strides=2 padding=same", "shape": "3,2,2", "B": 2,
     "torch": conv2d_transpose((1, 1), (2, 2), "same")},
    {"name": "conv2d_transpose_pytorch_padding", "spec": "conv2d_transpose filters=3 "
     "kernel_size=4 strides=2 padding=1 use_bias=false", "shape": "3,4,2", "B": 2,
     "torch": conv2d_transpose((4, 4), (2, 2), 1, bias=False)},
]
