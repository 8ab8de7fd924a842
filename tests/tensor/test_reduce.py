"""Tests of minigraph.tensor.reduce: every reduction, as function and method, every axis form,
keepdims, dtypes and errors. Gradients are in test_grad_table.py."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.tensor.reduce import Reduce

HERE = os.path.basename(__file__)
KINDS = ["sum", "prod", "max", "min", "mean", "var", "std"]
AXES = [None, 0, 1, -1, (0, 2), (2, 0), (0, 1, 2)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_reductions_match_numpy(kind, keepdims, rng):
    x = T.dtensor3("x")
    xv = rng.standard_normal((2, 3, 4))
    outs = []
    for axis in AXES:
        outs.append(getattr(T, kind)(x, axis=axis, keepdims=keepdims))
        outs.append(getattr(x, kind)(axis=axis, keepdims=keepdims))
    got = theano.function([x], outs)(xv)
    for k, axis in enumerate(AXES):
        want = getattr(np, kind)(xv, axis=axis, keepdims=keepdims)
        for g in got[2 * k: 2 * k + 2]:
            assert g.shape == want.shape, (kind, axis)
            np.testing.assert_allclose(g, want, rtol=1e-13)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kind", ["argmax", "argmin"])
def test_arg_reductions_match_numpy(kind, keepdims, rng):
    x = T.dtensor3("x")
    xv = rng.standard_normal((2, 3, 4))
    axes = [None, 0, 1, -1]
    got = theano.function([x], [getattr(T, kind)(x, axis=a, keepdims=keepdims) for a in axes])(xv)
    for g, a in zip(got, axes):
        want = getattr(np, kind)(xv, axis=a, keepdims=keepdims)
        assert g.dtype == np.int64 and np.array_equal(g, want)


def test_static_output_shapes():
    x = T.tensor("float64", (2, None, 4))
    assert T.sum(x, axis=1).type.shape == (2, 4)
    assert T.max(x, axis=(0, 2), keepdims=True).type.shape == (1, None, 1)
    assert T.argmax(x, axis=0).type.shape == (None, 4)
    assert T.mean(x).ndim == 0


def test_dtypes(rng):
    i = T.ivector("i")
    iv = rng.integers(0, 10, 5).astype("int32")
    f = theano.function([i], [T.sum(i), T.prod(i), T.max(i), T.mean(i), T.var(i),
                              T.sum(i, dtype="float32"), T.mean(i, dtype="float32")])
    s, p, m, mean, var, sf, mf = f(iv)
    assert s.dtype == np.int64 and int(s) == iv.sum()
    assert p.dtype == np.int64 and m.dtype == np.int32
    assert mean.dtype == np.float64 and float(mean) == pytest.approx(iv.mean(), rel=1e-15)
    assert float(var) == pytest.approx(iv.var(), rel=1e-14)
    assert sf.dtype == np.float32 and mf.dtype == np.float32
    b = T.vector(dtype="bool")
    assert T.sum(b).dtype == "int64"
    f32 = T.fmatrix("f")
    assert T.mean(f32).dtype == T.var(f32, axis=0).dtype == T.std(f32).dtype == "float32"


def test_variance_options(rng):
    x = T.dmatrix("x")
    xv = rng.standard_normal((3, 5))
    a, b, c = theano.function([x], [T.var(x, axis=1, ddof=1), T.std(x, corrected=True),
                                    T.var(x, axis=0, keepdims=True)])(xv)
    np.testing.assert_allclose(a, xv.var(axis=1, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(c, xv.var(axis=0, keepdims=True), rtol=1e-13)
    assert float(b) == pytest.approx(xv.std(ddof=1), rel=1e-13)


def test_scalar_and_empty_axis_reductions():
    s = T.dscalar("s")
    assert T.sum(s) is s and T.max(s, axis=()) is s
    assert float(T.var(s).eval({s: 2.0})) == 0.0
    assert int(T.argmax(s).eval({s: 2.0})) == 0


def test_reduce_op_identity_and_str():
    assert Reduce("sum", (0,)) == Reduce("sum", (0,)) != Reduce("sum", (1,))
    assert str(Reduce("max", (0, 1), True)) == "max{0,1,keepdims}"


@pytest.mark.parametrize("build, message", [
    (lambda x: T.sum(x, axis=3), "axis 3 is out of range for the 3-d x"),
    (lambda x: T.mean(x, axis=(0, 0)), "repeats a dimension"),
    (lambda x: T.max(x, axis="a"), "axis must be an int, a tuple of ints or None"),
    (lambda x: T.argmax(x, axis=(0, 1)), "takes one axis or None"),
])
def test_bad_axes_name_the_problem_and_line(build, message):
    with pytest.raises(GraphError) as info:
        build(T.dtensor3("x"))
    assert message in str(info.value) and f"{HERE}:" in str(info.value)


def test_max_of_an_empty_array_names_the_node():
    x = T.dvector("x")
    f = theano.function([x], T.max(x))
    with pytest.raises(ValueError, match=f"max of an empty array.*{HERE}:"):
        f(np.zeros(0))
    g = theano.function([x], T.argmin(x))
    with pytest.raises(ValueError, match=f"argmin of an empty array.*{HERE}:"):
        g(np.zeros(0))


def test_prod_gradient_with_zeros():
    x = T.dvector("x")
    g = T.grad(T.prod(x), x)
    f = theano.function([x], g)
    assert f(np.array([0.0, 3.0, 2.0])).tolist() == [6.0, 0.0, 0.0]
    assert f(np.array([0.0, 3.0, 0.0])).tolist() == [0.0, 0.0, 0.0]
    assert f(np.array([4.0, 3.0, 2.0])).tolist() == [6.0, 8.0, 12.0]


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_all_and_any_match_numpy(axis, keepdims, rng):
    x = T.imatrix("x")
    xv = (rng.random((3, 4)) > 0.3).astype("int32")
    xv[0] = 1  # a row of all non-zeros and a column with zeros
    for fn, ref in [(T.all, np.all), (T.any, np.any)]:
        got = fn(x, axis=axis, keepdims=keepdims).eval({x: xv})
        want = ref(xv, axis=axis, keepdims=keepdims)
        assert got.dtype == np.bool_ and np.array_equal(got, want)
    e = T.dvector("e")
    assert T.all(e).eval({e: np.zeros(0)}) and not T.any(e).eval({e: np.zeros(0)})


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_max_and_argmax(axis, rng):
    x = T.matrix("x", dtype="float32")
    xv = rng.standard_normal((3, 5)).astype("float32")
    m, i = T.max_and_argmax(x, axis=axis)
    assert m.dtype == "float32" and i.dtype == "int64"
    np.testing.assert_array_equal(m.eval({x: xv}), np.max(xv, axis=axis))
    np.testing.assert_array_equal(i.eval({x: xv}), np.argmax(xv, axis=axis))
    theano.gradient.verify_grad(lambda a: T.max_and_argmax(a, axis=axis)[0],
                                [xv.astype("float64")], rng=rng)


@pytest.mark.parametrize("kind", ["sum", "prod"])
@pytest.mark.parametrize("dtype", ["float32", "int8", "uint16", "bool"])
def test_sum_and_prod_runner_bitwise_equal_numpy(kind, dtype, rng):
    # the runner calls the ufunc's reduce for ndarrays, np.sum/np.prod otherwise: the same
    # accumulator dtype and order, so the same bits, for every axis form and layout
    op_of = {"sum": np.sum, "prod": np.prod}[kind]
    xv = (rng.standard_normal((5, 3, 7)) * 3).astype(dtype)
    for value in (xv, xv.transpose(2, 0, 1), xv[::2, :, ::-1], xv[:0]):
        for axis in ((), (0,), (1, 2), (0, 1, 2)):
            for keep in (False, True):
                node = Reduce(kind, axis, keep).make_node(T.TensorType(dtype, (False,) * 3)())
                run = node.op.make_py_callable(node)
                want = np.asarray(op_of(value, axis=axis, keepdims=keep,
                                        dtype=node.outputs[0].dtype))
                got = run(value)
                assert type(got) is np.ndarray and got.dtype == want.dtype
                np.testing.assert_array_equal(got, want)
    node = Reduce(kind, ()).make_node(T.TensorType(dtype, ())())
    got = node.op.make_py_callable(node)(xv[0, 0, 0])  # a NumPy scalar
    assert type(got) is np.ndarray and got.dtype == node.outputs[0].dtype and got.shape == ()
