"""Tests of minigraph.tensor.var: Python operators, properties and methods on variables."""

import operator
import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T

HERE = os.path.basename(__file__)

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
          operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
def test_binary_operators_broadcast_like_numpy(op, rng):
    m, r, s = T.dmatrix("m"), T.drow("r"), T.dscalar("s")
    mv, rv, sv = rng.random((3, 4)) + 0.5, rng.random((1, 4)) + 0.5, 1.7
    f = theano.function([m, r, s], [op(m, r), op(r, m), op(m, s), op(s, m), op(m, 2.5),
                                    op(2.5, m), op(m, rv[0])])
    want = [op(mv, rv), op(rv, mv), op(mv, sv), op(sv, mv), op(mv, 2.5), op(2.5, mv),
            op(mv, rv[0])]
    for got, exp in zip(f(mv, rv, sv), want):
        assert got.shape == exp.shape
        np.testing.assert_allclose(got, exp, rtol=1e-15)


def test_integer_operators(rng):
    a, b = T.ivector("a"), T.ivector("b")
    av = rng.integers(-20, 20, 6).astype("int32")
    bv = rng.integers(1, 7, 6).astype("int32")
    f = theano.function([a, b], [a // b, a % b, -a, abs(a), a & (b > 2), a | b, a ^ b, ~(a > 0),
                                 +a])
    got = f(av, bv)
    want = [av // bv, av % bv, -av, np.abs(av), np.logical_and(av, bv > 2),
            np.logical_or(av, bv), np.logical_xor(av, bv), ~(av > 0), av]
    for g, w in zip(got, want):
        assert np.array_equal(g, w)
    assert got[0].dtype == np.int32


def test_reverse_operators_with_numpy_arrays_on_the_left(rng):
    v = T.dvector("v")
    arr = rng.standard_normal(3)
    out = arr + v  # numpy defers to the variable (__array_priority__)
    assert isinstance(out, T.TensorVariable)
    assert np.allclose(out.eval({v: np.ones(3)}), arr + 1)
    m = T.dmatrix("m")
    assert np.allclose((arr @ m).eval({m: np.eye(3)}), arr)
    assert np.allclose((v @ np.eye(3)).eval({v: arr}), arr)


def test_properties(rng):
    m = T.fmatrix("m")
    assert m.dtype == "float32" and m.ndim == 2 and m.broadcastable == (False, False)
    assert m.T.ndim == 2 and m.T.owner.op.new_order == (1, 0)
    mv = rng.standard_normal((2, 3)).astype("float32")
    f = theano.function([m], [m.T, m.shape, m.shape[1], m.size, m.dimshuffle("x", 1, 0)])
    t, shp, n1, size, ds = f(mv)
    assert np.array_equal(t, mv.T) and shp.tolist() == [2, 3] and int(n1) == 3
    assert int(size) == 6 and ds.shape == (1, 3, 2) and np.array_equal(ds[0], mv.T)


def test_methods_match_numpy(rng):
    m = T.dmatrix("m")
    mv = rng.standard_normal((3, 4))
    outs = [m.sum(), m.sum(axis=0), m.mean(axis=1, keepdims=True), m.prod(axis=0),
            m.max(axis=1), m.min(), m.argmax(axis=1), m.argmin(), m.var(axis=0),
            m.std(ddof=1), m.norm(1), m.norm(2, axis=0), m.exp(), abs(m).log(),
            m.astype("float32"), m.clip(-0.5, 0.5), m.reshape((4, 3)), m.flatten(),
            m.transpose(1, 0), m.transpose([1, 0]), m.dot(m.T), m @ m.T]
    want = [mv.sum(), mv.sum(axis=0), mv.mean(axis=1, keepdims=True), mv.prod(axis=0),
            mv.max(axis=1), mv.min(), mv.argmax(axis=1), mv.argmin(), mv.var(axis=0),
            mv.std(ddof=1), np.abs(mv).sum(), np.sqrt((mv ** 2).sum(axis=0)), np.exp(mv),
            np.log(np.abs(mv)), mv.astype("float32"), mv.clip(-0.5, 0.5), mv.reshape(4, 3),
            mv.reshape(-1), mv.T, mv.T, mv @ mv.T, mv @ mv.T]
    got = theano.function([m], outs)(mv)
    for g, w in zip(got, want):
        assert g.dtype == np.asarray(w).dtype and g.shape == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_eval_with_values_and_lists():
    x = T.fvector("x")
    assert (x * 2).eval({x: np.ones(2, "float32")}).tolist() == [2.0, 2.0]
    assert (x * 2).eval({x: [1.0, 3.0]}).dtype == np.float32  # lists are converted
    assert T.constant(4.0).eval() == 4.0


def test_variables_are_hashable_and_compare_by_identity():
    a, b = T.dvector("a"), T.dvector("b")
    assert len({a, b, a}) == 2 and {a: 1}[a] == 1
    assert a == a and not (a == b)  # == stays identity, as in Theano; T.eq is elementwise


def test_a_variable_is_truthy_so_optional_arguments_can_be_tested():
    # Theano programs write ``if W is None``'s sloppy twin: ``if not W:`` for "not given"
    def layer(x, W=None, b=None):
        if not W:
            W = theano.shared(np.eye(2), name="W")
        out = T.dot(x, W)
        return out + b if b else out

    x = T.dmatrix("x")
    b = theano.shared(np.ones(2), name="b")
    assert bool(x) and bool(x * 2) and bool(b) and bool(T.constant(0.0))
    assert layer(x) is not None and (not x) is False
    value = np.arange(4.0).reshape(2, 2)
    np.testing.assert_array_equal(layer(x, b=b).eval({x: value}), value + 1)


@pytest.mark.parametrize("make", [
    lambda x, y: x < y, lambda x, y: x <= y, lambda x, y: x > y, lambda x, y: x >= y,
    T.lt, T.eq, T.neq, lambda x, y: T.ge(x, 0),
])
def test_a_comparison_has_no_truth_value(make):
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.raises(TypeError, match=f"symbolic comparison.*T.switch.*{HERE}:"):
        if make(x, y):
            pass
    with pytest.raises(TypeError, match="symbolic comparison"):
        0 < x < y  # Python's chained comparison asks bool(0 < x)


@pytest.mark.parametrize("action, message", [
    (lambda x: bool(x > 0), "truth value of a symbolic comparison \\(.*x > y\\)"),
    (lambda x: [v for v in x], "cannot iterate over symbolic variable"),
    (lambda x: len(x), "len\\(\\) of symbolic variable x; use x.shape\\[0\\]"),
])
def test_python_protocols_that_cannot_work_say_why(action, message):
    with pytest.raises(TypeError, match=f"{message}.*{HERE}:"):
        action(T.dvector("x"))
