"""``T.nnet.conv2d``, the old ``conv.conv2d`` and the two gradient ops.

Values against ``kernels.conv_ref`` (itself checked against the definition in
``tests/kernels/test_conv_cpu.py``) for every border mode, strides, dilation, groups, flip on
and off, batch 1 and odd sizes in float32 and float64; the flip against ``np.convolve``;
gradients and second derivatives by finite differences; static shapes; errors that name the
user's line.
"""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from kernels import conv_ref
from minigraph.gradient import verify_grad
from minigraph.graph.basic import GraphError
from minigraph.printing import debugprint
from minigraph.tensor.nnet import abstract_conv, conv

# (x shape, w shape, conv2d keyword arguments)
CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 2), dict()),
    ((1, 2, 5, 6), (3, 2, 3, 3), dict(border_mode="full")),
    ((2, 2, 6, 5), (3, 2, 3, 3), dict(border_mode="half", filter_flip=False)),
    ((2, 2, 6, 7), (3, 2, 2, 4), dict(border_mode="half", filter_dilation=(2, 1))),
    ((1, 4, 9, 8), (6, 2, 3, 3), dict(border_mode=(1, 2), subsample=(2, 3), num_groups=2)),
    ((3, 1, 8, 7), (2, 1, 3, 2), dict(border_mode=2, subsample=(3, 2), filter_flip=False)),
    ((2, 2, 5, 5), (2, 2, 2, 3), dict(border_mode=((1, 0), (0, 2)))),
]


def _reference(x, w, kw):
    op = abstract_conv.AbstractConv2d(**kw)
    if op.filter_flip:
        w = w[:, :, ::-1, ::-1]
    return conv_ref.conv2d_fwd(x, w, *op._params(w.shape[2:]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c[2]))
def test_values_match_reference(rng, dtype, case):
    xs, ws, kw = case
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    vx, vw = T.tensor4("x", dtype=dtype), T.tensor4("w", dtype=dtype)
    out = T.nnet.conv2d(vx, vw, **kw)
    got = theano.function([vx, vw], out)(x, w)
    assert got.dtype == np.dtype(dtype)
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, _reference(x, w, kw), rtol=tol, atol=tol)
    # the op's perform (the NumPy reference) agrees with its fast callable
    node = out.owner
    cell = [None]
    node.op.perform(node, [x, w], [cell])
    np.testing.assert_allclose(cell[0], got, rtol=tol, atol=tol)


def test_flip_is_a_true_convolution():
    # one row of one channel: 'full' conv2d is np.convolve, filter_flip=False np.correlate
    x, w = np.array([1.0, 2.0, -1.0, 0.5, 3.0]), np.array([2.0, 0.0, -1.0])
    vx, vw = T.tensor4("x"), T.tensor4("w")
    f = theano.function([vx, vw], [T.nnet.conv2d(vx, vw, border_mode="full"),
                                   T.nnet.conv2d(vx, vw, filter_flip=False)])
    full, corr = f(x.reshape(1, 1, 1, 5), w.reshape(1, 1, 1, 3))
    np.testing.assert_allclose(full.ravel(), np.convolve(x, w, mode="full"))
    np.testing.assert_allclose(corr.ravel(), np.correlate(x, w, mode="valid"))


def test_old_conv2d_is_the_flipped_convolution_with_image_shape(rng):
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    vx, vw = T.tensor4("x"), T.tensor4("w")
    for mode in ("valid", "full"):
        out = conv.conv2d(vx, vw, image_shape=(2, 3, 6, 5), filter_shape=(4, 3, 3, 3),
                          border_mode=mode)
        assert out.type.shape == ((2, 4, 4, 3) if mode == "valid" else (2, 4, 8, 7))
        np.testing.assert_allclose(theano.function([vx, vw], out)(x, w),
                                   _reference(x, w, dict(border_mode=mode)), rtol=1e-12, atol=1e-12)
    with pytest.raises(GraphError, match="'valid' or 'full'"):
        conv.conv2d(vx, vw, border_mode="half")


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c[2]))
def test_gradients_by_finite_differences(rng, case):
    xs, ws, kw = case
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    verify_grad(lambda a, b: T.nnet.conv2d(a, b, **kw), [x, w], rng=rng)


def test_second_derivatives_by_finite_differences(rng):
    xs, ws, kw = CASES[4]
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    for wrt in (0, 1):
        verify_grad(lambda a, b: T.grad(T.sum(T.nnet.conv2d(a, b, **kw) ** 2), [a, b][wrt]),
                    [x, w], rng=rng)


def test_float32_gradients(rng):
    x = rng.standard_normal((2, 2, 5, 6)).astype("float32")
    w = rng.standard_normal((3, 2, 3, 2)).astype("float32")
    verify_grad(lambda a, b: T.nnet.conv2d(a, b, border_mode="half", subsample=(2, 1)),
                [x, w], rng=rng)


def test_gradients_are_their_own_ops_and_match_the_functions(rng):
    vx, vw = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(vx, vw, border_mode="full", subsample=(2, 1))
    gx, gw = T.grad(T.sum(y ** 2), [vx, vw])
    assert isinstance(gx.owner.op, abstract_conv.AbstractConv2d_gradInputs)
    assert isinstance(gw.owner.op, abstract_conv.AbstractConv2d_gradWeights)
    assert "AbstractConv2d_gradWeights" in debugprint(gw, file="str")
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 3, 2))
    gy = 2 * theano.function([vx, vw], y)(x, w)
    vgy = T.tensor4("gy")
    fx = abstract_conv.conv2d_grad_wrt_inputs(vgy, vw, x.shape, border_mode="full",
                                              subsample=(2, 1))
    fw = abstract_conv.conv2d_grad_wrt_weights(vx, vgy, w.shape, border_mode="full",
                                               subsample=(2, 1))
    got = theano.function([vx, vw], [gx, gw])(x, w)
    want = theano.function([vx, vw, vgy], [fx, fw])(x, w, gy)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


def test_static_shapes_are_inferred():
    x = T.tensor("float32", shape=(500, 1, 28, 28))
    w = T.tensor("float32", shape=(20, 1, 5, 5))
    assert T.nnet.conv2d(x, w).type.shape == (500, 20, 24, 24)
    assert T.nnet.conv2d(x, w, border_mode="half", subsample=(2, 2)).type.shape == \
        (500, 20, 14, 14)
    assert T.nnet.conv2d(x, w, border_mode="full", filter_dilation=(2, 2)).type.shape == \
        (500, 20, 36, 36)
    assert abstract_conv.get_conv_output_shape((None, 3, 10, 9), (4, 3, 3, 3), (1, 0),
                                               (3, 2)) == (None, 4, 4, 4)
    gx, gw = T.grad(T.sum(T.nnet.conv2d(x, w)), [x, w])
    assert gx.type.shape == x.type.shape and gw.type.shape == w.type.shape


def test_input_shape_hints_are_checked():
    x, w = T.tensor4("x"), T.tensor4("w")
    f = theano.function([x, w], T.nnet.conv2d(x, w, input_shape=(None, 1, 5, 5)))
    assert f(np.ones((2, 1, 5, 5)), np.ones((1, 1, 2, 2))).shape == (2, 1, 4, 4)
    with pytest.raises(ValueError, match="expected shape"):
        f(np.ones((2, 1, 6, 5)), np.ones((1, 1, 2, 2)))
    fixed = T.tensor("float64", shape=(2, 1, 5, 5))
    with pytest.raises(GraphError, match="input_shape"):
        T.nnet.conv2d(fixed, w, image_shape=(2, 3, 5, 5))


def test_bad_input_raises_errors_naming_the_user_line():
    x, w = T.tensor("float64", shape=(None, 3, 8, 8)), T.tensor("float64", shape=(4, 2, 3, 3))
    with pytest.raises(GraphError, match=r"3 channels.*test_conv\.py"):
        T.nnet.conv2d(x, w)
    with pytest.raises(GraphError, match=r"unknown border_mode 'same'.*test_conv\.py"):
        T.nnet.conv2d(x, T.tensor4("v"), border_mode="same")
    with pytest.raises(GraphError, match="border_mode"):
        T.nnet.conv2d(x, T.tensor4("v"), border_mode=-1)
    with pytest.raises(GraphError, match="4-d"):
        T.nnet.conv2d(T.matrix("m"), T.tensor4("v"))
    with pytest.raises(GraphError, match="floats"):
        T.nnet.conv2d(T.tensor4("i", dtype="int32"), T.tensor4("v", dtype="int32"))
    with pytest.raises(GraphError, match="too small"):
        T.nnet.conv2d(T.tensor("float64", shape=(1, 3, 2, 2)),
                      T.tensor("float64", shape=(1, 3, 3, 3)))


def test_channel_mismatch_at_run_time_names_the_node():
    x, w = T.tensor4("x"), T.tensor4("w")
    f = theano.function([x, w], T.nnet.conv2d(x, w))
    with pytest.raises(ValueError, match=r"3 channels.*test_conv\.py"):
        f(np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="too small"):
        f(np.ones((1, 2, 2, 2)), np.ones((2, 2, 3, 3)))


def test_conv2d_transpose_is_the_adjoint_of_a_strided_conv2d(rng):
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    vx, vw, vy = T.tensor4("x"), T.tensor4("w"), T.tensor4("y")
    y = theano.function([vx, vw], T.nnet.conv2d(vx, vw, border_mode=1, subsample=(2, 2)))(x, w)
    g = rng.standard_normal(y.shape)
    up = T.nnet.conv2d_transpose(vy, vw, output_shape=x.shape, border_mode=1,
                                 input_dilation=(2, 2))
    back = theano.function([vy, vw], up)(g, w)
    assert back.shape == x.shape
    # a random-sign inner product may nearly cancel: the tolerance scales with sum |terms|
    scale = np.vdot(np.abs(y), np.abs(g)) + np.vdot(np.abs(x), np.abs(back))
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, back), rtol=0, atol=1e-12 * scale)
