"""``pool.pool_2d``, ``downsample.max_pool_2d`` and the pooling gradient ops.

Values against ``kernels.conv_ref`` (checked against Theano's window rule in
``tests/kernels/test_conv_cpu.py``) for every mode, with ``ignore_border`` True and False
(partial edge windows), strides and padding, on 2-, 3- and 4-d inputs in float32 and float64;
gradients by finite differences; Theano's argument handling (old names, the ``ignore_border``
warning); errors that name the user's line.
"""

import warnings

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from kernels import conv_ref
from minigraph.gradient import verify_grad
from minigraph.graph.basic import GraphError
from minigraph.tensor.signal import downsample, pool

# (x shape, pool_2d keyword arguments)
CASES = [
    ((2, 3, 7, 6), dict(ws=(2, 2), ignore_border=True)),
    ((2, 3, 7, 6), dict(ws=(2, 2), ignore_border=False)),
    ((3, 5, 7), dict(ws=(3, 2), stride=(1, 2), ignore_border=False)),
    ((1, 1, 7, 8), dict(ws=(3, 3), stride=(2, 1), pad=(1, 2), ignore_border=True)),
    ((5, 4), dict(ws=(2, 3), stride=(3, 2), ignore_border=False)),
]


def _reference(x, kw, mode):
    return conv_ref.pool2d_fwd(x, kw["ws"], kw.get("stride") or kw["ws"], kw.get("pad", (0, 0)),
                               kw["ignore_border"], mode)


def _var(shape, dtype="float64"):
    return T.tensor(dtype, shape=(None,) * len(shape), name="x")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", pool.MODES)
def test_values_match_reference(rng, dtype, mode):
    for xs, kw in CASES:
        x = rng.standard_normal(xs).astype(dtype)
        vx = _var(xs, dtype)
        out = pool.pool_2d(vx, mode=mode, **kw)
        got = theano.function([vx], out)(x)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, _reference(x, kw, mode), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", pool.MODES)
def test_gradients_by_finite_differences(rng, mode):
    for xs, kw in CASES:
        # distinct values a little apart, so no finite-difference step changes a window's max
        x = rng.permutation(np.prod(xs)).reshape(xs) * 0.1
        verify_grad(lambda a: pool.pool_2d(a, mode=mode, **kw), [x], rng=rng)


def test_average_gradient_is_differentiable_again(rng):
    xs, kw = CASES[3]
    verify_grad(lambda a: T.grad(T.sum(pool.pool_2d(a, mode="average_inc_pad", **kw) ** 2), a),
                [rng.standard_normal(xs)], rng=rng)


def test_max_pool_second_derivative(rng):
    xs, kw = CASES[2]
    x = rng.permutation(np.prod(xs)).reshape(xs) * 0.1
    verify_grad(lambda a: T.grad(T.sum(pool.pool_2d(a, mode="max", **kw) ** 2), a), [x],
                rng=rng)
    vx = _var(xs)
    gg = T.grad(T.sum(T.grad(T.sum(pool.pool_2d(vx, **kw) ** 2), vx) ** 2), vx)
    assert any(isinstance(n.op, pool.MaxPoolGradGrad)
               for n in theano.function([vx], gg).maker.fgraph.toposort())


def test_max_gradient_goes_to_the_maximum_of_each_window():
    vx = T.matrix("x")
    g = T.grad(T.sum(pool.pool_2d(vx, (2, 2), ignore_border=False) * [[1.0, 2.0], [3.0, 4.0]]),
               vx)
    x = np.array([[1.0, 5.0, 2.0], [0.0, 3.0, 7.0], [9.0, 4.0, 8.0]])
    np.testing.assert_array_equal(theano.function([vx], g)(x),
                                  [[0, 1, 0], [0, 0, 2], [3, 0, 4]])
    assert isinstance(g.owner.op, pool.MaxPoolGrad)


def test_padding_and_average_modes_differ_as_documented():
    vx = T.matrix("x")
    kw = dict(ws=(2, 2), ignore_border=True, pad=(1, 1))
    f = theano.function([vx], [pool.pool_2d(vx, mode=m, **kw) for m in pool.MODES])
    mx, sm, inc, exc = f(np.ones((2, 2)))
    np.testing.assert_array_equal(mx, np.ones((2, 2)))  # padding never wins a max
    np.testing.assert_array_equal(sm, np.ones((2, 2)))
    np.testing.assert_array_equal(inc, np.full((2, 2), 0.25))  # 1 real value of 4 positions
    np.testing.assert_array_equal(exc, np.ones((2, 2)))


def test_static_shapes():
    x = T.tensor("float32", shape=(500, 20, 24, 24))
    assert pool.pool_2d(x, (2, 2), ignore_border=True).type.shape == (500, 20, 12, 12)
    y = T.tensor("float32", shape=(3, 5, 5))
    assert pool.pool_2d(y, (2, 2), ignore_border=False).type.shape == (3, 3, 3)
    assert pool.pool_2d(y, (2, 2), ignore_border=True, pad=(1, 1)).type.shape == (3, 3, 3)


def test_theano_argument_handling():
    vx = T.tensor4("x")
    with pytest.warns(UserWarning, match="ignore_border"):
        out = pool.pool_2d(vx, (2, 2))
    assert out.owner.op.ignore_border is False  # Theano's default when not given
    with pytest.warns(DeprecationWarning) as record:
        old = pool.pool_2d(vx, ds=(3, 3), st=(1, 1), ignore_border=True)
    assert sorted(str(w.message).split("'")[1] for w in record) == ["ds", "st"]
    assert old.owner.op.ws == (3, 3) and old.owner.op.stride == (1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # explicit arguments: no warning
        new = downsample.max_pool_2d(vx, (2, 2), ignore_border=True, st=(1, 2), padding=(1, 1))
    assert new.owner.op == pool.Pool((2, 2), True, (1, 2), (1, 1), "max")
    assert pool.pool_2d(vx, (2, 2), True, mode="max_deterministic").owner.op.mode == "max"


def test_max_pool_2d_same_size():
    vx = T.tensor4("x")
    x = np.array([[1.0, 2.0, 0.0, 1.0], [4.0, 3.0, 5.0, 0.0]]).reshape(1, 1, 2, 4)
    got = theano.function([vx], pool.max_pool_2d_same_size(vx, (2, 2)))(x)
    np.testing.assert_array_equal(got[0, 0], [[0, 0, 0, 0], [4, 0, 5, 0]])


def test_bad_arguments_raise_errors_naming_the_user_line():
    vx = T.tensor4("x")
    with pytest.raises(GraphError, match=r"unknown mode 'mean'.*test_pool\.py"):
        pool.pool_2d(vx, (2, 2), True, mode="mean")
    with pytest.raises(GraphError, match="ignore_border=True"):
        pool.pool_2d(vx, (2, 2), False, pad=(1, 1))
    with pytest.raises(GraphError, match="smaller than the window"):
        pool.pool_2d(vx, (2, 2), True, pad=(2, 0))
    with pytest.raises(GraphError, match="at least 2 dimensions"):
        pool.pool_2d(T.vector("v"), (2, 2), True)
    with pytest.raises(GraphError, match="not both"):
        pool.pool_2d(vx, (2, 2), True, ds=(2, 2))
    with pytest.raises(GraphError, match="window size"):
        pool.pool_2d(vx, ignore_border=True)
    with pytest.raises(GraphError, match="ws and stride must be >= 1"):
        pool.pool_2d(vx, (0, 2), True)
    with pytest.raises(GraphError, match="float"):
        pool.pool_2d(T.tensor4("i", dtype="int32"), (2, 2), True, mode="average_exc_pad")
