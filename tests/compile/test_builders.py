"""Tests of minigraph.compile.builders: OpFromGraph runs an inner graph as one op."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad


def _layer():
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b")
    h = T.tanh(T.dot(x, W) + b)
    return theano.OpFromGraph([x, W, b], [h, h.sum()])


def test_forward_matches_the_inner_graph(rng):
    op = _layer()
    x, W, b = T.dmatrix(), T.dmatrix(), T.dvector()
    h, s = op(x, W, b)
    xv, Wv, bv = rng.standard_normal((1, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    got_h, got_s = theano.function([x, W, b], [h, s])(xv, Wv, bv)
    want = np.tanh(xv @ Wv + bv)
    np.testing.assert_allclose(got_h, want, rtol=1e-14)
    np.testing.assert_allclose(got_s, want.sum(), rtol=1e-14)


def test_gradient_is_the_inner_graphs_gradient(rng):
    op = _layer()
    xv, Wv, bv = rng.standard_normal((2, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    verify_grad(lambda x, W, b: op(x, W, b)[0], [xv, Wv, bv], rng=rng)
    verify_grad(lambda x, W, b: op(x, W, b)[1] * op(x, W, b)[0], [xv, Wv, bv], rng=rng)


def test_two_ops_with_equal_graphs_are_not_merged_and_types_are_checked(rng):
    a = T.dvector("a")
    double, triple = theano.OpFromGraph([a], [2 * a]), theano.OpFromGraph([a], [3 * a])
    same_shape = theano.OpFromGraph([a], [2 * a])
    assert double != same_shape
    v = T.dvector("v")
    f = theano.function([v], [double(v), same_shape(v), triple(v)])
    got = f(np.array([1.0, 2.0]))
    assert [g.tolist() for g in got] == [[2.0, 4.0], [2.0, 4.0], [3.0, 6.0]]
    with pytest.raises(GraphError, match="input 0 must be float64"):
        double(T.fvector())
    with pytest.raises(GraphError, match="free input"):
        theano.OpFromGraph([a * 2], [a])
    with pytest.raises(GraphError, match="grad_overrides are not supported"):
        theano.OpFromGraph([a], [a * 2], grad_overrides=lambda i, g: g)


def test_integer_inputs_get_no_gradient(rng):
    x, i = T.dvector("x"), T.lvector("i")
    pick = theano.OpFromGraph([x, i], [x[i] * 2])
    xv = rng.standard_normal(4)
    g = theano.grad(pick(x, i).sum(), x)
    np.testing.assert_array_equal(g.eval({x: xv, i: np.array([0, 0, 3])}), [4.0, 0, 0, 2.0])
