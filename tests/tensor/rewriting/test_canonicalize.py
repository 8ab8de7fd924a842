"""Tests of minigraph.tensor.rewriting.canonicalize: each rule alone, asserting the graph
after its pass and one value; the rule sets' names, which ``Mode.excluding`` uses."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.tensor import rewriting

from .utils import _compile, _ops


def test_rule_sets_list_their_rewrites():
    assert rewriting.CANONICALIZE.names() == ["mul_by_one", "add_zero", "double_neg",
                                              "add_neg_to_sub", "inc_subtensors_to_join"]
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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("zeros", ["alloc", "zeros_like"])
def test_slice_gradients_that_tile_an_axis_become_a_join(dtype, zeros, rng):
    x = T.matrix("x", dtype=dtype)
    g = T.matrix("g", dtype=dtype)
    z = T.alloc(np.array(0, dtype), x.shape[0], 7) if zeros == "alloc" else T.zeros_like(x)
    # the gradient of x[:, :2], x[:, 2:5], x[:, 5:] (in any order): a join of the pieces
    out = T.inc_subtensor(z[:, 2:5], g[:, :3] * 2) + T.inc_subtensor(z[:, 5:], g[:, 3:5]) + \
        T.inc_subtensor(z[:, :2], -g[:, 5:])
    f = _compile([x, g], out, "canonicalize")
    assert "Join{1}" in _ops(f) and not any(o.startswith("IncSubtensor") for o in _ops(f))
    xv, gv = rng.standard_normal((2, 4, 7)).astype(dtype)
    want = np.concatenate([-gv[:, 5:], gv[:, :3] * 2, gv[:, 3:5]], axis=1)
    assert np.array_equal(f(xv, gv), want)


def test_slice_gradients_that_leave_a_gap_stay_a_sum(rng):
    x, g = T.dmatrix("x"), T.dmatrix("g")
    z = T.zeros_like(x)
    out = T.inc_subtensor(z[:, :2], g[:, :2]) + T.inc_subtensor(z[:, 3:], g[:, 3:])  # 2 left
    f = _compile([x, g], out, "canonicalize")
    assert "Join{1}" not in _ops(f)
    xv, gv = rng.standard_normal((2, 4, 6))
    want = gv.copy()
    want[:, 2] = 0
    assert np.array_equal(f(xv, gv), want)
