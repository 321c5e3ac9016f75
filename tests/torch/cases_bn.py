"""batch_norm against torch.nn.functional.batch_norm in training mode (one process: the batch is the
global batch).  dptrain normalises the last axis (channels last); torch the second, so x moves its
last axis to dim 1 and back.  The moving statistics follow Keras: momentum m keeps m of the old
value (torch's momentum is 1 - m), and the moving variance takes the biased batch variance, where
torch's running_var takes the unbiased one: the expected value is derived from torch's update,
converted with (n - 1) / n."""
import torch
import torch.nn.functional as F


def channels_first(x):
    return x.movedim(-1, 1) if x.dim() > 2 else x


def channels_last(y):
    return y.movedim(1, -1) if y.dim() > 2 else y


def bn(eps=1e-3):
    def f(x, p):
        y = F.batch_norm(channels_first(x), None, None, p.get("gamma"), p.get("beta"),
                         training=True, eps=eps)
        return channels_last(y)
    return f


def moving(m):
    def f(x, p):
        mean, var = p["moving_mean"].clone(), p["moving_variance"].clone()
        xc = channels_first(x)
        F.batch_norm(xc, mean, var, training=True, momentum=1.0 - m)  # torch's update
        n = xc.numel() // xc.shape[1]
        unbiased_part = var - m * p["moving_variance"]                 # (1 - m) unbiased var
        return {"moving_mean": mean,
                "moving_variance": m * p["moving_variance"] + unbiased_part * (n - 1) / n}
    return f


CASES = [
    {"name": "bn_vector", "spec": "batch_norm", "shape": "5", "B": 8, "torch": bn(),
     "state": moving(0.99)},
    {"name": "bn_sequence", "spec": "batch_norm momentum=0.9", "shape": "4,3", "B": 5,
     "torch": bn(), "state": moving(0.9)},
    {"name": "bn_image", "spec": "batch_norm epsilon=0.01", "shape": "3,4,2", "B": 3,
     "torch": bn(0.01), "state": moving(0.99)},
    {"name": "bn_image_no_affine", "spec": "batch_norm center=false scale=false momentum=0.5",
     "shape": "2,3,4", "B": 2, "torch": bn(), "state": moving(0.5)},
    {"name": "bn_no_beta", "spec": "batch_norm center=false", "shape": "6", "B": 4,
     "torch": bn()},
]
