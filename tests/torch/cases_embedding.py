"""embedding (core/layer_embedding.c) against torch.nn.functional.embedding: x is int32 token ids
(the case key "ids" = V), y the looked-up rows, dW the scatter-add of dy (repeated ids add up,
B T > V).  padding_idx: the row gets no gradient (its stored vector is still looked up; dptrain
initialises it to zero).  trainable=false: no gradient at all.  Every value of y is a copy and
every dW entry a sum of a few dy values: exact up to a few float32 roundings."""
import torch.nn.functional as F


CASES = [
    {"name": "embedding", "spec": "embedding vocab_size=7 dim=4", "shape": "10", "B": 3,
     "ids": 7, "torch": lambda x, p: F.embedding(x, p["W"])},
    {"name": "embedding_padding", "spec": "embedding vocab_size=7 dim=4 padding_id=2",
     "shape": "10", "B": 3, "ids": 7,
     "torch": lambda x, p: F.embedding(x, p["W"], padding_idx=2)},
    {"name": "embedding_column_ids", "spec": "embedding vocab_size=5 dim=3", "shape": "6,1",
     "B": 4, "ids": 5, "torch": lambda x, p: F.embedding(x.squeeze(-1), p["W"])},
    {"name": "embedding_one_id", "spec": "embedding vocab_size=9 dim=5", "shape": "1", "B": 5,
     "ids": 9, "torch": lambda x, p: F.embedding(x.squeeze(-1), p["W"])},
    {"name": "embedding_frozen", "spec": "embedding vocab_size=6 dim=2 trainable=false",
     "shape": "8", "B": 2, "ids": 6, "torch": lambda x, p: F.embedding(x, p["W"].detach())},
]
