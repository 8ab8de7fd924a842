"""Tests of minigraph.tensor.lookup: Unique, searchsorted, compress, ravel_multi_index,
unravel_index (reached as T.extra_ops.*), against NumPy."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad
from minigraph.tensor import extra_ops


@pytest.mark.parametrize("flags", [(False, False, False), (True, True, False),
                                   (True, True, True), (False, False, True)])
def test_unique_matches_numpy(flags, rng):
    x = T.fmatrix("x")
    xv = rng.integers(0, 5, (3, 4)).astype("float32")
    outs = extra_ops.Unique(*flags)(x)
    outs = outs if isinstance(outs, list) else [outs]
    want = np.unique(xv, return_index=flags[0], return_inverse=flags[1], return_counts=flags[2])
    want = want if isinstance(want, tuple) else (want,)
    assert len(outs) == len(want) == 1 + sum(flags)
    assert outs[0].dtype == "float32" and all(o.dtype == "int64" for o in outs[1:])
    for o, w in zip(outs, want):
        np.testing.assert_array_equal(o.eval({x: xv}), np.ravel(w))


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted(side, rng):
    x, v = T.dvector("x"), T.dmatrix("v")
    xv = np.sort(rng.integers(0, 6, 8)).astype("float64")
    vv = rng.integers(-1, 8, (2, 3)).astype("float64")
    got = extra_ops.searchsorted(x, v, side=side).eval({x: xv, v: vv})
    np.testing.assert_array_equal(got, np.searchsorted(xv, vv, side=side))
    order = T.lvector("order")
    shuffled = rng.permutation(xv)
    got = extra_ops.searchsorted(x, v, side, sorter=order).eval(
        {x: shuffled, v: vv, order: np.argsort(shuffled, kind="stable")})
    np.testing.assert_array_equal(got, np.searchsorted(xv, vv, side=side))
    with pytest.raises(GraphError, match="side"):
        extra_ops.searchsorted(x, v, side="middle")
    with pytest.raises(GraphError, match="vector"):
        extra_ops.searchsorted(v, x)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_compress_and_its_gradient(axis, rng):
    x = T.dmatrix("x")
    xv = rng.standard_normal((3, 4))
    n = xv.size if axis is None else xv.shape[axis]
    cond = rng.random(n) > 0.4
    cond[0] = True
    np.testing.assert_array_equal(extra_ops.compress(cond, x, axis=axis).eval({x: xv}),
                                  np.compress(cond, xv, axis=axis))
    verify_grad(lambda a: extra_ops.compress(cond, a, axis=axis), [xv], rng=rng)


def test_ravel_and_unravel_index(rng):
    dims = (3, 4, 5)
    flat = rng.integers(0, 60, 7)
    coords = extra_ops.unravel_index(flat, dims)
    want = np.unravel_index(flat, dims)
    assert len(coords) == 3
    for c, w in zip(coords, want):
        np.testing.assert_array_equal(c.eval(), w)
    i, j, k = T.lvectors("i", "j", "k")
    back = extra_ops.ravel_multi_index((i, j, k), dims)
    np.testing.assert_array_equal(back.eval(dict(zip((i, j, k), want))), flat)
    f_order = extra_ops.unravel_index(flat, dims, order="F")
    for c, w in zip(f_order, np.unravel_index(flat, dims, order="F")):
        np.testing.assert_array_equal(c.eval(), w)
    with pytest.raises(GraphError, match="known length"):
        extra_ops.unravel_index(flat, T.lvector())
    with pytest.raises(GraphError, match="tuple of index arrays"):
        extra_ops.ravel_multi_index(i, dims)
