"""Tests of minigraph.tensor.rewriting.canonicalize: each rule alone, asserting the graph
after its pass and one value; the rule sets' names, which ``Mode.excluding`` uses."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.tensor import rewriting

from .utils import _compile, _ops


def test_rule_sets_list_their_rewrites():
    assert rewriting.CANONICALIZE.names() == ["mul_by_one", "add_zero", "double_neg",
                                              "add_neg_to_sub"]
    assert {"log_of_softmax", "crossentropy_of_softmax", "log_of_sigmoid", "log_softmax_grad",
            "crossentropy_softmax_grad", "div_mul_cancel"} <= set(rewriting.STABILIZE.names())
    assert rewriting.SPECIALIZE.names() == ["pow_two_to_sqr"]


@pytest.mark.parametrize("build", [lambda x: x * 1, lambda x: 1 * x, lambda x: x + 0,
                                   lambda x: 0 + x, lambda x: x - 0, lambda x: -(-x)])
def test_canonicalize_removes_identities(build, rng):
    x = T.dvector("x")
    f = _compile([x], build(x) * 3, "canonicalize", "constant_folding")
    assert _ops(f) == ["mul"]
    xv = rng.standard_normal(3)
    np.testing.assert_allclose(f(xv), xv * 3, rtol=1e-15)


def test_canonicalize_keeps_nodes_that_change_the_type():
    x = T.fvector("x")
    f = _compile([x], x * np.ones(3), "canonicalize")  # float32 * float64 ones: not x
    assert _ops(f) == ["mul"] and f(np.ones(3, "float32")).dtype == np.float64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_add_neg_to_sub(dtype, rng):
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    for expr in (x + (-y), (-y) + x):
        f = _compile([x, y], expr, "canonicalize")
        assert _ops(f) == ["sub"]
        xv, yv = rng.standard_normal((2, 5)).astype(dtype)
        assert np.array_equal(f(xv, yv), xv - yv)  # the same bits
    keep = _compile([x, y], x + (-y) * 2, "canonicalize")  # not a negation
    assert "add" in _ops(keep)
