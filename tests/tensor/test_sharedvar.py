"""Tests of minigraph.tensor.sharedvar: shared arrays behave as tensors."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.tensor.sharedvar import TensorSharedVariable, tensor_constructor


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_shared_arrays_are_tensor_shared_variables(dtype):
    value = np.arange(6, dtype=dtype).reshape(2, 3)
    W = theano.shared(value, name="W")
    assert isinstance(W, TensorSharedVariable) and W.type.short() == f"{dtype}[?,?]"
    np.testing.assert_array_equal((W.T * 2).eval(), value.T * 2)  # tensor operators
    value[0, 0] = 100
    assert W.get_value()[0, 0] == 0  # copied unless borrow=True


def test_tensor_constructor_leaves_other_values_alone():
    assert tensor_constructor({"a": 1}) is None and tensor_constructor("text") is None
    assert T.TensorSharedVariable is TensorSharedVariable
    s = tensor_constructor(2.5, name="s")
    assert s.type.short() == "float64[]" and float(s.get_value()) == 2.5
