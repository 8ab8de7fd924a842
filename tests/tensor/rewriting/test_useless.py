"""Tests of minigraph.tensor.rewriting.useless: each rule alone (the graph after its pass and
exact values against NumPy, float32 and float64, odd sizes and batch 1), and gradients through
FAST_RUN, where the rules fire on what ``theano.grad`` builds, by finite differences."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.gradient import verify_grad
from minigraph.tensor import rewriting
from minigraph.tensor.subtensor import IncSubtensor
from minigraph.tensor.subtensor_zeros import SliceOfSet, ZerosIncRows, ZerosIncSubtensor

from .utils import _classes, _compile, _ops


def test_the_rule_set_lists_its_rewrites():
    assert rewriting.USELESS.names() == ["inc_subtensor_of_zeros", "zeros_inc_rows_of_reshape",
                                         "subtensor_of_set", "sum_of_sum", "add_zeros_like"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3, 7), (1, 1, 4)], ids=["odd", "batch 1"])
def test_gradient_of_a_slice_is_one_zeros_inc(dtype, shape, rng):
    x, k = T.tensor3("x", dtype=dtype), T.lscalar("k")
    g = theano.grad((x[1:, :, :k] ** 2).sum(), x)
    f = _compile([x, k], g, "useless")
    assert ZerosIncSubtensor in _classes(f) and IncSubtensor not in _classes(f)
    xv = rng.standard_normal(shape).astype(dtype)
    for kv in (2, shape[2]):  # part of the width, or all of it (the value itself)
        want = np.zeros_like(xv)
        want[1:, :, :kv] = 2 * xv[1:, :, :kv]
        got = f(xv, kv)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)


def test_zeros_of_another_dtype_are_left_alone():
    x, y = T.fmatrix("x"), T.dmatrix("y")
    z = T.zeros_like(x, dtype="float64")  # float64 zeros shaped like a float32 x
    f = _compile([x, y], T.inc_subtensor(z[1:], y), "useless")
    assert ZerosIncSubtensor not in _classes(f)
    np.testing.assert_array_equal(f(np.ones((3, 2), "float32"), np.ones((2, 2))),
                                  [[0, 0], [1, 1], [1, 1]])


def test_inc_into_a_nonzero_base_is_kept():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = _compile([x, y], T.inc_subtensor(T.ones_like(x)[1:], y), "useless")
    assert ZerosIncSubtensor not in _classes(f)
    np.testing.assert_array_equal(f(np.zeros((2, 2)), np.ones((1, 2))), [[1, 1], [2, 2]])


def test_lookup_gradient_accumulates_repeated_rows(rng):
    E, idx = T.dmatrix("E"), T.ivector("idx")
    g = theano.grad((E[idx] * np.arange(1.0, 4.0)).sum(), E)
    f = _compile([E, idx], g, "useless")
    assert ZerosIncSubtensor in _classes(f)
    iv = np.array([1, 3, 1, 1], "int32")
    want = np.zeros((5, 3))
    np.add.at(want, iv, np.tile(np.arange(1.0, 4.0), (4, 1)))
    np.testing.assert_array_equal(f(rng.standard_normal((5, 3)), iv), want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lookup_gradient_through_a_time_major_reshape_reads_rows_in_place(dtype, rng):
    """E[ids] reshaped to (T, B, width), used reversed in time (as a backward loop reads it):
    the gradient's rows are scattered from the reversed 3-d array itself."""
    E, ids = T.matrix("E", dtype=dtype), T.lvector("ids")
    seq = T.reshape(E[ids], (3, -1, E.shape[1]))[::-1]
    w = rng.standard_normal((3, 2, 4)).astype(dtype)
    g = theano.grad((seq * w).sum(), E)
    f = _compile([E, ids], g, "useless")
    assert ZerosIncRows in _classes(f)
    iv = np.array([1, 0, 1, 4, 1, 0])
    want = np.zeros((5, 4), dtype)
    np.add.at(want, iv, w[::-1].reshape(6, 4))
    np.testing.assert_allclose(f(rng.standard_normal((5, 4)).astype(dtype), iv), want,
                               rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_slice_inside_the_written_part_reads_the_value(dtype, rng):
    x, y, n = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype), T.lscalar("n")
    trace = T.inc_subtensor(T.zeros_like(x)[1:], y)
    f = _compile([x, y, n], [trace[1:n], T.set_subtensor(x[2:], y[1:])[n:]], "useless")
    assert _classes(f).count(SliceOfSet) == 2 and ZerosIncSubtensor not in _classes(f)
    xv = rng.standard_normal((7, 3)).astype(dtype)
    yv = rng.standard_normal((6, 3)).astype(dtype)
    whole, setv = np.zeros_like(xv), xv.copy()
    whole[1:], setv[2:] = yv, yv[1:]
    for nv in (-8, -3, -1, 0, 1, 4, 7, 50):  # a step count, or any other bound
        inside, tail = f(xv, yv, nv)
        np.testing.assert_array_equal(inside, whole[1:nv])
        np.testing.assert_array_equal(tail, setv[nv:])


def test_slice_reaching_below_the_part_is_kept():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = _compile([x, y], T.set_subtensor(x[2:], y)[1:], "useless")
    assert SliceOfSet not in _classes(f)
    np.testing.assert_array_equal(f(np.zeros((3, 1)), np.ones((1, 1))), [[0], [1]])


SUMS = [((1,), True, (1,), False), ((1,), True, (0,), True), ((0, 2), False, (0,), False),
        ((1,), False, (0, 1), True), ((2,), False, (), False)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a, keep_a, b, keep_b", SUMS, ids=str)
def test_sum_of_sum_is_one_sum(dtype, a, keep_a, b, keep_b, rng):
    x = T.tensor3("x", dtype=dtype)
    out = T.sum(T.sum(x, axis=a, keepdims=keep_a), axis=b, keepdims=keep_b)
    f = _compile([x], out, "useless")
    assert len([op for op in _ops(f) if op.startswith("sum")]) == 1
    xv = rng.standard_normal((5, 1, 3)).astype(dtype)
    want = xv.sum(axis=a, keepdims=keep_a).sum(axis=b, keepdims=keep_b)
    got = f(xv)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-13)


def test_a_sum_read_twice_is_kept():
    x = T.dmatrix("x")
    s = T.sum(x, axis=0)
    f = _compile([x], [T.sum(s), s], "useless")
    assert len([op for op in _ops(f) if op.startswith("sum")]) == 2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adding_to_zeros_is_the_other_term(dtype, rng):
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    f = _compile([x, y], [T.zeros_like(x) + y, y + T.zeros_like(x)], "useless")
    assert _ops(f) == []  # both outputs are y itself
    xv, yv = rng.standard_normal((1, 3)).astype(dtype), rng.standard_normal((1, 3)).astype(dtype)
    for got in f(xv, yv):
        np.testing.assert_array_equal(got, yv)


def test_adding_to_zeros_that_broadcast_is_kept(rng):
    x, row = T.dmatrix("x"), T.row("row", dtype="float64")
    f = _compile([x, row], T.zeros_like(x) + row, "useless")  # the result is x's shape
    assert "add" in _ops(f)
    np.testing.assert_array_equal(f(np.ones((2, 3)), np.arange(3.0)[None]),
                                  np.tile(np.arange(3.0), (2, 1)))


def _rnn_trace(x, h0, W, k):
    """A scan whose trace (with h0) feeds the cost through slices, as the char-RNN's does."""
    states, _ = theano.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=x,
                            outputs_info=h0)
    return (states[:, :, :k] ** 2).sum() + states[-1].sum()


@pytest.mark.parametrize("k", [2, 3], ids=["part of the state", "the whole state"])
def test_scan_gradient_through_the_rewrites(k, rng):
    x, h0, W = T.tensor3("x"), T.dmatrix("h0"), T.dmatrix("W")
    cost = _rnn_trace(x, h0, W, k)
    f = theano.function([x, h0, W], theano.grad(cost, [x, h0, W]))
    names = [type(n.op).__name__ for n in f.fgraph.toposort()]
    assert "ZerosIncSubtensor" in names and "SliceOfSet" in names and "IncSubtensor" not in names
    values = [rng.standard_normal((4, 1, 3)), rng.standard_normal((1, 3)),
              0.5 * rng.standard_normal((3, 3))]
    slow = theano.function([x, h0, W], theano.grad(cost, [x, h0, W]),
                           mode=theano.compile.mode.FAST_RUN.excluding("useless"))
    for got, want in zip(f(*values), slow(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    verify_grad(lambda x, h0, W: _rnn_trace(x, h0, W, k), values, rng=rng)
