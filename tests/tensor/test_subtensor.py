"""Tests of minigraph.tensor.subtensor: basic slicing (symbolic bounds too), integer-array
indexing, set_subtensor / inc_subtensor, accumulation over repeated indices, errors."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from kernels import workspace

HERE = os.path.basename(__file__)


def test_basic_indexing_matches_numpy(rng):
    x = T.dtensor3("x")
    xv = rng.standard_normal((4, 5, 6))
    cases = [lambda a: a[1], lambda a: a[-1], lambda a: a[1:3], lambda a: a[::-1],
             lambda a: a[:, 2], lambda a: a[..., 1], lambda a: a[None, 1],
             lambda a: a[1, 2:, ::2], lambda a: a[:, None, -2], lambda a: a[1, 2, 3]]
    got = theano.function([x], [c(x) for c in cases])(xv)
    for g, c in zip(got, cases):
        assert np.array_equal(g, c(xv))


def test_symbolic_bounds(rng):
    m = T.dmatrix("m")
    i, j = T.lscalar("i"), T.iscalar("j")
    mv = rng.standard_normal((6, 3))
    f = theano.function([m, i, j], [m[i], m[i:j], m[i * 2:(i + 1) * 2], m[j, i], m[:j:i],
                                    m[m.shape[0] - 2:]])
    got = f(mv, 1, 4)
    for g, w in zip(got, [mv[1], mv[1:4], mv[2:4], mv[4, 1], mv[:4:1], mv[4:]]):
        assert np.array_equal(g, w)
    with pytest.raises(IndexError, match=f"out of bounds.*{HERE}:"):
        f(mv, 1, 7)  # m[7, 1]


def test_static_shapes_of_slices():
    x = T.tensor("float64", (5, 4))
    assert x[1:3].type.shape == (2, 4) and x[1:100].type.shape == (4, 4)
    assert x[T.lscalar():].type.shape == (None, 4) and x[:, 1].type.shape == (5,)
    assert x[None].type.shape == (1, 5, 4)


def test_integer_array_indexing(rng):
    m = T.dmatrix("m")
    idx, y = T.lvector("idx"), T.ivector("y")
    imat = T.lmatrix("imat")
    mv = rng.standard_normal((5, 4))
    iv, yv = np.array([0, 2, 2, 4]), np.array([1, 0, 3, 3], "int32")
    outs = [m[idx], m[T.arange(y.shape[0]), y], m[:, y], m[idx, 1:3], m[[0, 1]],
            m[np.array([3, 1])], m[imat]]
    got = theano.function([m, idx, y, imat], outs)(mv, iv, yv, np.array([[0, 1], [2, 3]]))
    want = [mv[iv], mv[np.arange(4), yv], mv[:, yv], mv[iv, 1:3], mv[[0, 1]], mv[[3, 1]],
            mv[np.array([[0, 1], [2, 3]])]]
    for g, w in zip(got, want):
        assert np.array_equal(g, w)
    assert m[idx].type.shape == (None, None)
    assert T.tensor("float64", (None, 4))[idx].type.shape == (None, 4)


def test_set_and_inc_subtensor(rng):
    m, v = T.dmatrix("m"), T.dvector("v")
    idx, i = T.lvector("idx"), T.lscalar("i")
    mv, vv = rng.standard_normal((4, 3)), rng.standard_normal(4)
    outs = [T.set_subtensor(m[1:3], 0.0), T.inc_subtensor(m[1:3], 1.0),
            T.set_subtensor(m[:, 1], v), T.inc_subtensor(v[idx], 1.0),
            T.set_subtensor(v[idx], 5.0), T.set_subtensor(v[i], 7.0), T.inc_subtensor(m[idx, 0], v)]
    got = theano.function([m, v, idx, i], outs)(mv, vv, np.array([0, 2, 2, 1]), 3)
    w = [mv.copy() for _ in range(2)] + [mv.copy()] + [vv.copy() for _ in range(3)] + [mv.copy()]
    w[0][1:3] = 0.0
    w[1][1:3] += 1.0
    w[2][:, 1] = vv
    np.add.at(w[3], [0, 2, 2, 1], 1.0)  # repeated indices accumulate
    w[4][[0, 2, 2, 1]] = 5.0
    w[5][3] = 7.0
    np.add.at(w[6], ([0, 2, 2, 1], 0), vv)
    for g, e in zip(got, w):
        assert np.array_equal(g, e)
    assert got[3][2] == pytest.approx(vv[2] + 2, rel=1e-15)  # index 2 got both increments
    np.testing.assert_array_equal(mv, theano.function([m], m)(mv))  # inputs untouched


@pytest.mark.parametrize("shape", [(5000,), (50, 100)])
def test_big_lookup_follows_numpy_indexing(rng, shape):
    """``E[idx]`` with a big result (12 MB of rows): NumPy's values, negative indices
    included, and NumPy's IndexError (with the node's line) for an index out of range. The
    rows are fresh memory that starts on a huge-page boundary on Linux (``aligned_bytes``),
    neither a workspace block nor a memory plan's range: there an embedding's rows stayed
    idle through the backward (a custom cell's peak rose by about 50 MB, the GRU
    char-RNN's by 30)."""
    E, idx = T.dmatrix("E"), T.tensor("int64", (None,) * len(shape), name="idx")
    f = theano.function([E, idx], E[idx])
    Ev = rng.standard_normal((97, 300))
    iv = rng.integers(-97, 97, shape)
    got = f(Ev, iv)  # 12 MB of rows
    assert got.nbytes >= (1 << 20)
    np.testing.assert_array_equal(got, Ev[iv])
    if workspace._MADVISE is not None:
        assert got.ctypes.data % workspace.HUGE_PAGE == 0
    for bad in (97, -98):
        iv.flat[7] = bad
        with pytest.raises(IndexError, match=f"out of bounds.*{HERE}:"):
            f(Ev, iv)


def test_lookup_gradient_accumulates_over_repeated_indices(rng):
    E = theano.shared(rng.standard_normal((5, 3)), name="E")
    idx = T.lvector("idx")
    g = T.grad(T.sum(E[idx] * np.arange(1.0, 4.0)), E)
    got = theano.function([idx], g)(np.array([1, 3, 1, 1]))
    want = np.zeros((5, 3))
    want[1] = 3 * np.arange(1.0, 4.0)
    want[3] = np.arange(1.0, 4.0)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("build, message", [
    (lambda m: m[1.5], "index arrays must be integers"),
    (lambda m: m[T.dvector("v")], "index arrays must be integers, got float64[?]"),
    (lambda m: m[1, 2, 3], "too many indices (3) for the 2-d m"),
    (lambda m: m[m > 0], "boolean-mask indexing is not supported"),
    (lambda m: m[True], "booleans are not indices"),
    (lambda m: m[1:T.dscalar("s")], "slice bounds must be ints or int scalars"),
    (lambda m: T.set_subtensor(m, 0.0), "set_subtensor expects an indexed tensor"),
    (lambda m: T.inc_subtensor(m[0], T.dmatrix("big")), "the value big float64[?,?] does not"),
    (lambda m: T.set_subtensor(T.tensor("float64", (4, 3))[1:3], T.tensor("float64", (2, 2))),
     "does not fit the indexed part float64[2,3]"),
])
def test_bad_indices_name_the_problem_and_line(build, message):
    with pytest.raises(GraphError) as info:
        build(T.dmatrix("m"))
    assert message in str(info.value) and f"{HERE}:" in str(info.value)


def test_run_time_index_errors_name_the_node():
    m, idx = T.dmatrix("m"), T.lvector("idx")
    f = theano.function([m, idx], [m[idx]])
    with pytest.raises(IndexError, match=f"index 10 is out of bounds.*{HERE}:"):
        f(np.zeros((3, 2)), np.array([10]))
    g = theano.function([m], T.set_subtensor(m[0], np.zeros(5)))
    with pytest.raises(ValueError, match=f"SetSubtensor.*value shape \\(5,\\).*{HERE}:"):
        g(np.zeros((3, 2)))


def test_lookup_with_a_matrix_of_indices_has_a_gradient(rng):
    """E[idx2d] is 3-d for a 2-d E; its gradient scatters a 3-d value back, accumulating."""
    E = T.dmatrix("E")
    idx = T.imatrix("idx")
    cost = T.sum(E[idx] ** 2)
    g = theano.grad(cost, E)
    Ev = rng.normal(size=(5, 3))
    iv = np.array([[0, 1], [1, 4]], dtype="int32")
    expected = np.zeros_like(Ev)
    np.add.at(expected, iv, 2 * Ev[iv])
    np.testing.assert_allclose(theano.function([E, idx], g)(Ev, iv), expected)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shape", [(7,), (7, 5), (7, 3, 2), (1, 4)])
def test_inc_rows_by_an_int_vector_is_numpys_add_at(rng, dtype, shape):
    # the compiled row scatter (AdvancedIncSubtensor1's job) against numpy.add.at
    x = T.tensor(dtype, shape=(None,) * len(shape), name="x")
    i = T.ivector("i")
    y = T.tensor(dtype, shape=(None,) * len(shape), name="y")
    n = shape[0]
    ids = rng.integers(-n, n, 11).astype(np.int32)  # repeats and negative ids
    xv = (rng.normal(size=shape) * 10).astype(dtype)
    yv = (rng.normal(size=(11,) + shape[1:]) * 10).astype(dtype)
    f = theano.function([x, i, y], [T.inc_subtensor(x[i], y),
                                    T.inc_subtensor(x[i], y[0])])  # y[0] broadcasts
    got, got_b = f(xv, ids, yv)
    want, want_b = xv.copy(), xv.copy()
    np.add.at(want, ids, yv)
    np.add.at(want_b, ids, yv[0])
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_b, want_b, rtol=tol, atol=tol)
    assert got.dtype == np.dtype(dtype)
    inc = theano.function([x, i, y], T.inc_subtensor(x[i], y))
    np.testing.assert_array_equal(inc(xv, ids[:0], yv[:0]), xv)  # no ids: x unchanged
    with pytest.raises(ValueError, match=f"index {n} is out of bounds.*{HERE}"):
        inc(xv, np.array([0, n], np.int32), yv[:2])


def test_lookup_gradient_by_finite_differences(rng):
    idx = np.array([3, 0, 3, 1, 3], np.int32)
    theano.gradient.verify_grad(lambda W: W[T.constant(idx)] * np.arange(5.0)[:, None],
                                [rng.normal(size=(4, 3))], rng=rng)


@pytest.mark.parametrize("entries, idx", [
    ((("slice", None, "in", None),), (np.int64(5),)),
    ((("slice", 1, "in", None), "in"), (np.asarray(4), np.int32(2))),
    (("in", "newaxis", ("slice", "in", "in", "in")), (np.int64(-1), 0, 7, np.int8(-2))),
    ((0, ("slice", None, None, -1), "array"), (np.array([1, 0]),)),
    (("newaxis",), ()),
    ((), ()),
])
def test_index_builder_equals_build_index(entries, idx):
    # the generated per-node builder (Subtensor's runner) and the generic walk agree,
    # types of every part included (ints made Python ints, slice bounds as given)
    from minigraph.tensor.subtensor import _build_index, _index_builder

    want, got = _build_index(entries, idx), _index_builder(entries)(idx)
    assert type(got) is tuple and len(got) == len(want)
    for g, w in zip(got, want):
        assert type(g) is type(w)
        if isinstance(w, slice):
            assert (g.start, g.stop, g.step) == (w.start, w.stop, w.step)
            assert [type(p) for p in (g.start, g.stop, g.step)] == \
                [type(p) for p in (w.start, w.stop, w.step)]
        elif isinstance(w, np.ndarray):
            assert g is w
        else:
            assert g == w
