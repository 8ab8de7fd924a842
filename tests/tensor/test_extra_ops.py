"""Tests of minigraph.tensor.extra_ops (Theano's home of to_one_hot and arange)."""

import numpy as np

import minigraph.tensor as T
from minigraph.tensor import extra_ops


def test_to_one_hot(rng):
    y = T.lvector("y")
    yv = rng.integers(0, 5, 7)
    out = extra_ops.to_one_hot(y, 5)
    assert out.type.shape == (None, 5)
    assert np.array_equal(out.eval({y: yv}), np.eye(5)[yv])
    assert extra_ops.to_one_hot(y, 3, dtype="int32").eval({y: [2, 0]}).tolist() == [[0, 0, 1],
                                                                                   [1, 0, 0]]


def test_arange():
    n = T.lscalar("n")
    assert extra_ops.arange(n).eval({n: 4}).tolist() == [0, 1, 2, 3]


# ---- cumsum cumprod repeat bincount squeeze diff fill_diagonal (issue 15) ----
import pytest  # noqa: E402

from minigraph.graph.basic import GraphError  # noqa: E402
from minigraph.gradient import verify_grad  # noqa: E402


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_cumsum_cumprod_match_numpy(axis, dtype, rng):
    xv = (rng.random((3, 4)) * 2 + 0.5).astype(dtype)
    x = T.tensor(dtype, (None, None), name="x")
    for fn, ref in [(T.cumsum, np.cumsum), (extra_ops.cumprod, np.cumprod)]:
        got = fn(x, axis=axis).eval({x: xv})
        want = ref(xv, axis=axis, dtype=dtype)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-15)
    if dtype == "float64":
        verify_grad(lambda a: T.cumsum(a, axis=axis), [xv], rng=rng)
        verify_grad(lambda a: T.cumprod(a, axis=axis), [xv], rng=rng)
    assert extra_ops.cumsum is T.cumsum


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_repeat_matches_numpy(axis, rng):
    xv = rng.standard_normal((2, 3))
    x = T.dmatrix("x")
    n = xv.size if axis is None else xv.shape[axis]
    for reps in (2, rng.integers(0, 3, n)):
        np.testing.assert_array_equal(T.repeat(x, reps, axis=axis).eval({x: xv}),
                                      np.repeat(xv, reps, axis=axis))
        verify_grad(lambda a: extra_ops.repeat(a, reps, axis=axis), [xv], rng=rng)
    r = T.lvector("r")
    np.testing.assert_array_equal(T.repeat(x, r, axis=1).eval({x: xv, r: [1, 0, 3]}),
                                  np.repeat(xv, [1, 0, 3], axis=1))
    with pytest.raises(GraphError, match="repeats must be"):
        T.repeat(x, T.dvector())


def test_bincount(rng):
    x, w = T.lvector("x"), T.dvector("w")
    xv, wv = rng.integers(0, 5, 9), rng.standard_normal(9)
    np.testing.assert_array_equal(extra_ops.bincount(x).eval({x: xv}), np.bincount(xv))
    np.testing.assert_array_equal(extra_ops.bincount(x, minlength=8).eval({x: xv}),
                                  np.bincount(xv, minlength=8))
    got = extra_ops.bincount(x, weights=w).eval({x: xv, w: wv})
    np.testing.assert_allclose(got, np.bincount(xv, wv), rtol=1e-15)
    verify_grad(lambda ww: extra_ops.bincount(xv, weights=ww), [wv], rng=rng)
    with pytest.raises(ValueError, match="negative"):
        extra_ops.bincount(x).eval({x: np.array([1, -1])})


def test_squeeze_and_diff(rng):
    c = T.dcol("c")
    assert extra_ops.squeeze(c).type.shape == (None,)
    t = T.dtensor3("t")
    tv = rng.standard_normal((2, 1, 3))
    s = extra_ops.squeeze(t, axis=1)
    assert s.ndim == 2
    np.testing.assert_array_equal(s.eval({t: tv}), tv.squeeze(1))
    with pytest.raises(ValueError, match="expected shape"):
        s.eval({t: rng.standard_normal((2, 2, 3))})  # axis 1 is not of length 1
    m = T.dmatrix("m")
    mv = rng.standard_normal((3, 5))
    for n, axis in [(1, -1), (2, 1), (1, 0)]:
        np.testing.assert_allclose(extra_ops.diff(m, n, axis).eval({m: mv}),
                                   np.diff(mv, n, axis), rtol=1e-15)
    verify_grad(lambda a: extra_ops.diff(a, 2), [mv], rng=rng)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2), (2, 2, 2)])
def test_fill_diagonal(shape, rng):
    av = rng.standard_normal(shape)
    a, v = T.tensor("float64", (None,) * len(shape), name="a"), T.dscalar("v")
    want = av.copy()
    np.fill_diagonal(want, 7.5)
    np.testing.assert_array_equal(T.fill_diagonal(a, v).eval({a: av, v: 7.5}), want)
    verify_grad(extra_ops.fill_diagonal, [av, np.array(0.3)], rng=rng)
    f = T.fmatrix("f")
    assert T.fill_diagonal(f, 1).dtype == "float32"
    with pytest.raises(GraphError, match="2 or more"):
        T.fill_diagonal(T.dvector(), 1.0)


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
@pytest.mark.parametrize("offset", [0, 1, -1, 3])
def test_fill_diagonal_offset(shape, offset, rng):
    av = rng.standard_normal(shape)
    a, v, k = T.dmatrix("a"), T.dscalar("v"), T.lscalar("k")
    want = av.copy()
    rows = np.arange(max(-offset, 0), shape[0])
    keep = rows + offset < shape[1]
    want[rows[keep], rows[keep] + offset] = 2.5
    got = extra_ops.fill_diagonal_offset(a, v, k).eval({a: av, v: 2.5, k: offset})
    np.testing.assert_array_equal(got, want)
    verify_grad(lambda x, y: extra_ops.fill_diagonal_offset(x, y, offset), [av, np.array(0.7)],
                rng=rng)


def test_bartlett():
    m = T.lscalar("m")
    for n in (0, 1, 5, 8):
        np.testing.assert_array_equal(extra_ops.bartlett(m).eval({m: n}), np.bartlett(n))
    with pytest.raises(GraphError, match="int scalar"):
        extra_ops.bartlett(T.dscalar())
