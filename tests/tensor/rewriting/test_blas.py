"""Tests of minigraph.tensor.rewriting.blas, the "gemm" rule: dot(x, W) + b -> DotAdd, same
values, switchable off."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.tensor.blas import DotAdd


def _ops(f):
    return [type(n.op).__name__ for n in f.fgraph.toposort()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_plus_bias_becomes_dotadd(dtype):
    seed = np.random.SeedSequence().entropy % 2**32
    print("seed", seed)
    rng = np.random.default_rng(seed)
    x, W, b = T.matrix("x", dtype=dtype), T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype)
    y = T.tanh(T.dot(x, W) + b)
    f = theano.function([x, W, b], y)
    assert "DotAdd" in _ops(f) and "Dot" not in _ops(f)
    # the bias vector goes in as it is, not made a row by a DimShuffle node first
    dotadd = next(n for n in f.fgraph.toposort() if isinstance(n.op, DotAdd))
    assert "DimShuffle" not in _ops(f) and dotadd.inputs[2].name == "b"
    xv, Wv, bv = (rng.normal(size=s).astype(dtype) for s in [(5, 4), (4, 3), (3,)])
    np.testing.assert_allclose(f(xv, Wv, bv), np.tanh(xv @ Wv + bv), rtol=1e-5)


def test_gemm_rewrite_can_be_switched_off_and_respects_other_readers():
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b")
    d = T.dot(x, W)
    f_off = theano.function([x, W, b], d + b, mode=theano.Mode().excluding("gemm"))
    assert "DotAdd" not in _ops(f_off)
    # the product is also an output: rewriting would compute it twice, so it must not fire
    f_both = theano.function([x, W, b], [d + b, d])
    assert "DotAdd" not in _ops(f_both)
    rng = np.random.default_rng(0)
    xv, Wv, bv = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    r1, r2 = f_both(xv, Wv, bv)
    np.testing.assert_allclose(r1, xv @ Wv + bv)
    np.testing.assert_allclose(r2, xv @ Wv)


def test_dotadd_gradient_matches_unfused():
    rng = np.random.default_rng(1)
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b")
    cost = T.sum(T.tanh(T.dot(x, W) + b) ** 2)
    grads = theano.grad(cost, [x, W, b])
    f = theano.function([x, W, b], grads)
    g = theano.function([x, W, b], grads, mode=theano.Mode().excluding("gemm"))
    vals = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)
    for a, e in zip(f(*vals), g(*vals)):
        np.testing.assert_allclose(a, e, rtol=1e-12)


def test_dotadd_own_gradient_by_finite_differences():
    from minigraph.gradient import verify_grad

    def build(x, W, b):
        return DotAdd()(x, W, b)

    rng = np.random.default_rng(2)
    verify_grad(build, [rng.normal(size=(3, 2)), rng.normal(size=(2, 4)), rng.normal(size=4)],
                rng=rng)
