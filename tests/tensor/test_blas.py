"""Tests of minigraph.tensor.blas: dot (every NumPy case), outer, tensordot, batched_dot."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import Constant, GraphError
from minigraph.tensor.elemwise import DimShuffle

HERE = os.path.basename(__file__)

SHAPES = [((3, 4), (4, 5)), ((3, 4), (4,)), ((4,), (4, 5)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
          ((2, 3, 4), (2, 4, 3)), ((3, 4), (2, 4, 3)), ((4,), (2, 4, 3)), ((), (3,))]


@pytest.mark.parametrize("sa, sb", SHAPES, ids=[f"{a}.{b}" for a, b in SHAPES])
def test_dot_follows_numpy(sa, sb, rng):
    a, b = T.tensor("float64", (None,) * len(sa)), T.tensor("float64", (None,) * len(sb))
    av, bv = rng.standard_normal(sa), rng.standard_normal(sb)
    got = T.dot(a, b).eval({a: av, b: bv})
    want = np.dot(av, bv)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)  # a sum that cancels: absolute


def test_dot_dtypes_and_static_shapes():
    assert T.dot(T.fmatrix(), T.fmatrix()).dtype == "float32"
    assert T.dot(T.fmatrix(), T.dmatrix()).dtype == "float64"
    assert T.dot(T.imatrix(), T.imatrix()).dtype == "int32"
    assert T.dot(T.tensor("float64", (3, None)), T.tensor("float64", (None, 5))).type.shape \
        == (3, 5)


def test_dot_static_mismatch_is_a_build_time_error():
    a = T.tensor("float64", (2, 3), name="a")
    b = T.tensor("float64", (4, 5), name="b")
    with pytest.raises(GraphError) as info:
        T.dot(a, b)
    msg = str(info.value)
    assert "dot: shapes float64[2,3] (a) and float64[4,5] (b) are not aligned: 3 != 4" in msg
    assert f"{HERE}:" in msg


def test_dot_run_time_mismatch_names_shapes_and_line():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = theano.function([a, b], T.dot(a, b))
    with pytest.raises(ValueError, match=f"dot: shapes \\(3, 4\\) and \\(3, 4\\) are not aligned"
                                         f".*{HERE}:"):
        f(np.zeros((3, 4)), np.zeros((3, 4)))


def test_outer_tensordot_batched_dot(rng):
    x, y = T.dvector("x"), T.dvector("y")
    a, b = T.dtensor3("a"), T.dtensor3("b")
    m = T.dmatrix("m")
    xv, yv = rng.standard_normal(3), rng.standard_normal(4)
    av, bv = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 3))
    mv = rng.standard_normal((4, 5))
    outs = [T.outer(x, y), T.tensordot(a, b, axes=[[1, 2], [2, 1]]), T.tensordot(a, m, axes=1),
            T.tensordot(x, y, axes=0), T.tensordot(a, b, axes=([2], [1])), T.batched_dot(a, b),
            T.tensordot(a, a, axes=3)]
    got = theano.function([x, y, a, b, m], outs)(xv, yv, av, bv, mv)
    want = [np.outer(xv, yv), np.tensordot(av, bv, [[1, 2], [2, 1]]), np.tensordot(av, mv, 1),
            np.tensordot(xv, yv, 0), np.tensordot(av, bv, ([2], [1])), np.matmul(av, bv),
            np.tensordot(av, av, 3)]
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ax_a, ax_b, b_shape", [
    ([0, 1], [0, 1], (5, 1, 4)), ([0], [2], (4, 2, 5)), ([0, 1], [1, 2], (4, 5, 1)),
    ([1, 2], [0, 1], (1, 3, 2)), ([2], [0], (3, 2, 2)), ([1, 2], [1, 2], (4, 1, 3)),
    ([1], [1], (4, 1, 2))])
def test_tensordot_transposes_an_operand_only_when_it_must(dtype, ax_a, ax_b, b_shape, rng):
    """Summing a's leading (b's trailing) axes in order: a reshape and a transposed view,
    not a transpose (a copy) before the reshape; the values are NumPy's, also for a
    reversed operand."""
    a, b = T.tensor3("a", dtype=dtype), T.tensor3("b", dtype=dtype)
    f = theano.function([a, b], T.tensordot(a[::-1], b, axes=[ax_a, ax_b]))
    av = rng.standard_normal((5, 1, 3)).astype(dtype)
    bv = rng.standard_normal(b_shape).astype(dtype)
    want = np.tensordot(av[::-1], bv, axes=[ax_a, ax_b])
    np.testing.assert_allclose(f(av, bv), want, rtol=1e-5 if dtype == "float32" else 1e-12)
    reshaped = [n.inputs[0] for n in f.fgraph.toposort() if type(n.op).__name__ == "Reshape"]
    moved = [v for v in reshaped if v.owner is not None and isinstance(v.owner.op, DimShuffle)
             and v.owner.op.new_order != tuple(range(v.ndim))]
    perm_a = [d for d in range(3) if d not in ax_a] + ax_a  # the transposes still needed
    perm_b = ax_b + [d for d in range(3) if d not in ax_b]
    needed = (ax_a != [0, 1][:len(ax_a)] and perm_a != [0, 1, 2]) + (
        ax_b != [1, 2][-len(ax_b):] and perm_b != [0, 1, 2])
    assert len(moved) == needed


def test_shape_errors_in_the_other_products():
    with pytest.raises(GraphError, match="outer needs vectors"):
        T.outer(T.dmatrix(), T.dvector())
    with pytest.raises(GraphError, match="axes .* have different lengths"):
        T.tensordot(T.dtensor3(), T.dtensor3(), axes=[[0, 1], [0]])
    with pytest.raises(GraphError, match=f"batched_dot needs 3-d operands.*{HERE}:"):
        T.batched_dot(T.dmatrix(), T.dtensor3())
    with pytest.raises(GraphError, match="batched_dot: inner dimensions differ"):
        T.batched_dot(T.tensor("float64", (2, 3, 4)), T.tensor("float64", (2, 5, 5)))
    with pytest.raises(GraphError, match="batched_dot: batch sizes differ"):
        T.batched_dot(T.tensor("float64", (2, 3, 4)), T.tensor("float64", (3, 4, 5)))
    a, b = T.dtensor3("a"), T.dtensor3("b")
    f = theano.function([a, b], T.batched_dot(a, b))
    with pytest.raises(ValueError, match=f"batched_dot: shapes .* do not match.*{HERE}:"):
        f(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))


@pytest.mark.parametrize("ax_a, ax_b", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_tensordot_of_two_matrices_is_one_dot(ax_a, ax_b, rng):
    # a matrix is its own 2-d form: no Reshape, Shape or shape arithmetic around the Dot
    # (the scan rewrite's sums over steps are such products), NumPy's values
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = theano.function([a, b], T.tensordot(a, b, axes=[[ax_a], [ax_b]]))
    assert {type(n.op).__name__ for n in f.fgraph.toposort()} <= {"DimShuffle", "Dot"}
    av, bv = rng.standard_normal((4, 3)), rng.standard_normal((3, 4))
    bv = bv if ax_a != ax_b else bv.T.copy()
    bv = bv if (ax_a, ax_b) != (1, 1) else rng.standard_normal((5, 3))
    bv = bv if (ax_a, ax_b) != (0, 0) else rng.standard_normal((4, 5))
    want = np.tensordot(av, bv, axes=[[ax_a], [ax_b]])
    got = f(av, bv)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-13)
    x, y = T.dtensor3("x"), T.dmatrix("y")  # a 3-d operand still reshapes, with no "1 *"
    g = theano.function([x, y], T.tensordot(x, y, axes=[[0, 1], [0, 1]]))
    assert not [n for n in g.fgraph.toposort() if str(n.op) == "mul" and any(
        isinstance(v, Constant) and np.all(v.data == 1) for v in n.inputs)]
    xv, yv = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(g(xv, yv), np.tensordot(xv, yv, axes=[[0, 1], [0, 1]]),
                               rtol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [7, 700])  # a plain product, and one big enough for the workspace
def test_dot_of_column_slices_follows_numpy(dtype, rows, rng):
    """Operands that are column slices of wider arrays (neither C- nor F-contiguous) take
    NumPy's matmul path in ``pooled_dot``: the same product as ``numpy.dot``, whether sliced
    operands come first, second, transposed or not, and with a bias (``DotAdd``)."""
    from minigraph.tensor.blas import pooled_dot

    tol = dict(rtol=2e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    wide = rng.standard_normal((rows, 2 * 33 + 1)).astype(dtype)
    other = rng.standard_normal((rows, 45)).astype(dtype)
    x = wide[:, 3:36]  # (rows, 33), row stride 67 elements
    assert not x.flags.c_contiguous and not x.flags.f_contiguous
    w = rng.standard_normal((70, 33)).astype(dtype)[::2][:, :]  # (35, 33) every other row
    for a, b in ((x.T, other), (other.T, x), (x, w[:33].T), (w[:33], x.T)):
        got = pooled_dot(a, b, np.dtype(dtype))
        np.testing.assert_allclose(got, np.dot(np.ascontiguousarray(a),
                                               np.ascontiguousarray(b)), **tol)
    # through a compiled function: dot(s[:, :k].T, g) and dot(s[:, :k], W) + b
    s, g = T.matrix("s", dtype=dtype), T.matrix("g", dtype=dtype)
    W, bias = T.matrix("W", dtype=dtype), T.vector("bias", dtype=dtype)
    f = theano.function([s, g, W, bias], [T.dot(s[:, 3:36].T, g), T.dot(s[:, 3:36], W) + bias])
    Wv, bv = rng.standard_normal((33, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    got1, got2 = f(wide, other, Wv, bv)
    np.testing.assert_allclose(got1, x.T.copy() @ other, **tol)
    np.testing.assert_allclose(got2, x.copy() @ Wv + bv, **tol)
