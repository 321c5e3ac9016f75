"""attention against softmax(Q K^T * scale + mask) V in torch: inputs [query, value] or
[query, value, key] (key = value when not given), scores dot (scale 1), scaled_dot
(1 / sqrt(D)) or general (Q W K^T, W (Dq, Dk) as dptrain stores it); the mask is -inf at keys
past the value's length (lengths[1]) and, causal, at keys after the query's step.  A query of
one step may be a vector (D): its output is a vector (Dv)."""
import math

import torch


def attention(score="dot", causal=False):
    def f(xs, p, lengths):
        q, v = xs[0], xs[1]
        k = xs[2] if len(xs) == 3 else v
        one_query = q.dim() == 2  # (B, D): one step
        q3, v3, k3 = (t.unsqueeze(1) if t.dim() == 2 else t for t in (q, v, k))
        if score == "general":
            s = q3 @ p["W"] @ k3.transpose(1, 2)
        else:
            s = q3 @ k3.transpose(1, 2)
            if score == "scaled_dot":
                s = s / math.sqrt(k3.shape[-1])
        B, Tq, Tv = s.shape
        mask = torch.zeros(B, Tq, Tv, dtype=torch.bool)
        keys = torch.arange(Tv)
        if lengths[1] is not None and v.dim() == 3:
            mask |= keys[None, None, :] >= lengths[1][:, None, None]
        if causal:
            mask |= keys[None, None, :] > torch.arange(Tq)[None, :, None]
        y = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1) @ v3
        return y.squeeze(1) if one_query else y
    return f


CASES = [
    {"name": "attention_dot", "spec": "attention", "shapes": ["5,8", "7,8"], "B": 3,
     "torch": attention()},
    {"name": "attention_scaled_dot_key", "spec": "attention score=scaled_dot",
     "shapes": ["5,8", "7,6", "7,8"], "B": 3, "torch": attention("scaled_dot")},
    {"name": "attention_general", "spec": "attention score=general",
     "shapes": ["5,6", "7,3", "7,4"], "B": 3, "torch": attention("general")},
    {"name": "attention_general_2_inputs", "spec": "attention score=general",
     "shapes": ["4,5", "6,5"], "B": 2, "torch": attention("general")},
    # padded keys: the value's lengths mask them; the query's own lengths change nothing
    {"name": "attention_value_lengths", "spec": "attention score=scaled_dot",
     "shapes": ["5,8", "7,8"], "B": 3, "lengths": [[5, 2, 4], [7, 2, 5]],
     "torch": attention("scaled_dot")},
    {"name": "attention_key_lengths_3_inputs", "spec": "attention",
     "shapes": ["5,4", "7,3", "7,4"], "B": 3, "lengths": [None, [1, 7, 3], [1, 7, 3]],
     "torch": attention()},
    {"name": "attention_causal", "spec": "attention causal=true score=scaled_dot",
     "shapes": ["6,4", "6,4"], "B": 3, "torch": attention("scaled_dot", causal=True)},
    {"name": "attention_causal_lengths_general", "spec": "attention causal=true score=general",
     "shapes": ["6,4", "6,3", "6,5"], "B": 3, "lengths": [[6, 3, 1], [6, 3, 1], [6, 3, 1]],
     "torch": attention("general", causal=True)},
    {"name": "attention_one_query_step", "spec": "attention",
     "shapes": ["8", "7,3", "7,8"], "B": 4, "lengths": [None, [7, 1, 4, 6], [7, 1, 4, 6]],
     "torch": attention()},
]
