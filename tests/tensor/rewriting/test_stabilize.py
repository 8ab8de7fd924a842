"""Tests of minigraph.tensor.rewriting.stabilize: each rule alone, asserting the graph after
its pass and one value; that FAST_RUN uses them and a rule can be switched off by name."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.mode import FAST_RUN
from minigraph.tensor import rewriting
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

