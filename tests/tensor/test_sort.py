"""Tests of minigraph.tensor.sort: T.sort and T.argsort, with the sort gradient."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_sort_and_argsort_match_numpy(axis, dtype, rng):
    xv = (rng.standard_normal((3, 5)) * 10).astype(dtype)
    x = T.tensor(dtype, (None, None), name="x")
    s, a = T.sort(x, axis=axis), T.argsort(x, axis=axis, kind="stable")
    assert s.dtype == dtype and a.dtype == "int64"
    np.testing.assert_array_equal(s.eval({x: xv}), np.sort(xv, axis=axis))
    np.testing.assert_array_equal(a.eval({x: xv}), np.argsort(xv, axis=axis, kind="stable"))


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_sort_gradient(axis, rng):
    xv = rng.standard_normal((3, 4))
    verify_grad(lambda a: T.sort(a, axis=axis), [xv], rng=rng)
    # second order: the gradient of the gradient routes back through the same permutation
    w = rng.standard_normal(xv.size if axis is None else xv.shape)
    verify_grad(lambda a: T.grad(T.sum(T.sort(a, axis=axis) ** 2 * w), a), [xv], rng=rng)


def test_sort_vector_batch_one_and_bad_args():
    v = T.fvector("v")
    assert T.sort(v).eval({v: np.array([2.0], "float32")}).tolist() == [2.0]
    with pytest.raises(GraphError, match="out of range"):
        T.sort(v, axis=1)
    with pytest.raises(GraphError, match="kind"):
        T.argsort(v, kind="bogus")
    with pytest.raises(GraphError, match="scalar"):
        T.sort(T.fscalar(), axis=0)
