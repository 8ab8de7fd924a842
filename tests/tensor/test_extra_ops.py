"""Tests of minigraph.tensor.extra_ops (Theano's home of to_one_hot and arange)."""

import numpy as np

import minigraph.tensor as T
from minigraph.tensor import extra_ops


def test_to_one_hot(rng):
    y = T.lvector("y")
    yv = rng.integers(0, 5, 7)
    out = extra_ops.to_one_hot(y, 5)
    assert out.type.shape == (None, 5)
    assert np.array_equal(out.eval({y: yv}), np.eye(5)[yv])
    assert extra_ops.to_one_hot(y, 3, dtype="int32").eval({y: [2, 0]}).tolist() == [[0, 0, 1],
                                                                                   [1, 0, 0]]


def test_arange():
    n = T.lscalar("n")
    assert extra_ops.arange(n).eval({n: 4}).tolist() == [0, 1, 2, 3]
