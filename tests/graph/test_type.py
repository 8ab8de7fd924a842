"""Tests of minigraph.graph.type: TensorType (dtype, static shape, filter) and GenericType."""

import os

import numpy as np
import pytest

from minigraph.graph.type import GenericType, InputTypeError, TensorType

HERE = os.path.basename(__file__)


def test_broadcast_pattern_and_static_shape():
    t = TensorType("float32", (False, True))
    assert t.shape == (None, 1) and t.broadcastable == (False, True) and t.ndim == 2
    assert TensorType("float32", shape=(None, 3)).broadcastable == (False, False)
    assert TensorType("int64", (2, None)).shape == (2, None)  # ints: a positional shape
    assert TensorType("float64", ()).ndim == 0
    assert t.short() == "float32[?,1]" and TensorType("int8", ()).short() == "int8[]"
    x = t("x")
    assert x.name == "x" and x.type is t and x.dtype == "float32"


def test_equality_and_hash():
    assert TensorType("float32", (None, 1)) == TensorType("float32", (False, True))
    assert TensorType("float32", (None,)) != TensorType("float64", (None,))
    assert TensorType("float32", (None,)) != TensorType("float32", (3,))
    assert len({TensorType("int32", (None,)), TensorType("int32", (False,))}) == 1
    assert TensorType(np.float32, ()).dtype == "float32"


def test_is_super():
    general = TensorType("float64", (None, None))
    assert general.is_super(TensorType("float64", (3, 1)))
    assert not TensorType("float64", (3, None)).is_super(general)
    assert not general.is_super(TensorType("float32", (None, None)))
    assert not general.is_super(TensorType("float64", (None,)))


def test_bad_types_are_rejected():
    with pytest.raises(InputTypeError, match="unsupported dtype 'object'"):
        TensorType("object", ())
    with pytest.raises(ValueError, match="negative"):
        TensorType("float64", shape=(-1,))
    with pytest.raises(ValueError, match="broadcast pattern or a shape"):
        TensorType("float64")


def test_filter_passes_matching_arrays_through_without_a_copy(rng):
    t = TensorType("float64", (None, 3))
    a = rng.standard_normal((4, 3))
    assert t.filter(a) is a


def test_filter_converts_safely():
    t = TensorType("float64", (None,))
    out = t.filter(np.arange(3, dtype="int32"))
    assert out.dtype == np.float64 and out.tolist() == [0.0, 1.0, 2.0]
    assert t.filter([1, 2]).dtype == np.float64
    f = TensorType("float32", ())
    assert f.filter(0.1).dtype == np.float32  # Python floats go into floatX inputs
    i = TensorType("int32", (None,))
    assert i.filter([1, 2]).dtype == np.int32  # Python ints that fit


@pytest.mark.parametrize("value, expected, got", [
    (np.zeros(2, "float64"), "float32", "float64"),
    (np.zeros(2, "int32"), "float32", "int32"),
    (np.zeros(2, "int64"), "int32", "int64"),
    ([1, 2**40], "int32", "int64"),
])
def test_filter_refuses_lossy_casts_naming_both_dtypes(value, expected, got):
    t = TensorType(expected, (None,))
    with pytest.raises(InputTypeError) as info:
        t.filter(value, what="input x")
    msg = str(info.value)
    assert f"input x: expected dtype {expected}, got {got}" in msg
    assert "allow_input_downcast=True" in msg and f"{HERE}:" in msg


def test_filter_downcasts_when_allowed():
    out = TensorType("float32", (None,)).filter(np.array([0.5, 1e-3]), allow_downcast=True)
    assert out.dtype == np.float32 and out.tolist() == [0.5, np.float32(1e-3)]


def test_filter_names_rank_and_shape_problems():
    t = TensorType("float64", (None, 1))
    with pytest.raises(InputTypeError, match=r"expected a 2-d array \(float64\[\?,1\]\), got 1-d"):
        t.filter(np.zeros(3), what="input x")
    with pytest.raises(InputTypeError, match=r"dimension 1 must be 1 \(broadcastable\)"):
        t.filter(np.zeros((2, 3)), what="input x")
    with pytest.raises(InputTypeError, match="strict"):
        TensorType("float32", ()).filter(1.0, strict=True)
    with pytest.raises(InputTypeError, match="cannot convert dict"):
        t.filter({"a": 1})


def test_generic_type():
    g = GenericType("Generator")
    assert g == GenericType("Generator") and g != GenericType("slice")
    assert str(g) == "Generator" and g.filter(5) == 5
    assert g("rng").type is g


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_make_constant_is_a_read_only_array_of_the_types_dtype(dtype):
    t = TensorType(dtype, shape=(None, 3))
    value = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    c = t.make_constant(value, name="c")
    assert c.type is t and c.name == "c" and c.data.dtype == np.dtype(dtype)
    assert not c.data.flags.writeable and c.data.flags.c_contiguous
    np.testing.assert_array_equal(c.data, value)
    g = GenericType("slice").make_constant(slice(1, 2))
    assert g.data == slice(1, 2) and g.type == GenericType("slice")
