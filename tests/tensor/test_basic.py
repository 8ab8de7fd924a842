"""Tests of minigraph.tensor.basic: constructors, constants, as_tensor_variable, and Theano's
dtype rules (upcasting, weak Python scalars, floatX)."""

import os

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.config import config
from minigraph.graph.basic import GraphError
from minigraph.graph.type import DTYPE_PREFIX

HERE = os.path.basename(__file__)

PATTERNS = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
            "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
            "tensor5": (None,) * 5}


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_constructors_follow_floatx_and_take_a_dtype(kind):
    x = getattr(T, kind)("x")
    assert x.name == "x" and x.dtype == config.floatX and x.type.shape == PATTERNS[kind]
    assert x.ndim == len(PATTERNS[kind])
    assert x.broadcastable == tuple(s == 1 for s in PATTERNS[kind])
    assert getattr(T, kind)(dtype="int16").dtype == "int16"


@pytest.mark.parametrize("prefix", sorted(DTYPE_PREFIX))
@pytest.mark.parametrize("kind", ["scalar", "vector", "matrix", "row", "col", "tensor3",
                                  "tensor4"])
def test_typed_families(prefix, kind):
    x = getattr(T, prefix + kind)("x")
    assert x.dtype == DTYPE_PREFIX[prefix] and x.type.shape == PATTERNS[kind]


PLURALS = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
           "col": "cols", "tensor3": "tensor3s", "tensor4": "tensor4s"}


@pytest.mark.parametrize("prefix", [""] + sorted(DTYPE_PREFIX))
@pytest.mark.parametrize("kind", sorted(PLURALS))
def test_plural_constructors_take_names_a_count_or_one_string(prefix, kind):
    many = getattr(T, prefix + PLURALS[kind])
    dtype = DTYPE_PREFIX.get(prefix, config.floatX)
    x, y = many("x", "y")
    assert (x.name, y.name) == ("x", "y") and x is not y
    assert all(v.dtype == dtype and v.type.shape == PATTERNS[kind] for v in (x, y))
    assert [v.name for v in many("ab")] == ["a", "b"]  # Theano: one name per character
    assert [v.name for v in many("W, b")] == ["W", "b"]
    assert many("W").name == "W"  # a single name gives the variable, not a list
    three = many(3)
    assert len(three) == 3 and all(v.name is None for v in three)


def test_plural_constructors_build_working_graphs():
    a, b = T.dmatrices("a", "b")
    n, m = T.iscalars("nm")
    value = np.arange(6.0).reshape(2, 3)
    out = (T.dot(a, b.T) * n + m).eval({a: value, b: value + 1, n: 2, m: 1})
    np.testing.assert_array_equal(out, value @ (value + 1).T * 2 + 1)


def test_constructors_follow_floatx_set_at_run_time(float32_mode):
    assert T.matrix().dtype == "float32" and T.tensor(shape=(None,)).dtype == "float32"
    assert T.dmatrix().dtype == "float64" and T.constant(1.5).dtype == "float32"
    assert T.zeros((2,)).dtype == "float32" and T.vector().dtype == "float32"


def test_tensor_type_and_tensor_function():
    x = T.TensorType("float32", (False, True))("x")
    assert x.type.shape == (None, 1) and x.broadcastable == (False, True) and x.name == "x"
    y = T.tensor("int8", (None, 3), name="y")
    assert y.type.short() == "int8[?,3]" and y.name == "y"
    z = T.tensor("float64", broadcastable=(True, False))
    assert z.type.shape == (1, None)
    assert T.tensor((None, 2)).type.shape == (None, 2)  # dtype defaults to floatX
    with pytest.raises(ValueError, match="does not have 2 dimensions"):
        T.matrix(shape=(3,))
    assert T.matrix(shape=(3, None)).type.shape == (3, None)


def test_constants():
    c = T.constant(1.5)
    assert c.dtype == config.floatX and c.ndim == 0 and float(c.value) == 1.5
    assert T.constant(3).dtype == "int64" and T.constant(True).dtype == "bool"
    a = T.constant([[1.0, 2.0]], name="k")
    assert a.type.shape == (1, 2) and a.name == "k" and not a.data.flags.writeable
    assert T.constant(np.arange(3, dtype="int16")).dtype == "int16"
    assert T.constant(2, dtype="float32").dtype == "float32"
    with pytest.raises(GraphError, match=f"needs a value.*{HERE}:"):
        T.constant(T.dscalar("x"))
    with pytest.raises(GraphError, match=f"cannot make a tensor constant.*{HERE}:"):
        T.constant({"a": 1})


def test_as_tensor_variable():
    x = T.dvector("x")
    assert T.as_tensor_variable(x) is x
    s = T.as_tensor_variable([T.dscalar("a"), 2.0])  # a list of symbols is stacked
    assert s.type.shape == (2,) and s.dtype == "float64"
    assert float(T.as_tensor_variable(2.5).data) == 2.5
    with pytest.raises(GraphError, match=f"expected a 2-d tensor, got 1-d x.*{HERE}:"):
        T.as_tensor_variable(x, ndim=2)
    with pytest.raises(GraphError, match=f"cannot make a tensor constant.*{HERE}:"):
        T.as_tensor_variable(object())
    from minigraph.graph.type import GenericType

    with pytest.raises(GraphError, match="is not a tensor"):
        T.as_tensor_variable(GenericType("rng")("g"))


@pytest.mark.parametrize("build, expected", [
    (lambda: T.fvector() * 2.0, "float32"),   # weak Python float keeps float32
    (lambda: T.fvector() * 2, "float32"),
    (lambda: 2.0 * T.fvector(), "float32"),
    (lambda: T.ivector() * 1.5, "float64"),   # int * Python float -> floatX
    (lambda: T.ivector() + T.ivector(), "int32"),
    (lambda: T.ivector() + 1, "int32"),       # weak int keeps int32
    (lambda: T.bvector() + 1000, "int16"),    # ...unless it does not fit
    (lambda: T.ivector() + 2 ** 40, "int64"),
    (lambda: T.bvector() * T.fvector(), "float32"),
    (lambda: T.ivector() * T.fvector(), "float64"),  # int32 + float32 -> float64 (NumPy)
    (lambda: T.lvector() * T.fvector(), "float64"),
    (lambda: T.dvector() + T.fvector(), "float64"),
    (lambda: T.ivector() / T.ivector(), "float64"),
    (lambda: T.bvector() / 2, "float32"),
    (lambda: T.ivector() // 2, "int32"),
    (lambda: T.fvector() ** 2, "float32"),
    (lambda: T.exp(T.ivector()), "float64"),
    (lambda: T.exp(T.bvector()), "float32"),
    (lambda: T.fvector() > 0.5, "bool"),
    (lambda: T.switch(T.fvector() > 0, T.fvector(), 0), "float32"),
    (lambda: T.mean(T.ivector()), "float64"),
    (lambda: T.sum(T.ivector()), "int64"),
    (lambda: T.sum(T.fvector()), "float32"),
    (lambda: T.mean(T.fmatrix(), axis=0), "float32"),
])
def test_dtype_upcasting_rules(build, expected):
    assert build().dtype == expected


def test_int_times_python_float_is_floatx_in_float32_mode(float32_mode):
    assert (T.ivector() * 1.5).dtype == "float32"
    assert (T.bvector() - 0.5).dtype == "float32"
    assert (T.lvector() * 1.5).dtype == "float64"  # int64 needs float64 to stay exact
    assert (T.fvector() * 1.5).dtype == "float32" and (T.dvector() * 1.5).dtype == "float64"
    assert (T.ivector() < 1.5).dtype == "bool"


def test_weak_scalar_values_are_exact(rng):
    x = T.ivector("x")
    xv = rng.integers(-100, 100, 5).astype("int32")
    got = (x * 1.5 + 1).eval({x: xv})
    assert got.dtype == np.float64 and np.array_equal(got, xv * 1.5 + 1)
