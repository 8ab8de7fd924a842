"""``T.nnet.dropout_dot``: values against NumPy, gradients by finite differences, bad input,
and that a compiled gradient keeps no dropped-out copy of the input."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.gradient import verify_grad
from minigraph.graph.basic import GraphError
from minigraph.tensor.nnet.dropout import DropoutDot, DropoutDotGradW


def _data(rng, N=7, K=5, M=4, dtype="float64"):
    x = rng.standard_normal((N, K)).astype(dtype)
    mask = (rng.random((N, K)) < 0.7).astype(np.int8)
    W = rng.standard_normal((K, M)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    return x, mask, W, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_and_gradients_match_numpy(rng, dtype):
    x, mask, W, b = _data(rng, dtype=dtype)
    scale = 1 / 0.7
    vx, vm, vW, vb = T.matrix("x", dtype=dtype), T.bmatrix("m"), T.matrix("W", dtype=dtype), \
        T.vector("b", dtype=dtype)
    y = T.nnet.dropout_dot(vx, vm, vW, vb, scale=scale)
    cost = (y * y).sum()
    f = theano.function([vx, vm, vW, vb], [y] + theano.grad(cost, [vx, vW, vb]))
    got_y, gx, gW, gb = f(x, mask, W, b)
    dropped = x * mask * np.asarray(scale, dtype)
    want_y = dropped @ W + b
    g = 2 * want_y
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_y, want_y, **tol)
    np.testing.assert_allclose(gx, (g @ W.T) * mask * scale, **tol)
    np.testing.assert_allclose(gW, dropped.T @ g, **tol)
    np.testing.assert_allclose(gb, g.sum(axis=0), **tol)
    assert got_y.dtype == gx.dtype == gW.dtype == np.dtype(dtype)


def test_gradients_match_finite_differences(rng):
    x, mask, W, b = _data(rng)
    verify_grad(lambda x, W, b: T.tanh(T.nnet.dropout_dot(x, T.constant(mask), W, b, 1.25)),
                [x, W, b], rng=rng)


def test_the_backward_recomputes_instead_of_keeping_the_dropped_input(rng):
    x, mask, W, b = _data(rng)
    vx, vm, vW, vb = T.dmatrix("x"), T.bmatrix("m"), T.dmatrix("W"), T.dvector("b")
    y = T.nnet.dropout_dot(T.tanh(vx), vm, vW, vb, 2.0)
    f = theano.function([vx, vm, vW, vb], [y.sum()] + theano.grad(y.sum(), [vx, vW]))
    ops = [type(n.op) for n in f._linked.order]
    assert ops.count(DropoutDot) == 1 and ops.count(DropoutDotGradW) == 1
    # one forward op and one weight-gradient op: no separate dropped-out array in between
    _, gx, gW = f(x, mask, W, b)
    t = np.tanh(x)
    np.testing.assert_allclose(gW, (t * mask * 2.0).T @ np.ones((7, 4)), rtol=1e-12)
    np.testing.assert_allclose(gx, (np.ones((7, 4)) @ W.T) * mask * 2.0 * (1 - t * t),
                               rtol=1e-12)


def test_bad_input_names_the_problem():
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b")
    with pytest.raises(GraphError, match="mask must be 2-d"):
        T.nnet.dropout_dot(x, T.bvector("m"), W, b)
    with pytest.raises(GraphError, match="share one float dtype"):
        T.nnet.dropout_dot(x, T.bmatrix("m"), T.fmatrix("W"), b)
    with pytest.raises(GraphError, match="not aligned"):
        T.nnet.dropout_dot(T.matrix("x", shape=(2, 3)), T.bmatrix("m"),
                           T.matrix("W", shape=(4, 5)), T.vector("b"))
    m = T.bmatrix("m")
    f = theano.function([x, m, W, b], T.nnet.dropout_dot(x, m, W, b))
    with pytest.raises(ValueError, match="mask must have the input's shape"):
        f(np.ones((2, 3)), np.ones((3, 2), np.int8), np.ones((3, 4)), np.ones(4))
    with pytest.raises(ValueError, match="do not fit"):
        f(np.ones((2, 3)), np.ones((2, 3), np.int8), np.ones((4, 4)), np.ones(4))
    with pytest.raises(ValueError, match=r"b \(5,\)"):
        f(np.ones((2, 3)), np.ones((2, 3), np.int8), np.ones((3, 4)), np.ones(5))
    with pytest.raises(GraphError, match="W's 5 columns"):
        T.nnet.dropout_dot(x, m, T.matrix("W", shape=(3, 5)), T.vector("b", shape=(4,)))
