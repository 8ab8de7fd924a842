"""Tests of minigraph.tensor.nnet.composed: softsign, selu, softmax_with_bias, the
crossentropy_softmax_1hot family, h_softmax and confusion_matrix, against NumPy."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad


def _np_softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softsign_and_softmax_with_bias(dtype, rng):
    x, b = T.matrix("x", dtype=dtype), T.vector("b", dtype=dtype)
    xv = (rng.standard_normal((3, 4)) * 3).astype(dtype)
    bv = rng.standard_normal(4).astype(dtype)
    tol = 1e-6 if dtype == "float32" else 1e-14
    got = T.nnet.softsign(x).eval({x: xv})
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, xv / (1 + np.abs(xv)), rtol=tol)
    got = T.nnet.softmax_with_bias(x, b).eval({x: xv, b: bv})
    np.testing.assert_allclose(got, _np_softmax_rows(xv + bv), rtol=tol * 10, atol=tol)
    verify_grad(T.nnet.softsign, [xv.astype("float64")], rng=rng)
    verify_grad(T.nnet.softmax_with_bias, [xv.astype("float64"), bv.astype("float64")],
                rng=rng)
    with pytest.raises(GraphError, match="a matrix and a vector"):
        T.nnet.softmax_with_bias(b, b)


def test_crossentropy_softmax_1hot_family(rng):
    x, b, y = T.dmatrix("x"), T.dvector("b"), T.lvector("y")
    xv, bv, yv = rng.standard_normal((5, 4)) * 30, rng.standard_normal(4), rng.integers(0, 4, 5)
    nll, sm = T.nnet.crossentropy_softmax_1hot(x, y)
    z = xv - xv.max(axis=1, keepdims=True)
    others = np.exp(z)
    others[np.arange(5), z.argmax(axis=1)] = 0  # log1p of the others' sum: a confident
    want_nll = np.log1p(others.sum(axis=1)) - z[np.arange(5), yv]  # row's tiny loss exact
    np.testing.assert_allclose(nll.eval({x: xv, y: yv}), want_nll, rtol=1e-12)
    np.testing.assert_allclose(sm.eval({x: xv}), _np_softmax_rows(xv), rtol=1e-12, atol=1e-300)
    nll, sm, am = T.nnet.crossentropy_softmax_argmax_1hot_with_bias(x, b, y)
    given = {x: xv, b: bv, y: yv}
    zb = xv + bv
    np.testing.assert_allclose(sm.eval(given), _np_softmax_rows(zb), rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(am.eval(given), zb.argmax(axis=1))
    assert len(T.nnet.crossentropy_softmax_1hot_with_bias(x, b, y)) == 2
    verify_grad(lambda a, c: T.nnet.crossentropy_softmax_1hot_with_bias(a, c, yv)[0],
                [xv / 30, bv], rng=rng)


@pytest.mark.parametrize("batch", [1, 3])
def test_h_softmax_matches_the_two_level_product(batch, rng):
    n_in, n_classes, per, n_out = 4, 3, 2, 5  # 6 slots, the last one unused
    xv = rng.standard_normal((batch, n_in))
    W1, b1 = rng.standard_normal((n_in, n_classes)), rng.standard_normal(n_classes)
    W2, b2 = rng.standard_normal((n_classes, n_in, per)), rng.standard_normal((n_classes, per))
    top = _np_softmax_rows(xv @ W1 + b1)
    low = np.stack([_np_softmax_rows(xv @ W2[k] + b2[k]) for k in range(n_classes)], axis=1)
    want = (top[:, :, None] * low).reshape(batch, -1)[:, :n_out]
    x, t = T.dmatrix("x"), T.lvector("t")
    got = T.nnet.h_softmax(x, batch, n_out, n_classes, per, W1, b1, W2, b2).eval({x: xv})
    np.testing.assert_allclose(got, want, rtol=1e-12)
    tv = rng.integers(0, n_out, batch)
    got = T.nnet.h_softmax(x, batch, n_out, n_classes, per, W1, b1, W2, b2, target=t)
    np.testing.assert_allclose(got.eval({x: xv, t: tv}), want[np.arange(batch), tv],
                               rtol=1e-12)
    verify_grad(lambda a, w1, w2: T.nnet.h_softmax(a, batch, n_out, n_classes, per, w1, b1,
                                                   w2, b2, target=tv), [xv, W1, W2], rng=rng)


def test_selu_and_confusion_matrix(rng):
    x = T.dvector("x")
    xv = rng.standard_normal(7) * 2
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    want = scale * np.where(xv > 0, xv, alpha * np.expm1(xv))
    np.testing.assert_allclose(T.nnet.selu(x).eval({x: xv}), want, rtol=1e-14)
    verify_grad(T.nnet.selu, [xv], rng=rng)
    a, p = T.ivectors("a", "p")
    av, pv = rng.integers(2, 6, 20).astype("int32"), rng.integers(3, 8, 20).astype("int32")
    m, order = T.nnet.confusion_matrix(a, p)
    got_m, got_order = m.eval({a: av, p: pv}), order.eval({a: av, p: pv})
    labels = np.unique(np.concatenate([av, pv]))
    np.testing.assert_array_equal(got_order, labels)
    want = np.zeros((len(labels), len(labels)), int)
    for u, v in zip(av, pv):
        want[np.searchsorted(labels, u), np.searchsorted(labels, v)] += 1
    np.testing.assert_array_equal(got_m, want)
    with pytest.raises(GraphError, match="two vectors"):
        T.nnet.confusion_matrix(T.imatrix(), p)
