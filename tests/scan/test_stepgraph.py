"""Tests of minigraph.scan.stepgraph: the clone memo, views, and slice gradients joined."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import toposort
from minigraph.scan.stepgraph import clone_with_memo, is_view, join_slice_grads


def _ops(values):
    return [type(n.op).__name__ for n in toposort([v for v in values if v is not None])]


def _gates(g, H, stops):
    """Column slices of ``g`` at ``stops`` (the last one open-ended)."""
    bounds = [0] + list(stops)
    return [g[:, a:b] for a, b in zip(bounds, bounds[1:])] + [g[:, bounds[-1]:]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_slices_that_tile_an_axis_get_one_join(rng, dtype):
    x, W = T.matrix("x", dtype=dtype), T.matrix("W", dtype=dtype)
    g = x + T.dot(x, W)  # the gradient reaches g twice: directly and through the product
    i, f, u, o = _gates(g, 3, [3, 6, 9])
    c = (T.nnet.sigmoid(i) * T.tanh(u) + T.nnet.sigmoid(f) * 2) * T.nnet.sigmoid(o)
    grads = theano.grad((c ** 2).sum(), [x, W])
    joined = join_slice_grads(grads)
    assert "IncSubtensor" in _ops(grads) and "IncSubtensor" not in _ops(joined)
    assert _ops(joined).count("Join") == 1
    vals = [rng.normal(size=(1, 12)).astype(dtype), rng.normal(size=(12, 12)).astype(dtype)]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, b in zip(theano.function([x, W], grads)(*vals),
                    theano.function([x, W], joined)(*vals)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_slices_with_a_gap_or_overlap_stay(rng):
    g = T.dmatrix("g")
    for parts in ([g[:, :2], g[:, 3:]], [g[:, :2], g[:, 1:]], [g[:, :2], g[:, 2:5]]):
        cost = sum((T.tanh(p) ** 2).sum() for p in parts)
        [grad] = theano.grad(cost, [g])
        [same] = join_slice_grads([grad])
        assert same is grad


def test_clone_memo_and_views():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    e = T.exp(x)
    memo = {}
    [out] = clone_with_memo([e[:, 1:] + x.T[:, :1]], {x: y}, memo)
    assert memo[x] is y and memo[e].owner.inputs[0] is y
    assert is_view(x.T[1:, :2]) and is_view(T.shape(x)) and not is_view(e[:, 1:])
    np.testing.assert_allclose(theano.function([y], out)(np.eye(2)),
                               np.exp(np.eye(2))[:, 1:] + np.eye(2)[:, :1])


def test_an_integer_index_next_to_slices_is_not_a_slice(rng):
    g = T.dmatrix("g")
    cost = (T.tanh(g[0]) ** 2).sum() + (g[:, :2] * 3).sum()  # g[0]: an int entry, no slice
    [grad] = theano.grad(cost, [g])
    [same] = join_slice_grads([grad])
    assert same is grad
    v = rng.normal(size=(3, 4))
    want = np.zeros((3, 4))
    want[0] = 2 * np.tanh(v[0]) * (1 - np.tanh(v[0]) ** 2)
    want[:, :2] += 3
    np.testing.assert_allclose(theano.function([g], same)(v), want, rtol=1e-12)
