"""Tests of minigraph.tensor.rewriting.specialize: each rule alone, its graph and a value."""

import numpy as np

import minigraph.tensor as T

from .utils import _compile, _ops


def test_pow_two_to_sqr(rng):
    x = T.dvector("x")
    f = _compile([x], x ** 2, "specialize", "constant_folding")
    assert _ops(f) == ["sqr"]
    xv = rng.standard_normal(3)
    np.testing.assert_allclose(f(xv), xv ** 2, rtol=1e-15)
