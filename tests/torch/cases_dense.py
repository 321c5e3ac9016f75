"""dense (and the activation it fuses) against torch.nn.functional.linear: the reference for the
other case files' conventions (x in dptrain's layout, parameters as dptrain stores them)."""
import torch
import torch.nn.functional as F


def dense(x, p):
    return F.linear(x, p["W"], p["b"])


CASES = [
    {"name": "dense", "spec": "dense units=5", "shape": "7", "B": 4, "torch": dense},
    {"name": "dense_tanh", "spec": "dense units=3 activation=tanh", "shape": "6", "B": 3,
     "torch": lambda x, p: torch.tanh(dense(x, p))},
    {"name": "dense_on_images", "spec": "dense units=4 use_bias=false", "shape": "3,2,5", "B": 2,
     "torch": lambda x, p: F.linear(x, p["W"])},
]
