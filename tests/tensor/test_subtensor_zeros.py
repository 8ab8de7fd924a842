"""Tests of minigraph.tensor.subtensor_zeros: ZerosIncSubtensor and SliceOfSet against NumPy
(every index form, the run-time shortcuts and their fallbacks), and ZerosIncSubtensor's
gradient by finite differences."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.gradient import verify_grad
from minigraph.graph.type import TensorType
from minigraph.tensor.subtensor_zeros import SliceOfSet, ZerosIncSubtensor

FULL = ("slice", None, None, None)


def _run(op, *values):
    """``op.perform`` on arrays (the index arrays among them are int inputs)."""
    node = op.make_node(*[TensorType(np.asarray(v).dtype, shape=(None,) * np.ndim(v))()
                          for v in values])
    out = [[None]]
    op.perform(node, list(values), out)
    return out[0][0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zeros_inc_writes_the_part_into_zeros(dtype, rng):
    x = rng.standard_normal((5, 3, 7)).astype(dtype)
    y = rng.standard_normal((4, 3, 2)).astype(dtype)
    for set_ in (False, True):
        op = ZerosIncSubtensor((("slice", 1, None, None), FULL, ("slice", None, 2, None)), set_)
        want = np.zeros_like(x)
        want[1:, :, :2] = y
        got = _run(op, x, y)
        assert got.dtype == x.dtype and got.shape == x.shape
        np.testing.assert_array_equal(got, want)


def test_big_zeros_inc_from_reused_workspace_memory_is_zero_outside_the_part(rng):
    """1 MB and more: the zeros come from the shared workspace, whose blocks hold an earlier
    result's values; every element outside the part written must still be zero."""
    x = np.empty((30, 20, 512))  # 2.4 MB of float64
    op = ZerosIncSubtensor((FULL, FULL, ("slice", None, 256, None)))
    for _ in range(3):  # the dropped result's block serves the next call
        y = rng.standard_normal((30, 20, 256)) + 5.0
        got = _run(op, x, y)
        want = np.zeros_like(x)
        want[:, :, :256] = y
        np.testing.assert_array_equal(got, want)
        del got
    sos = SliceOfSet(1, ((FULL[0], None, None, None),), zeros=True)  # its zeros, too
    y = rng.standard_normal((29, 20, 512)) + 5.0
    got = _run(sos, x, y)
    want = np.zeros_like(x)
    want[1:] = y
    np.testing.assert_array_equal(got, want)


def test_zeros_inc_returns_the_value_itself_when_the_index_covers_everything(rng):
    x, y = np.ones((1, 4)), rng.standard_normal((1, 4))
    op = ZerosIncSubtensor((FULL, ("slice", None, 4, None)), False)  # [:, :4] of 4 columns
    assert _run(op, x, y) is y
    reversed_ = ZerosIncSubtensor((("slice", None, None, -1),), False)  # all rows, reversed
    np.testing.assert_array_equal(_run(reversed_, x, y), y[::-1])
    narrower = _run(op, np.ones((1, 6)), y)  # 6 columns at run time: a real scatter
    np.testing.assert_array_equal(narrower, np.hstack([y, np.zeros((1, 2))]))


def test_zeros_inc_with_index_arrays_accumulates_repeats(rng):
    E = np.ones((4, 3))
    y = rng.standard_normal((5, 3))
    idx = np.array([2, 0, 2, 3, 2])
    want = np.zeros_like(E)
    np.add.at(want, idx, y)
    np.testing.assert_allclose(_run(ZerosIncSubtensor(("array",), False), E, y, idx), want)
    idx2 = idx.reshape(5, 1)  # a 2-d index array: numpy.add.at's path
    y2 = y.reshape(5, 1, 3)
    np.testing.assert_allclose(_run(ZerosIncSubtensor(("array",), False), E, y2, idx2), want)
    last = np.zeros_like(E)
    last[idx] = y  # set: the last write wins, as NumPy does
    np.testing.assert_array_equal(_run(ZerosIncSubtensor(("array",), True), E, y, idx), last)


def test_zeros_inc_names_a_value_that_does_not_fit():
    op = ZerosIncSubtensor((("slice", 1, None, None),), False)
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    f = theano.function([x, y], op(x, y))
    with pytest.raises(ValueError, match="ZerosIncSubtensor.*value shape \\(3, 2\\)"):
        f(np.ones((3, 2)), np.ones((3, 2)))


def test_zeros_inc_gradient(rng):
    op = ZerosIncSubtensor((("slice", 1, None, None), ("slice", None, 2, None)), False)
    x = rng.standard_normal((4, 3))
    verify_grad(lambda y: op(T.as_tensor_variable(x), y) ** 2, [rng.standard_normal((3, 2))],
                rng=rng)


def _whole(x, y, a, zeros):
    out = np.zeros_like(x) if zeros else x.copy()
    out[a:] = y
    return out


READS = [  # (entries, index inputs, the same index in NumPy)
    ((("slice", 1, "in", None),), [np.int64(4)], np.s_[1:4]),
    ((("slice", 1, "in", None),), [np.int64(-1)], np.s_[1:-1]),
    ((("slice", 1, "in", None),), [np.int64(0)], np.s_[1:0]),
    ((("slice", 1, "in", None),), [np.int64(99)], np.s_[1:99]),
    ((("slice", 3, None, 2),), [], np.s_[3::2]),
    ((("slice", "in", None, None),), [np.int64(0)], np.s_[0:]),  # reaches row 0: built
    ((("slice", "in", None, None),), [np.int64(-2)], np.s_[-2:]),
    ((("slice", None, None, -1),), [], np.s_[::-1]),  # backwards: built
    (("in", FULL), [np.int64(-1)], np.s_[-1, :]),
    (("in", ("slice", 1, None, None)), [np.int64(2)], np.s_[2, 1:]),
    (("in",), [np.int64(0)], np.s_[0]),  # row 0 is below the part: built
]


@pytest.mark.parametrize("zeros", [True, False], ids=["zeros", "set"])
@pytest.mark.parametrize("entries, idx, np_index", READS, ids=[str(r[2]) for r in READS])
def test_slice_of_set_reads_the_value_written(zeros, entries, idx, np_index, rng):
    x = rng.standard_normal((6, 3))
    y = rng.standard_normal((5, 3))
    got = SliceOfSet(1, entries, zeros).make_py_callable(_Node())(x, y, *idx)
    np.testing.assert_array_equal(got, _whole(x, y, 1, zeros)[np_index])


def test_slice_of_set_is_a_view_of_the_value_when_inside(rng):
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    run = SliceOfSet(2, (("slice", 3, None, None),), True).make_py_callable(_Node())
    assert np.shares_memory(run(x, y), y)
    # a value that broadcasts over the part: built the way set_subtensor broadcasts it
    row = rng.standard_normal((1, 3))
    np.testing.assert_array_equal(run(x, row), _whole(x, row, 2, True)[3:])


class _Node:
    trace = "test"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("step", [-1, 1], ids=["reversed", "contiguous"])
def test_zeros_inc_rows_reads_a_reversed_3d_value_in_place(dtype, step, rng):
    g = rng.standard_normal((5, 1, 3)).astype(dtype)[::step]  # batch 1
    idx = np.array([4, 0, 4, -1, 2], "int64")
    f = _rows_function(dtype)
    want = np.zeros((6, 3), dtype)
    np.add.at(want, idx, g.reshape(5, 3))
    got = f(np.ones((6, 3), dtype), g, idx, np.array([5, 3]))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_zeros_inc_rows_reshapes_first_when_the_rows_cross_the_last_axis(rng):
    g = rng.standard_normal((2, 4, 3))  # 24 numbers as 6 rows of 4 (the last axis is 3)
    idx = np.array([0, 1, 1, 2, 0, 0])
    f = _rows_function("float64")
    want = np.zeros((3, 4))
    np.add.at(want, idx, g.reshape(6, 4))
    np.testing.assert_allclose(f(np.ones((3, 4)), g, idx, np.array([6, 4])), want, rtol=1e-13)
    with pytest.raises(IndexError, match="index 3 is out of bounds"):
        f(np.ones((3, 3)), rng.standard_normal((2, 1, 3))[::-1], np.array([0, 3]),
          np.array([2, 3]))
    with pytest.raises(ValueError, match="cannot reshape an array of shape \\(2, 4, 3\\)"):
        f(np.ones((3, 4)), g, idx, np.array([5, 4]))


def _rows_function(dtype):
    from minigraph.tensor.subtensor_zeros import ZerosIncRows

    x, g = T.matrix("x", dtype=dtype), T.tensor3("g", dtype=dtype)
    idx, shp = T.lvector("idx"), T.lvector("shp")
    return theano.function([x, g, idx, shp], ZerosIncRows()(x, g, idx, shp))
