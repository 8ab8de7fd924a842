"""Tests of minigraph/ifelse.py: ``theano.ifelse.ifelse``."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.gradient import verify_grad
from minigraph.graph.basic import GraphError
from minigraph.ifelse import ifelse


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_picks_a_whole_branch_of_any_shape(dtype, rng):
    c = T.iscalar("c")
    x, y = T.matrix("x", dtype=dtype), T.vector("y", dtype=dtype)
    f = theano.function([c, x, y], ifelse(c, x.sum(axis=0), y * 2))
    xv = rng.standard_normal((3, 5)).astype(dtype)
    yv = rng.standard_normal(1).astype(dtype)  # a shape switch cannot broadcast with (5,)
    out = f(1, xv, yv)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, xv.sum(axis=0))
    np.testing.assert_array_equal(f(0, xv, yv), yv * 2)


def test_lists_upcast_and_names():
    a, b = T.dscalar("a"), T.fvector("b")
    outs = ifelse(T.gt(a, 0), [a, b], [a * 2, b + 1], name="pick")
    assert isinstance(outs, list) and [o.name for o in outs] == ["pick[0]", "pick[1]"]
    f = theano.function([a, b], outs)
    bv = np.array([1, 2], dtype="float32")
    np.testing.assert_array_equal(f(-3.0, bv)[0], -6.0)
    np.testing.assert_array_equal(f(3.0, bv)[1], bv)


def test_output_does_not_alias_an_input():
    x = T.dvector("x")
    f = theano.function([x], ifelse(T.constant(1), x, x + 1))
    xv = np.ones(3)
    out = f(xv)
    out[0] = 5.0
    assert xv[0] == 1.0


@pytest.mark.parametrize("cond", [0, 1])
def test_gradient_flows_to_the_chosen_branch(cond):
    rng = np.random.default_rng(3)
    verify_grad(lambda x, y: ifelse(T.constant(cond), T.tanh(x) * 2, y[:4] ** 2),
                [rng.standard_normal(4), rng.standard_normal(5)], rng=rng)
    x, y = T.dvector("x"), T.dvector("y")
    gx, gy = T.grad(ifelse(T.constant(cond), x, y).sum(), [x, y])
    got = theano.function([x, y], [gx, gy])(np.ones(2), np.ones(2))
    np.testing.assert_array_equal(got[0], [cond] * 2)
    np.testing.assert_array_equal(got[1], [1 - cond] * 2)


def test_bad_input_is_named():
    with pytest.raises(GraphError, match="condition must be a scalar"):
        ifelse(T.dvector(), T.dscalar(), T.dscalar())
    with pytest.raises(GraphError, match="differ in rank"):
        ifelse(T.iscalar(), T.dvector(), T.dmatrix())
    with pytest.raises(GraphError, match="'else' values"):
        ifelse(T.iscalar(), [T.dvector()], [T.dvector(), T.dvector()])
