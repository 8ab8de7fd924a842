"""Tests of minigraph.tensor.nnet.neighbours: images2neibs / neibs2images against loops."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad
from minigraph.tensor.nnet import neighbours as N


def _reference(x, shape, step):
    """Windows cut out by explicit loops, in Theano's order."""
    (nh, nw), (sh, sw) = shape, step
    rows = []
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            for r in range(0, x.shape[2] - nh + 1, sh):
                for q in range(0, x.shape[3] - nw + 1, sw):
                    rows.append(x[b, c, r:r + nh, q:q + nw].ravel())
    return np.array(rows)


@pytest.mark.parametrize("img,shape,step,mode", [
    ((2, 3, 4, 6), (2, 2), None, "valid"),
    ((1, 1, 5, 7), (2, 3), (1, 2), "valid"),
    ((2, 1, 5, 7), (2, 2), None, "ignore_borders"),
    ((1, 2, 6, 5), (3, 2), (2, 1), "ignore_borders"),
    ((1, 1, 3, 3), (3, 3), None, "valid"),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_images2neibs_matches_loops(img, shape, step, mode, dtype, rng):
    xv = rng.standard_normal(img).astype(dtype)
    x = T.tensor4("x", dtype=dtype)
    got = N.images2neibs(x, shape, step, mode=mode).eval({x: xv})
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, _reference(xv, shape, step or shape))
    if dtype == "float64":  # overlapping windows: their gradients add up
        verify_grad(lambda a: N.images2neibs(a, shape, step, mode=mode), [xv], rng=rng)


def test_neibs2images_inverts_and_gradient(rng):
    x = T.dtensor4("x")
    xv = rng.standard_normal((2, 2, 4, 6))
    back = N.neibs2images(N.images2neibs(x, (2, 3)), (2, 3), x.shape)
    np.testing.assert_array_equal(back.eval({x: xv}), xv)
    yv = rng.standard_normal((2, 1, 5, 7))
    back = N.neibs2images(N.images2neibs(x, (2, 2), mode="ignore_borders"), (2, 2),
                          (2, 1, 5, 7), mode="ignore_borders").eval({x: yv})
    want = np.zeros_like(yv)
    want[:, :, :4, :6] = yv[:, :, :4, :6]
    np.testing.assert_array_equal(back, want)
    nv = rng.standard_normal((6, 4))
    verify_grad(lambda n: N.neibs2images(n, (2, 2), (1, 1, 4, 6)), [nv], rng=rng)


def test_bad_arguments_are_named():
    x = T.dtensor4("x")
    with pytest.raises(ValueError, match="tile the 5x7"):
        N.images2neibs(x, (2, 2)).eval({x: np.zeros((1, 1, 5, 7))})
    with pytest.raises(ValueError, match="smaller than"):
        N.images2neibs(x, (4, 4), mode="ignore_borders").eval({x: np.zeros((1, 1, 3, 7))})
    with pytest.raises(GraphError, match="4-d"):
        N.images2neibs(T.dmatrix(), (2, 2))
    with pytest.raises(GraphError, match="mode"):
        N.images2neibs(x, (2, 2), mode="wrap_centered")
    with pytest.raises(GraphError, match="two positive ints"):
        N.images2neibs(x, (2, 0))
    with pytest.raises(GraphError, match="known when the graph is built"):
        N.images2neibs(x, T.lvector())
