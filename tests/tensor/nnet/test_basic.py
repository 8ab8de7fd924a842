"""Tests of minigraph.tensor.nnet.basic: softmax, log_softmax, cross-entropies, one-hot, and
their stability for large inputs (values and gradients)."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError

HERE = os.path.basename(__file__)
nnet = T.nnet


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_and_log_softmax_rows(rng):
    m = T.dmatrix("m")
    mv = rng.standard_normal((4, 5))
    sm, lsm = theano.function([m], [nnet.softmax(m), nnet.log_softmax(m)])(mv)
    np.testing.assert_allclose(sm, softmax(mv), rtol=1e-14)
    np.testing.assert_allclose(lsm, np.log(softmax(mv)), rtol=1e-13)
    np.testing.assert_allclose(sm.sum(axis=1), 1.0, rtol=1e-15)


def test_softmax_of_a_vector_is_one_row_as_in_theano(rng):
    v = T.fvector("v")
    out = nnet.softmax(v)
    assert out.type.shape == (1, None) and out.dtype == "float32"
    vv = rng.standard_normal(3).astype("float32")
    np.testing.assert_allclose(out.eval({v: vv}), softmax(vv[None]), rtol=1e-6)


def test_softmax_errors():
    with pytest.raises(GraphError, match=f"softmax needs a float tensor.*int32.*{HERE}:"):
        nnet.softmax(T.imatrix("i"))
    with pytest.raises(GraphError, match="last axis"):
        nnet.softmax(T.dtensor3(), axis=0)


def test_categorical_crossentropy_with_integer_and_one_hot_targets(rng):
    m, y, t = T.dmatrix("m"), T.ivector("y"), T.dmatrix("t")
    mv = rng.standard_normal((4, 3))
    yv = rng.integers(0, 3, 4).astype("int32")
    p = nnet.softmax(m)
    f = theano.function([m, y, t], [nnet.categorical_crossentropy(p, y),
                                    nnet.categorical_crossentropy(p, t)])
    want = -np.log(softmax(mv)[np.arange(4), yv])
    a, b = f(mv, yv, np.eye(3)[yv])
    np.testing.assert_allclose(a, want, rtol=1e-13)
    np.testing.assert_allclose(b, want, rtol=1e-13)


def test_binary_crossentropy(rng):
    p, t, x = T.dvector("p"), T.dvector("t"), T.dvector("x")
    pv, tv, xv = rng.random(5) * 0.9 + 0.05, rng.random(5), rng.standard_normal(5)
    f = theano.function([p, t, x], [nnet.binary_crossentropy(p, t),
                                    nnet.binary_crossentropy(nnet.sigmoid(x), t),
                                    nnet.sigmoid_binary_crossentropy(x, t)])
    a, b, c = f(pv, tv, xv)
    np.testing.assert_allclose(a, -(tv * np.log(pv) + (1 - tv) * np.log(1 - pv)), rtol=1e-13)
    s = 1 / (1 + np.exp(-xv))
    want = -(tv * np.log(s) + (1 - tv) * np.log(1 - s))
    np.testing.assert_allclose(b, want, rtol=1e-12)
    np.testing.assert_allclose(c, want, rtol=1e-12)


def test_one_hot(rng):
    y = T.ivector("y")
    yv = rng.integers(0, 4, 6).astype("int32")
    out = T.extra_ops.to_one_hot(y, 4)
    assert out.dtype == theano.config.floatX and out.type.shape == (None, 4)
    assert np.array_equal(out.eval({y: yv}), np.eye(4)[yv])
    assert nnet.to_one_hot(y, 4, dtype="int8").eval({y: yv}).dtype == np.int8
    with pytest.raises(GraphError, match=f"to_one_hot needs an int vector.*{HERE}:"):
        nnet.to_one_hot(T.dvector(), 3)
    with pytest.raises(IndexError, match=f"index 4 out of range for 4 classes.*{HERE}:"):
        out.eval({y: np.array([4], "int32")})


def test_crossentropy_bad_inputs():
    m = T.dmatrix("m")
    with pytest.raises(GraphError, match=f"integer targets must be an int vector.*{HERE}:"):
        nnet.categorical_crossentropy(nnet.softmax(m), T.dvector("v"))
    with pytest.raises(GraphError, match="predictions must be a matrix"):
        nnet.categorical_crossentropy(T.dtensor3("p"), T.ivector("y"))
    y = T.ivector("y")
    f = theano.function([m, y], nnet.categorical_crossentropy(nnet.softmax(m), y))
    with pytest.raises(IndexError, match=f"target 9 out of range for 3 classes.*{HERE}:"):
        f(np.zeros((2, 3)), np.array([0, 9], "int32"))
    with pytest.raises(ValueError, match=f"2 rows of predictions but 3 targets.*{HERE}:"):
        f(np.zeros((2, 3)), np.array([0, 1, 2], "int32"))


def _all_finite(values):
    return all(np.all(np.isfinite(v)) for v in values)


def test_large_logits_give_finite_values_and_gradients(rng):
    m, y, t = T.dmatrix("m"), T.ivector("y"), T.dmatrix("t")
    mv = rng.standard_normal((4, 3)) * 1000
    yv = np.argmin(mv, axis=1).astype("int32")  # the least likely class: a huge loss
    p = nnet.softmax(m)
    costs = [T.sum(nnet.categorical_crossentropy(p, y)),
             T.sum(nnet.categorical_crossentropy(p, t)), T.sum(T.log(p))]
    outs = costs + [T.grad(c, m) for c in costs]
    got = theano.function([m, y, t], outs)(mv, yv, np.eye(3)[yv])
    assert _all_finite(got)
    top = mv.max(axis=1)  # the exact -log softmax: a near-tie for the max adds up to log 2
    want = -np.sum(mv[np.arange(4), yv] - top - np.log(np.exp(mv - top[:, None]).sum(axis=1)))
    assert got[0] == pytest.approx(want, rel=1e-9) and got[1] == pytest.approx(want, rel=1e-9)
    g_int, g_hot = got[3], got[4]
    np.testing.assert_allclose(g_int, softmax(mv) - np.eye(3)[yv], atol=1e-12)
    np.testing.assert_allclose(g_hot, g_int, atol=1e-12)


def test_large_inputs_to_sigmoid_losses_stay_finite():
    x, t = T.dvector("x"), T.dvector("t")
    xv = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    tv = np.array([1.0, 1.0, 0.5, 0.0, 0.0])
    s = nnet.sigmoid(x)
    costs = [T.sum(T.log(s)), T.sum(T.log(1 - s)), T.sum(nnet.binary_crossentropy(s, t))]
    got = theano.function([x, t], costs + [T.grad(c, x) for c in costs],
                          on_unused_input="ignore")(xv, tv)
    assert _all_finite(got)
    assert got[0] == pytest.approx(-1000 - 30 - np.log(2) - np.log1p(np.exp(-30)), rel=1e-12)
    np.testing.assert_allclose(got[3], np.exp(-np.logaddexp(0, xv)), atol=1e-12)  # 1 - sigmoid


def _np_ultra_fast_sigmoid(x):
    # Theano's formula, written from its documentation: an approximate tanh of x / 2
    u = 0.5 * x
    a = np.abs(u)
    t = np.where(a < 1.7, 1.5 * a / (1 + a),
                 np.where(a < 3, 0.935409070603099 + 0.0458812946797165 * (a - 1.7),
                          0.99505475368673))
    return 0.5 * (np.sign(u) * t + 1)


def _np_ultra_fast_sigmoid_grad(x):
    a = np.abs(0.5 * x)
    dt = np.where(a < 1.7, 1.5 / (1 + a) ** 2, np.where(a < 3, 0.0458812946797165, 0.0))
    return 0.25 * dt


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hard_and_ultra_fast_sigmoid_follow_theanos_formulas(rng, dtype):
    x = T.vector("x", dtype=dtype)
    xv = np.concatenate([rng.uniform(-9, 9, 37), [0.0, -2.5, 2.5, 3.4, -3.4, 6.0, 7.0]])
    xv = xv.astype(dtype)
    cost_h, cost_u = T.sum(nnet.hard_sigmoid(x)), T.sum(nnet.ultra_fast_sigmoid(x))
    f = theano.function([x], [nnet.hard_sigmoid(x), nnet.ultra_fast_sigmoid(x),
                              theano.grad(cost_h, x), theano.grad(cost_u, x)])
    hard, ultra, g_hard, g_ultra = f(xv)
    assert hard.dtype == ultra.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(hard, np.clip(0.2 * xv.astype(float) + 0.5, 0, 1), atol=tol)
    np.testing.assert_allclose(ultra, _np_ultra_fast_sigmoid(xv.astype(float)), atol=tol)
    inside = np.abs(xv) < 2.5
    np.testing.assert_allclose(g_hard[np.abs(xv) != 2.5], np.where(inside, 0.2, 0.0)[
        np.abs(xv) != 2.5], atol=tol)
    np.testing.assert_allclose(g_ultra, _np_ultra_fast_sigmoid_grad(xv.astype(float)),
                               atol=tol, rtol=1e-5)
    assert float(g_ultra[list(xv).index(0.0)]) == pytest.approx(0.375)
    # approximations of the sigmoid, not the sigmoid itself
    exact = 1 / (1 + np.exp(-xv.astype(float)))
    assert 0.01 < np.abs(ultra - exact).max() < 0.03 and np.abs(hard - exact).max() > 0.04


def test_approximate_sigmoids_by_finite_differences_and_for_ints(rng):
    # points away from the kinks (|x| = 2.5 for hard, |x| = 3.4 and 6 for ultra_fast)
    pts = np.array([-5.0, -2.9, -1.2, -0.3, 0.4, 1.9, 3.0, 4.5, 8.0])
    theano.gradient.verify_grad(nnet.ultra_fast_sigmoid, [pts], rng=rng)
    theano.gradient.verify_grad(nnet.hard_sigmoid, [pts[np.abs(np.abs(pts) - 2.5) > 0.2]],
                                rng=rng)
    i = T.ivector("i")
    out = nnet.ultra_fast_sigmoid(i)
    assert out.dtype == "float64" and nnet.hard_sigmoid(T.bvector()).dtype == "float32"
    np.testing.assert_allclose(out.eval({i: np.array([0, 2], "int32")}), [0.5, 0.875])
