"""The merge layers (add, subtract, multiply, average, concatenate) against torch's elementwise
operations and torch.cat on the last axis: each output value from 2 to 8 inputs, every input's
gradient."""
import functools
import operator

import torch


def add(xs, p, lengths):
    return functools.reduce(operator.add, xs)


def multiply(xs, p, lengths):
    return functools.reduce(operator.mul, xs)


def average(xs, p, lengths):
    return add(xs, p, lengths) / len(xs)


def concatenate(xs, p, lengths):
    return torch.cat(xs, dim=-1)


CASES = [
    {"name": "add_2", "spec": "add", "shapes": ["5,8", "5,8"], "B": 3, "torch": add},
    {"name": "add_8_vectors", "spec": "add", "shapes": ["6"] * 8, "B": 4, "torch": add},
    {"name": "subtract_images", "spec": "subtract", "shapes": ["3,4,2", "3,4,2"], "B": 2,
     "torch": lambda xs, p, n: xs[0] - xs[1]},
    {"name": "multiply_3", "spec": "multiply", "shapes": ["4,3"] * 3, "B": 3, "torch": multiply},
    {"name": "average_3", "spec": "average", "shapes": ["6"] * 3, "B": 5, "torch": average},
    # padded steps are merged like the others: lengths change nothing
    {"name": "average_with_lengths", "spec": "average", "shapes": ["5,2", "5,2"], "B": 3,
     "lengths": [[5, 1, 3], [5, 1, 3]], "torch": average},
    {"name": "concatenate_sequences", "spec": "concatenate", "shapes": ["5,8", "5,4"], "B": 3,
     "torch": concatenate},
    {"name": "concatenate_images", "spec": "concatenate", "shapes": ["3,4,2", "3,4,5", "3,4,1"],
     "B": 2, "torch": concatenate},
    {"name": "concatenate_vectors", "spec": "concatenate", "shapes": ["7", "1", "3"], "B": 4,
     "torch": concatenate},
]
