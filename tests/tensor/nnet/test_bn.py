"""Tests of minigraph.tensor.nnet.bn against NumPy formulas, with gradients."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad
from minigraph.tensor.nnet import bn


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_normalization_formula(dtype, rng):
    x, g, b, m, s = (rng.standard_normal((4, 3)).astype(dtype) for _ in range(5))
    s = np.abs(s) + 0.5
    xs = [T.matrix(n, dtype=dtype) for n in "xgbms"]
    out = bn.batch_normalization(*xs)
    got = out.eval(dict(zip(xs, (x, g, b, m, s))))
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, (x - m) * (g / s) + b, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        bn.batch_normalization(*xs, mode="fast")


@pytest.mark.parametrize("shape,axes,pshape", [
    ((5, 3), "per-activation", (3,)),
    ((1, 4), "per-activation", (1, 4)),
    ((2, 3, 4, 5), "spatial", (3,)),
    ((2, 3, 4, 5), (0, 2, 3), (1, 3, 1, 1)),
    ((4, 3, 2), (0, 1), (2,)),
])
def test_batch_normalization_train_matches_numpy(shape, axes, pshape, rng):
    xv = rng.standard_normal(shape)
    gv, bv = rng.standard_normal(pshape), rng.standard_normal(pshape)
    rm, rv = rng.standard_normal(pshape), rng.random(pshape) + 0.5
    ax = {"per-activation": (0,), "spatial": (0, 2, 3)}.get(axes, axes)
    eps, f = 1e-3, 0.3
    x = T.tensor("float64", (None,) * len(shape), name="x")
    m = np.prod([shape[d] for d in ax])
    # batch 1: the m / (m - 1) correction of the running variance is undefined, so none
    running = (rm, rv) if m > 1 else (None, None)
    outs = bn.batch_normalization_train(x, gv, bv, axes, eps, f, *running)
    assert len(outs) == (5 if m > 1 else 3)
    got = [o.eval({x: xv}) for o in outs]
    mean = xv.mean(axis=ax, keepdims=True)
    var = xv.var(axis=ax, keepdims=True)
    layout = lambda s: s.reshape(pshape)  # noqa: E731
    g4 = gv.reshape([1 if d in ax else shape[d] for d in range(len(shape))])
    b4 = bv.reshape(g4.shape)
    want_out = (xv - mean) / np.sqrt(var + eps) * g4 + b4
    want = [want_out, layout(mean), layout(1 / np.sqrt(var + eps))]
    if m > 1:
        want += [rm * (1 - f) + layout(mean) * f, rv * (1 - f) + layout(var) * m / (m - 1) * f]
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    if m > 1:
        def layer(a, gg, bb):
            if gg.ndim == a.ndim:  # a full-rank gamma must be broadcastable on the axes
                gg, bb = T.addbroadcast(gg, *ax), T.addbroadcast(bb, *ax)
            return bn.batch_normalization_train(a, gg, bb, axes, eps)[0]

        verify_grad(layer, [xv, gv, bv], rng=rng)


def test_batch_normalization_test_and_errors(rng):
    xv = rng.standard_normal((2, 3, 4, 4)).astype("float32")
    p = [rng.standard_normal(3).astype("float32") for _ in range(3)]
    var = (rng.random(3) + 0.5).astype("float32")
    x = T.ftensor4("x")
    out = bn.batch_normalization_test(x, p[0], p[1], p[2], var, axes="spatial", epsilon=1e-4)
    r = lambda v: v.reshape(1, 3, 1, 1)  # noqa: E731
    want = (xv - r(p[2])) * r(p[0]) / np.sqrt(r(var) + 1e-4) + r(p[1])
    got = out.eval({x: xv})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(GraphError, match="both running_mean and running_var"):
        bn.batch_normalization_train(x, p[0], p[1], "spatial", running_mean=p[2])
    with pytest.raises(GraphError, match="axes must be"):
        bn.batch_normalization_train(x, p[0], p[1], "channel")
    with pytest.raises(GraphError, match="4 or 3 dimensions"):
        bn.batch_normalization_train(x, np.ones((3, 1)), p[1], "per-activation")
