"""Tests of minigraph/scan_views.py: theano.map, reduce, foldl, foldr and clone."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad


def test_map_with_two_sequences_and_a_non_sequence(rng):
    x, y, w = T.dmatrix("x"), T.dmatrix("y"), T.dvector("w")
    out, updates = theano.map(lambda a, b, c: T.dot(a * b, c), [x, y], non_sequences=[w])
    assert not updates
    xv, yv, wv = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    got = theano.function([x, y, w], out)(xv, yv, wv)
    np.testing.assert_allclose(got, (xv * yv) @ wv, rtol=1e-12)
    back, _ = theano.map(lambda a: a.sum(), x, go_backwards=True)
    np.testing.assert_allclose(back.eval({x: xv}), xv.sum(axis=1)[::-1], rtol=1e-12)


def test_reduce_foldl_foldr(rng):
    x = T.dvector("x")
    xv = rng.standard_normal(5)
    zero = T.constant(0.0, dtype="float64")
    total, _ = theano.reduce(lambda v, acc: acc + v, x, zero)
    np.testing.assert_allclose(total.eval({x: xv}), xv.sum(), rtol=1e-12)
    # two running values: the sum and a Horner evaluation, in both directions
    (s, h), _ = theano.foldl(lambda v, a, b: [a + v, b * 2 + v], x, [zero, zero])
    horner = 0.0
    for v in xv:
        horner = horner * 2 + v
    np.testing.assert_allclose([s.eval({x: xv}), h.eval({x: xv})], [xv.sum(), horner])
    hr, _ = theano.foldr(lambda v, b: b * 2 + v, x, zero)
    horner_r = 0.0
    for v in xv[::-1]:
        horner_r = horner_r * 2 + v
    np.testing.assert_allclose(hr.eval({x: xv}), horner_r, rtol=1e-12)
    verify_grad(lambda a: theano.foldl(lambda v, b: b * T.tanh(v) + v, a,
                                       T.constant(1.0, dtype="float64"))[0], [xv], rng=rng)


def test_clone_replaces_and_checks_types():
    x, y = T.dscalars("x", "y")
    z = x * 2 + T.exp(x)
    z2 = theano.clone(z, replace={x: y})
    assert float(z2.eval({y: 0.5})) == pytest.approx(1 + np.exp(0.5))
    a, b = theano.clone([z, x + 1], replace=[(x, y)])
    assert float(b.eval({y: 2.0})) == 3.0 and float(a.eval({y: 0.0})) == 1.0
    with pytest.raises(GraphError, match="strict=False"):
        theano.clone(z, replace={x: T.fscalar("f")})
    z3 = theano.clone(z, replace={x: T.fscalar("f")}, strict=False)
    assert z3.dtype == "float64"
    with pytest.raises(GraphError, match="share_inputs"):
        theano.clone(z, share_inputs=False)
