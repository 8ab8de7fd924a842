"""Tests of minigraph.tensor.shape: reshape, flatten, transpose, concatenate, stack, alloc,
zeros/ones, arange, eye, shape, specify_shape; static shapes and errors."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError

HERE = os.path.basename(__file__)


def test_reshape_forms(rng):
    x = T.dtensor3("x")
    v = T.dvector("v")
    xv = rng.standard_normal((2, 3, 4))
    outs = [T.reshape(x, (6, 4)), x.reshape((-1, 4)), x.reshape((x.shape[0], -1)),
            x.reshape(v.shape, ndim=1), x.reshape([4, x.shape[1], 2]), x.reshape(24)]
    got = theano.function([x, v], outs)(xv, np.zeros(24))
    for g, w in zip(got, [xv.reshape(6, 4), xv.reshape(-1, 4), xv.reshape(2, -1),
                          xv.reshape(24), xv.reshape(4, 3, 2), xv.reshape(24)]):
        assert np.array_equal(g, w)
    assert x.reshape((-1, 4)).type.shape == (None, 4)
    assert x.reshape([4, x.shape[1], 2]).type.shape == (4, None, 2)


def test_reshape_errors():
    with pytest.raises(GraphError, match=f"cannot reshape .* of shape \\(3, 4\\) to \\(5, 3\\)"
                                         f".*{HERE}:"):
        T.tensor("float64", (3, 4), name="a").reshape((5, 3))
    x = T.dmatrix("x")
    f = theano.function([x], x.reshape((7, -1)))
    with pytest.raises(ValueError, match=f"cannot reshape an array of shape \\(3, 4\\) into "
                                         f"\\(7, -1\\).*{HERE}:"):
        f(np.zeros((3, 4)))
    with pytest.raises(GraphError, match="needs ndim="):
        x.reshape(T.lvector("s"))
    with pytest.raises(GraphError, match="a shape must be an int vector"):
        x.reshape(T.dvector("s"), ndim=1)


def test_big_reshape_copies_into_workspace_memory(rng):
    """A reshape that must copy (a reversed or sliced big array) gives NumPy's values, in a
    block of the shared workspace that is handed out again once the result is dropped; one
    that can be a view stays a view; a wrong shape still names the node's line."""
    from kernels.workspace import SHARED
    from minigraph.tensor.shape import _reshape_copy

    x = T.dtensor3("x")
    f = theano.function([x], [x[::-1].reshape((-1, 16)) * 1.0, x[:, :, :8].reshape((-1, 8)),
                              x[1:].reshape((-1, 16))])
    xv = rng.standard_normal((64, 128, 16))  # 1 MB: the workspace's smallest block
    for g, w in zip(f(xv), [xv[::-1].reshape(-1, 16), xv[:, :, :8].reshape(-1, 8),
                            xv[1:].reshape(-1, 16)]):
        assert np.array_equal(g, w)
    got = _reshape_copy(xv[::-1], [-1, 16])
    np.testing.assert_array_equal(got, xv[::-1].reshape(-1, 16))
    assert got.flags.c_contiguous and any(np.shares_memory(got, b) for b in SHARED._blocks)
    address = got.__array_interface__["data"][0]
    other = _reshape_copy(xv[::-1], [-1, 16])  # held: no other free block fits better
    assert other.__array_interface__["data"][0] != address
    del got  # dropped: its block serves the next copy of that size
    assert _reshape_copy(xv[::-1], [-1, 16]).__array_interface__["data"][0] == address
    view = _reshape_copy(xv[1:], [-1, 16])
    assert np.shares_memory(view, xv)
    g = theano.function([x], x[::-1].reshape((7, -1)))
    with pytest.raises(ValueError, match=f"cannot reshape an array of shape .* into "
                                         f"\\(7, -1\\).*{HERE}:"):
        g(xv)


def test_flatten(rng):
    x = T.dtensor4("x")
    xv = rng.standard_normal((2, 3, 2, 2))
    a, b, c = theano.function([x], [T.flatten(x), x.flatten(3), T.flatten(x, outdim=2)])(xv)
    assert np.array_equal(a, xv.reshape(-1)) and np.array_equal(b, xv.reshape(2, 3, 4))
    assert np.array_equal(c, xv.reshape(2, -1))
    assert T.flatten(x, 4) is x
    with pytest.raises(GraphError, match="flatten\\(ndim=5\\) of a 4-d tensor"):
        T.flatten(x, 5)


def test_transpose(rng):
    x = T.dtensor3("x")
    xv = rng.standard_normal((2, 3, 4))
    got = theano.function([x], [T.transpose(x), T.transpose(x, (1, 2, 0)), x.transpose(0, 2, 1),
                                x.T])(xv)
    for g, w in zip(got, [xv.T, xv.transpose(1, 2, 0), xv.transpose(0, 2, 1), xv.T]):
        assert np.array_equal(g, w)
    with pytest.raises(GraphError, match="not a permutation"):
        T.transpose(x, (0, 0, 1))


def test_concatenate_stack_join(rng):
    a, b = T.dmatrix("a"), T.dmatrix("b")
    av, bv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    outs = [T.concatenate([a, b]), T.concatenate([a, b], axis=1), T.concatenate([a, b], -1),
            T.join(0, a, b, a), T.stack([a, b]), T.stack([a, b], axis=2), T.stack([a, b], -1)]
    want = [np.concatenate([av, bv]), np.concatenate([av, bv], 1), np.concatenate([av, bv], -1),
            np.concatenate([av, bv, av]), np.stack([av, bv]), np.stack([av, bv], 2),
            np.stack([av, bv], -1)]
    for g, w in zip(theano.function([a, b], outs)(av, bv), want):
        assert np.array_equal(g, w)
    assert T.concatenate([a]) is a
    assert T.concatenate([T.tensor("float64", (2, 3)), T.tensor("float64", (4, 3))]).type.shape \
        == (6, 3)


def test_stack_of_scalars(rng):
    s, i = T.dscalar("s"), T.iscalar("i")
    v = T.stack([s, 2.0, s])
    w = T.stack([i, 3])
    assert v.type.shape == (3,) and w.dtype == "int64"
    got_v, got_w = theano.function([s, i], [v, w])(1.5, 4)
    assert got_v.tolist() == [1.5, 2.0, 1.5] and got_w.tolist() == [4, 3]


def test_concatenate_errors():
    m, v = T.dmatrix("m"), T.dvector("v")
    with pytest.raises(GraphError, match=f"all inputs need 2 dims; v has 1.*{HERE}:"):
        T.concatenate([m, v])
    with pytest.raises(GraphError, match="dimension 1 differs"):
        T.concatenate([T.tensor("float64", (2, 3)), T.tensor("float64", (2, 4))])
    with pytest.raises(GraphError, match="axis 2 out of range"):
        T.concatenate([m, m], axis=2)
    f = theano.function([m], T.concatenate([m, m.T]))
    with pytest.raises(ValueError, match=f"concatenate: .*along dimension 1.*{HERE}:"):
        f(np.zeros((2, 3)))


def test_alloc_zeros_ones(rng):
    m, v = T.dmatrix("m"), T.dvector("v")
    mv, vv = rng.standard_normal((3, 4)), rng.standard_normal(4)
    outs = [T.alloc(v, 2, 4), T.alloc(1.5, 2, 3), T.alloc(0.0, m.shape[0], m.shape[1]),
            T.zeros((2, 3)), T.ones(3, dtype="int32"), T.zeros(m.shape), T.ones((m.shape[0], 2)),
            T.zeros_like(m), T.ones_like(m)]
    got = theano.function([m, v], outs)(mv, vv)
    want = [np.tile(vv, (2, 1)), np.full((2, 3), 1.5), np.zeros((3, 4)), np.zeros((2, 3)),
            np.ones(3, "int32"), np.zeros((3, 4)), np.ones((3, 2)), np.zeros((3, 4)),
            np.ones((3, 4))]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)
    assert T.alloc(v, 2, 4).type.shape == (2, 4)
    assert T.zeros((2, 3)).dtype == theano.config.floatX


def test_arange_and_eye():
    m = T.dmatrix("m")
    n = T.lscalar("n")
    outs = [T.arange(5), T.arange(1, 10, 3), T.arange(0.0, 1.0, 0.25), T.arange(n),
            T.arange(m.shape[0]), T.eye(3), T.eye(2, 3, 1), T.eye(n, dtype="int8")]
    got = theano.function([m, n], outs)(np.zeros((2, 2)), 3)
    want = [np.arange(5), np.arange(1, 10, 3), np.arange(0.0, 1.0, 0.25), np.arange(3),
            np.arange(2), np.eye(3), np.eye(2, 3, 1), np.eye(3, dtype="int8")]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)
    assert T.arange(5).type.shape == (5,) and T.arange(n).type.shape == (None,)
    assert T.extra_ops.arange is T.arange
    with pytest.raises(GraphError, match="arange bounds must be scalars"):
        T.arange(T.dvector("v"))


def test_shape_and_specify_shape(rng):
    x = T.dmatrix("x")
    xv = rng.standard_normal((3, 4))
    shp, last, spec = theano.function([x], [T.shape(x), x.shape[-1],
                                            T.specify_shape(x, (3, None))])(xv)
    assert shp.tolist() == [3, 4] and int(last) == 4 and np.array_equal(spec, xv)
    assert T.specify_shape(x, (3, None)).type.shape == (3, None)
    f = theano.function([x], T.specify_shape(x, (2, None)))
    with pytest.raises(ValueError, match=f"expected shape \\(2, None\\), got \\(3, 4\\).*{HERE}:"):
        f(xv)
    with pytest.raises(GraphError, match="is 2-d, shape \\(2,\\)"):
        T.specify_shape(x, (2,))


def test_broadcast_helpers():
    m = T.dmatrix("m")
    assert T.addbroadcast(T.dmatrix(), 0).broadcastable == (True, False)
    assert T.patternbroadcast(m, (False, True)).broadcastable == (False, True)
    assert T.shape_padleft(T.dvector()).broadcastable == (True, False)
    assert T.shape_padright(T.dvector(), 2).broadcastable == (False, True, True)
    assert T.unbroadcast(m, 0) is m
    f = theano.function([m], T.addbroadcast(m, 0) + 1)
    assert f(np.zeros((1, 3))).tolist() == [[1.0] * 3]
    with pytest.raises(ValueError, match="expected shape \\(1, None\\), got \\(2, 3\\)"):
        f(np.zeros((2, 3)))  # a promise of size 1 is checked when the function runs
