"""Tests of minigraph.tensor.arrange: tile, roll, stacking helpers, nonzero, ...subtensor1."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad


@pytest.mark.parametrize("shape,reps", [((3,), (2,)), ((2, 3), (2, 1)), ((2, 3), (3,)),
                                        ((1, 3), (2, 1, 2)), ((3,), (1, 1))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tile_matches_numpy(shape, reps, dtype, rng):
    xv = rng.standard_normal(shape).astype(dtype)
    x = T.tensor(dtype, (None,) * len(shape), name="x")
    got = T.tile(x, reps).eval({x: xv})
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, np.tile(xv, reps))
    verify_grad(lambda a: T.tile(a, reps), [xv.astype("float64")], rng=rng)


def test_tile_symbolic_reps(rng):
    x, r = T.dmatrix("x"), T.lscalar("r")
    xv = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(T.tile(x, (r, 2)).eval({x: xv, r: 3}), np.tile(xv, (3, 2)))
    reps = T.lvector("reps")
    np.testing.assert_array_equal(T.tile(x, reps, ndim=2).eval({x: xv, reps: [1, 2]}),
                                  np.tile(xv, (1, 2)))
    with pytest.raises(GraphError, match="ndim=1"):
        T.tile(x, (2, 2), ndim=1)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("shift", [-4, 0, 1, 2, 7])
def test_roll_matches_numpy(axis, shift, rng):
    xv = rng.standard_normal((3, 4))
    x = T.dmatrix("x")
    np.testing.assert_array_equal(T.roll(x, shift, axis).eval({x: xv}), np.roll(xv, shift, axis))


def test_roll_symbolic_shift_gradient_and_bad_axis(rng):
    x, s = T.dvector("x"), T.lscalar("s")
    xv = rng.standard_normal(5)
    for k in (-6, 3, 11):
        np.testing.assert_array_equal(T.roll(x, s).eval({x: xv, s: k}), np.roll(xv, k))
    verify_grad(lambda a: T.roll(a, 2, 1), [rng.standard_normal((2, 3))], rng=rng)
    with pytest.raises(GraphError, match="axis 2 is out of range"):
        T.roll(x, 1, 2)


def test_shape_padaxis():
    x = T.dmatrix("x")
    assert T.shape_padaxis(x, 0).type.shape == (1, None, None)
    assert T.shape_padaxis(x, 2).type.shape == (None, None, 1)
    assert T.shape_padaxis(x, -2).type.shape == (None, 1, None)
    v = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(T.shape_padaxis(x, 1).eval({x: v}), v[:, None, :])
    with pytest.raises(GraphError, match="out of range"):
        T.shape_padaxis(x, 3)


def test_vertical_horizontal_stack_and_stacklists(rng):
    a, b = T.fmatrices("a", "b")
    av = rng.standard_normal((2, 3)).astype("float32")
    bv = rng.standard_normal((1, 3)).astype("float32")
    np.testing.assert_array_equal(T.vertical_stack(a, b).eval({a: av, b: bv}),
                                  np.vstack([av, bv]))
    np.testing.assert_array_equal(T.horizontal_stack(a, a).eval({a: av}), np.hstack([av, av]))
    with pytest.raises(GraphError, match="stacks matrices"):
        T.vertical_stack(a, T.fvector("v"))
    s = T.dscalars(4)
    out = T.stacklists([[s[0], s[1]], [s[2], s[3]]])
    assert out.ndim == 2
    np.testing.assert_array_equal(out.eval(dict(zip(s, [1.0, 2.0, 3.0, 4.0]))),
                                  [[1.0, 2.0], [3.0, 4.0]])
    m = T.dmatrix("m")
    assert T.stacklists([m, m]).ndim == 3
    verify_grad(lambda p, q: T.vertical_stack(p, q * 2), [av.astype("float64"),
                                                           bv.astype("float64")], rng=rng)


def test_advanced_inc_and_set_subtensor1(rng):
    x, y, i = T.dmatrix("x"), T.dmatrix("y"), T.lvector("i")
    xv, yv, iv = rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), np.array([1, 3, 1])
    want = xv.copy()
    np.add.at(want, iv, yv)  # repeated rows accumulate
    np.testing.assert_array_equal(T.advanced_inc_subtensor1(x, y, i).eval(
        {x: xv, y: yv, i: iv}), want)
    want = xv.copy()
    want[[0, 2]] = yv[:2]
    np.testing.assert_array_equal(T.advanced_set_subtensor1(x, y[:2], [0, 2]).eval(
        {x: xv, y: yv}), want)
    verify_grad(lambda a, b: T.advanced_inc_subtensor1(a, b, iv), [xv, yv], rng=rng)


def test_nonzero_family(rng):
    x = T.dmatrix("x")
    xv = rng.standard_normal((3, 4)) * (rng.random((3, 4)) > 0.5)
    got = T.nonzero(x)
    assert len(got) == 2
    for g, w in zip(got, np.nonzero(xv)):
        assert g.dtype == "int64"
        np.testing.assert_array_equal(g.eval({x: xv}), w)
    np.testing.assert_array_equal(T.nonzero(x, return_matrix=True).eval({x: xv}),
                                  np.array(np.nonzero(xv)))
    np.testing.assert_array_equal(T.flatnonzero(x).eval({x: xv}), np.flatnonzero(xv))
    np.testing.assert_array_equal(T.nonzero_values(x).eval({x: xv}), xv[xv != 0])
    np.testing.assert_array_equal(T.nonzero(x)[0].eval({x: np.zeros((2, 2))}), [])
    with pytest.raises(GraphError, match="scalar"):
        T.nonzero(T.dscalar())


def test_swapaxes_take_split_ptp(rng):
    x = T.dtensor3("x")
    xv = rng.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(T.swapaxes(x, 0, -1).eval({x: xv}), np.swapaxes(xv, 0, -1))
    for idx, axis in [(np.array([2, 0, 2]), 1), (np.array([[1, 0], [3, 3]]), 2), (5, None),
                      (np.array([0, 23]), None), (1, 0)]:
        np.testing.assert_array_equal(T.take(x, idx, axis=axis).eval({x: xv}),
                                      np.take(xv, idx, axis=axis))
    verify_grad(lambda a: T.take(a, np.array([2, 0, 2]), axis=1), [xv], rng=rng)
    sizes = T.lvector("sizes")
    parts = T.split(x, sizes, 3, axis=2)
    got = [p.eval({x: xv, sizes: [1, 0, 3]}) for p in parts]
    for g, w in zip(got, np.split(xv, [1, 1], axis=2)):
        np.testing.assert_array_equal(g, w)
    verify_grad(lambda a: T.split(a, [2, 2], 2, axis=-1)[1], [xv], rng=rng)
    for axis in (None, 0, 2):
        np.testing.assert_array_equal(T.ptp(x, axis=axis).eval({x: xv}), np.ptp(xv, axis=axis))
    with pytest.raises(GraphError, match="mode='raise'"):
        T.take(x, 1, mode="wrap")
    with pytest.raises(GraphError, match="vector"):
        T.split(x, 2, 1)
