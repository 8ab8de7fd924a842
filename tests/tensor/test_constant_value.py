"""Tests of minigraph.tensor.constant_value: get_scalar_constant_value, extract_constant."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.tensor.constant_value import (NotScalarConstantError, extract_constant,
                                             get_scalar_constant_value)


def test_values_known_when_the_graph_is_built():
    x = T.tensor("float32", (None, 3, 4), name="x")
    assert get_scalar_constant_value(3) == 3 and get_scalar_constant_value(np.float32(2)) == 2
    assert get_scalar_constant_value(np.array([[7]])) == 7
    assert get_scalar_constant_value(T.constant(2.5)) == 2.5
    assert get_scalar_constant_value(x.shape[1] * x.shape[-1]) == 12
    assert get_scalar_constant_value(T.constant(2) ** 3 + 1) == 9
    m = T.tensor("float64", (2, 5))
    assert get_scalar_constant_value(T.prod(m.shape)) == 10


@pytest.mark.parametrize("make", [
    lambda: T.tensor("float32", (None, 3)).shape[0],
    lambda: T.dscalar("free") * 2,
    lambda: theano.shared(1.0) + 1,
    lambda: np.ones(2),
    lambda: T.constant([1.0, 2.0]),
])
def test_what_is_not_a_constant_raises(make):
    with pytest.raises(NotScalarConstantError):
        get_scalar_constant_value(make())


def test_only_process_constants_and_extract_constant():
    two = T.constant(2)
    with pytest.raises(NotScalarConstantError):
        get_scalar_constant_value(two * 3, only_process_constants=True)
    assert get_scalar_constant_value(two, only_process_constants=True) == 2
    out = extract_constant(two * 3)
    assert isinstance(out, T.TensorConstant) and out.data == 6
    free = T.lscalar("n")
    assert extract_constant(free) is free
