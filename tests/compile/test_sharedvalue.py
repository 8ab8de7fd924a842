"""Tests of minigraph.compile.sharedvalue: shared variables and Theano's copy semantics."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.type import GenericType, InputTypeError

HERE = os.path.basename(__file__)


def test_shared_copies_its_value_unless_borrowed():
    a = np.ones(3)
    s = theano.shared(a, name="s")
    a[0] = 5.0
    assert s.get_value()[0] == 1.0
    b = np.ones(3)
    t = theano.shared(b, borrow=True)
    b[0] = 5.0
    assert t.get_value()[0] == 5.0


def test_get_value_copies_unless_borrowed():
    s = theano.shared(np.zeros(2))
    v = s.get_value()
    v[0] = 1.0
    assert s.get_value()[0] == 0.0
    assert s.get_value(borrow=True) is s.get_value(borrow=True)
    assert s.get_value() is not s.get_value(borrow=True)


def test_set_value_copies_unless_borrowed_and_checks_the_type():
    s = theano.shared(np.zeros(3), name="w")
    new = np.ones(3)
    s.set_value(new)
    new[0] = 7.0
    assert s.get_value()[0] == 1.0
    s.set_value(new, borrow=True)
    new[1] = 8.0
    assert s.get_value()[1] == 8.0
    s.set_value(np.zeros(5))  # a non-broadcastable dimension may change size
    assert s.get_value().shape == (5,)
    s.set_value([1, 2])
    assert s.get_value().dtype == np.float64
    with pytest.raises(InputTypeError) as info:
        s.set_value(np.zeros((2, 2)))
    assert "set_value of shared variable w: expected a 1-d array" in str(info.value)
    assert f"{HERE}:" in str(info.value)
    f = theano.shared(np.zeros(2, "float32"), name="f")
    with pytest.raises(InputTypeError, match="expected dtype float32, got float64"):
        f.set_value(np.zeros(2))


def test_types_and_broadcast_patterns():
    assert theano.shared(np.zeros((2, 3), "float32")).type == T.TensorType("float32",
                                                                           (None, None))
    assert theano.shared(3).dtype == "int64" and theano.shared(3.0).dtype == "float64"
    s = theano.shared(np.zeros((1, 3)), broadcastable=(True, False))
    assert s.broadcastable == (True, False)
    assert theano.shared(np.zeros((1, 3))).broadcastable == (False, False)
    assert theano.shared(np.zeros((2, 3)), shape=(2, None)).type.shape == (2, None)
    r = theano.shared(np.random.default_rng(0), name="rng")
    assert r.type == GenericType("Generator") and str(r) == "rng"
    with pytest.raises(TypeError, match=f"needs a value.*{HERE}:"):
        theano.shared(T.dvector("v"))
    with pytest.raises(TypeError, match=f"cannot make an array.*{HERE}:"):
        theano.shared([[1.0], [1.0, 2.0]])


def test_shared_values_are_seen_by_every_function(rng):
    W = theano.shared(rng.standard_normal((2, 2)), name="W")
    x = T.dvector("x")
    apply = theano.function([x], T.dot(x, W))
    scale = theano.function([], [], updates={W: W * 2})
    before = apply(np.ones(2))
    scale()
    np.testing.assert_allclose(apply(np.ones(2)), 2 * before, rtol=1e-15)
    assert float((W.sum() * 0).eval()) == 0.0 and W.value.shape == (2, 2)


def test_a_registered_constructor_is_asked_first():
    from minigraph.compile.sharedvalue import _CONSTRUCTORS, SharedVariable, shared_constructor

    class Box:
        pass

    @shared_constructor
    def box_constructor(value, name=None, **kwargs):
        return SharedVariable(GenericType("box"), value, name=name) if isinstance(
            value, Box) else None

    try:
        b = Box()
        v = theano.shared(b, name="b")
        assert v.type == GenericType("box") and v.get_value(borrow=True) is b
        assert theano.shared(np.zeros(2)).type.short() == "float64[?]"  # others still asked
    finally:
        _CONSTRUCTORS.remove(box_constructor)
    assert theano.shared(Box()).type == GenericType("Box")
