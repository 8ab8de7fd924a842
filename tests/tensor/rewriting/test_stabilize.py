"""Tests of minigraph.tensor.rewriting.stabilize: each rule alone, asserting the graph after
its pass and one value; that FAST_RUN uses them and a rule can be switched off by name."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.mode import FAST_RUN
from minigraph.gradient import verify_grad
from minigraph.tensor.nnet.basic import (CrossentropySoftmax, CrossentropySoftmaxGrad,
                                         LogSoftmax, SoftmaxGrad)

from .utils import _classes, _compile, _ops

nnet = T.nnet


def test_log_of_softmax(rng):
    m = T.dmatrix("m")
    f = _compile([m], T.log(nnet.softmax(m)), "stabilize")
    assert _classes(f) == [LogSoftmax]
    mv = rng.standard_normal((2, 3)) * 1000
    assert np.all(np.isfinite(f(mv)))
    np.testing.assert_allclose(f(mv), mv - mv.max(1, keepdims=True) - np.log(
        np.exp(mv - mv.max(1, keepdims=True)).sum(1, keepdims=True)), rtol=1e-12)


def test_crossentropy_of_softmax(rng):
    m, y = T.dmatrix("m"), T.ivector("y")
    f = _compile([m, y], nnet.categorical_crossentropy(nnet.softmax(m), y), "stabilize")
    assert _classes(f) == [CrossentropySoftmax]
    assert f(np.array([[0.0, 2000.0]]), np.array([0], "int32")).tolist() == [2000.0]


@pytest.mark.parametrize("build, want", [
    (lambda x: T.log(nnet.sigmoid(x)), lambda v: -np.logaddexp(0, -v)),
    (lambda x: T.log(1 - nnet.sigmoid(x)), lambda v: -np.logaddexp(0, v)),
    (lambda x: T.log1p(-nnet.sigmoid(x)), lambda v: -np.logaddexp(0, v)),
])
def test_log_of_sigmoid_forms(build, want):
    x = T.dvector("x")
    f = _compile([x], build(x), "stabilize")
    assert "sigmoid" not in _ops(f) and "softplus" in _ops(f)
    xv = np.array([-800.0, -1.0, 0.5, 800.0])
    np.testing.assert_allclose(f(xv), want(xv), rtol=1e-14)


def test_log_softmax_grad(rng):
    m = T.dmatrix("m")
    g = T.grad(T.sum(T.log(nnet.softmax(m)) * [1.0, 2.0, 3.0]), m)
    assert SoftmaxGrad in _classes(_compile([m], g))
    f = _compile([m], g, "stabilize")
    assert SoftmaxGrad not in _classes(f)
    mv = rng.standard_normal((2, 3)) * 1000
    sm = np.exp(mv - mv.max(1, keepdims=True))
    sm /= sm.sum(1, keepdims=True)
    np.testing.assert_allclose(f(mv), [1.0, 2.0, 3.0] - 6.0 * sm, atol=1e-12)


def test_crossentropy_softmax_grad(rng):
    m, y = T.dmatrix("m"), T.ivector("y")
    g = T.grad(T.sum(nnet.categorical_crossentropy(nnet.softmax(m), y)), m)
    f = _compile([m, y], g, "stabilize")
    assert CrossentropySoftmaxGrad in _classes(f) and SoftmaxGrad not in _classes(f)
    got = f(np.array([[0.0, 2000.0], [3.0, 3.0]]), np.array([0, 1], "int32"))
    np.testing.assert_allclose(got, [[-1.0, 1.0], [0.5, -0.5]], atol=1e-15)


def test_div_mul_cancel():
    x, b = T.dvector("x"), T.dvector("b")
    f = _compile([x, b], -(x / b) * x * b, "stabilize")
    assert "true_div" not in _ops(f)
    np.testing.assert_allclose(f(np.array([2.0, 3.0]), np.zeros(2)), [-4.0, -9.0])
    keep = _compile([x, b], (x / b) * x, "stabilize")  # nothing to cancel
    assert "true_div" in _ops(keep)


def test_one_rewrite_can_be_excluded_by_name():
    m = T.dmatrix("m")
    f = _compile([m], T.log(nnet.softmax(m)), "stabilize", exclude=["log_of_softmax"])
    assert LogSoftmax not in _classes(f)
    g = theano.function([m], T.log(nnet.softmax(m)), mode=FAST_RUN.excluding("stabilize"))
    assert LogSoftmax not in _classes(g)
    h = theano.function([m], T.log(nnet.softmax(m)))  # FAST_RUN includes stabilize
    assert LogSoftmax in _classes(h)



# ---- the hand-written sigmoid cross-entropy (issue 15): forward forms and gradients ----------

# where exp(-z) overflows (float32 from |z| > 88, float64 from 709) and the sigmoid rounds to
# 0 or 1: the naive forms give inf or nan
Z = np.array([-1000.0, -100.0, -40.0, -3.0, 0.0, 3.0, 40.0, 100.0, 1000.0])
Y = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-15)}


def _expit(z):
    """A stable float64 reference sigmoid."""
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


SIGMOID_FORMS = {
    "sigmoid": lambda z: nnet.sigmoid(z),
    "1/(1+exp(-z))": lambda z: 1 / (1 + T.exp(-z)),
    "1/(exp(-z)+1)": lambda z: 1 / (T.exp(-z) + 1),
    "(1+exp(-z))**-1": lambda z: (1 + T.exp(-z)) ** -1,
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("build", [lambda z: 1 / (1 + T.exp(-z)), lambda z: 1 / (T.exp(-z) + 1),
                                   lambda z: (1 + T.exp(-z)) ** -1,
                                   lambda z: 1 - 1 / (1 + T.exp(z))])
def test_sigmoid_of_exp(build, dtype):
    z = T.vector("z", dtype=dtype)
    f = _compile([z], build(z), "canonicalize", "constant_folding", "stabilize")
    assert "sigmoid" in _ops(f) and "exp" not in _ops(f)
    got = f(Z.astype(dtype))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, _expit(Z), **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("build", [lambda z: T.log(1 + T.exp(z)), lambda z: T.log(T.exp(z) + 1),
                                   lambda z: T.log1p(T.exp(z))])
def test_log1p_exp_to_softplus(build, dtype):
    z = T.vector("z", dtype=dtype)
    f = _compile([z], build(z), "stabilize")
    assert _ops(f) == ["softplus"]
    np.testing.assert_allclose(f(Z.astype(dtype)), np.logaddexp(0, Z), **TOL[dtype])


def _xent(p, y):
    return -y * T.log(p) - (1 - y) * T.log(1 - p)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("form", sorted(SIGMOID_FORMS))
def test_hand_written_crossentropy_has_finite_exact_gradients(form, dtype):
    z, y = T.vector("z", dtype=dtype), T.vector("y", dtype=dtype)
    loss = _xent(SIGMOID_FORMS[form](z), y).sum()
    g = theano.grad(loss, z)
    f = theano.function([z, y], [loss, g])  # FAST_RUN, as users compile
    # the values of issue 15: saturated on both sides, and one ordinary point
    _, got = f(np.array([-40, 3, 40], dtype), np.array([1, 1, 0], dtype))
    np.testing.assert_allclose(got, [-1, _expit(3) - 1, 1], **TOL[dtype])
    assert abs(got[1] - (-0.0474)) < 1e-4
    loss_v, got = f(Z.astype(dtype), Y.astype(dtype))
    assert got.dtype == dtype and np.isfinite(loss_v)
    np.testing.assert_allclose(got, _expit(Z) - Y, **TOL[dtype])
    np.testing.assert_allclose(loss_v, np.sum(np.logaddexp(0, Z) - Y * Z), rtol=TOL[dtype]["rtol"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("form", sorted(SIGMOID_FORMS))
def test_binary_crossentropy_has_finite_exact_gradients(form, dtype):
    """T.nnet.binary_crossentropy writes log1p(-p) for the second term: its gradient divides
    by 1 + (-p), which canonicalize turns into the 1 - p the stabilising rules cancel."""
    z, y = T.vector("z", dtype=dtype), T.vector("y", dtype=dtype)
    loss = nnet.binary_crossentropy(SIGMOID_FORMS[form](z), y).sum()
    f = theano.function([z, y], [loss, theano.grad(loss, z)])
    loss_v, got = f(Z.astype(dtype), Y.astype(dtype))
    np.testing.assert_allclose(got, _expit(Z) - Y, **TOL[dtype])
    np.testing.assert_allclose(loss_v, np.sum(np.logaddexp(0, Z) - Y * Z), rtol=TOL[dtype]["rtol"])


@pytest.mark.parametrize("form", sorted(SIGMOID_FORMS))
def test_crossentropy_gradient_graph_after_stabilize(form):
    """The gradient's quotients are gone: nothing left to divide by a sigmoid that is 0."""
    z, y = T.dvector("z"), T.dvector("y")
    loss = _xent(SIGMOID_FORMS[form](z), y).sum()
    f = _compile([z, y], theano.grad(loss, z), "canonicalize", "constant_folding", "stabilize")
    ops = _ops(f)
    assert "true_div" not in ops and "exp" not in ops and "log" not in ops, ops
    assert "sigmoid" in ops
    naive = _compile([z, y], theano.grad(loss, z))
    assert "true_div" in _ops(naive)


def test_crossentropy_gradient_matches_finite_differences(rng):
    y = (rng.random(7) > 0.5).astype("float64")
    for form in SIGMOID_FORMS.values():
        verify_grad(lambda z: _xent(form(z), y), [rng.standard_normal(7) * 4], rng=rng)


def test_distribute_over_quotients(rng):
    a, b, c = T.dvector("a"), T.dvector("b"), T.dvector("c")
    f = _compile([a, b, c], (a / b - c) * (b * 2), "stabilize")
    assert "true_div" not in _ops(f)
    av, bv, cv = rng.standard_normal((3, 4))
    np.testing.assert_allclose(f(av, bv, cv), (av / bv - cv) * bv * 2, rtol=1e-12)
    np.testing.assert_allclose(f(av, np.zeros(4), cv), 2 * av)  # finite where b is 0
    keep = _compile([a, b, c], (a / b - c) * c, "stabilize")  # no quotient by a factor
    assert "true_div" in _ops(keep)


def test_sigmoid_times_exp(rng):
    x, g = T.dvector("x"), T.dvector("g")
    f = _compile([x, g], -(g * nnet.sigmoid(x)) * T.exp(-x), "stabilize")
    assert "exp" not in _ops(f)
    xv, gv = np.array([-800.0, -2.0, 0.5, 800.0]), rng.standard_normal(4)
    np.testing.assert_allclose(f(xv, gv), -gv * (1 - _expit(xv)), rtol=1e-12)
    keep = _compile([x], nnet.sigmoid(x) * T.exp(x), "stabilize")  # not exp(-x)
    assert "exp" in _ops(keep)


def test_div_by_square_of_one_plus_exp(rng):
    x, g = T.dvector("x"), T.dvector("g")
    b = 1 + T.exp(x)
    f = _compile([x, g], g / (b * b), "stabilize")
    assert "exp" not in _ops(f) and "true_div" not in _ops(f)
    xv, gv = np.array([-800.0, -2.0, 0.5, 800.0]), rng.standard_normal(4)
    np.testing.assert_allclose(f(xv, gv), gv * _expit(-xv) ** 2, rtol=1e-12)


def test_softplus_is_stable_and_its_gradient_is_the_sigmoid():
    for dtype in ("float32", "float64"):
        x = T.vector("x", dtype=dtype)
        f = theano.function([x], [nnet.softplus(x), theano.grad(nnet.softplus(x).sum(), x)])
        v, g = f(Z.astype(dtype))
        np.testing.assert_allclose(v, np.logaddexp(0, Z), **TOL[dtype])
        np.testing.assert_allclose(g, _expit(Z), **TOL[dtype])


def test_theano_logistic_regression_example_trains_without_nan():
    """Theano's documented example ("A Real Example: Logistic Regression"), as written there
    but with 100 steps instead of 10000: random weights over 400 features saturate the
    sigmoid at once, which made every weight NaN before the stabilising rules."""
    rng = np.random.default_rng(20260)
    N, feats = 400, 400
    D = (rng.standard_normal((N, feats)), rng.integers(size=N, low=0, high=2).astype("float64"))
    x, y = T.dmatrix("x"), T.dvector("y")
    w0 = rng.standard_normal(feats)
    w = theano.shared(w0.copy(), name="w")
    b = theano.shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = theano.function([x, y], [prediction, xent],
                            updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))

    # one step against NumPy, on saturated values (|x . w| is about 20 on average)
    z = D[0] @ w0
    assert np.abs(z).max() > 40
    _, err = train(*D)
    want = D[1] * np.logaddexp(0, -z) + (1 - D[1]) * np.logaddexp(0, z)
    np.testing.assert_allclose(err, want, rtol=1e-12)
    dz = _expit(z) - D[1]
    np.testing.assert_allclose(w.get_value(), w0 - 0.1 * (D[0].T @ dz / N + 0.02 * w0),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.get_value(), -0.1 * dz.mean(), rtol=1e-10)
    for _ in range(99):
        pred, err = train(*D)
    assert np.isfinite(w.get_value()).all() and np.isfinite(b.get_value())
    assert np.isfinite(err).all() and err.mean() < 0.5 * want.mean()
    print("accuracy before", ((z > 0) == D[1]).mean(), "after", (pred == D[1]).mean())
    assert (pred == D[1]).mean() > ((z > 0) == D[1]).mean() + 0.1
