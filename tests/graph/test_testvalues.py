"""Tests of minigraph.graph.testvalues: Theano's ``config.compute_test_value`` (eager test
values computed node by node while the graph is built) and ``tag.test_value``."""

import os
import warnings

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.config import config
from minigraph.graph.testvalues import TestValueError, get_test_value
from minigraph.graph.type import InputTypeError

HERE = os.path.basename(__file__)


@pytest.fixture
def flag(request):
    with config.change_flags(compute_test_value=request.param):
        yield request.param


@pytest.mark.parametrize("flag", ["raise"], indirect=True)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_flow_through_ops_shared_variables_constants_grad_and_scan(flag, rng, dtype):
    x = T.tensor(dtype, (None, None), name="x")
    xv = rng.normal(size=(5, 7)).astype(dtype)
    x.tag.test_value = xv
    Wv = rng.normal(size=(7, 3)).astype(dtype)
    W = theano.shared(Wv, name="W")
    h = T.tanh(T.dot(x, W) + 1)
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(h.tag.test_value, np.tanh(xv @ Wv + 1), rtol=tol, atol=tol)
    assert h.tag.test_value.dtype == dtype
    sums, _ = theano.scan(lambda r, acc: acc + r, sequences=h,
                          outputs_info=T.zeros((3,), dtype=dtype))
    np.testing.assert_allclose(sums.tag.test_value, np.cumsum(np.tanh(xv @ Wv + 1), axis=0),
                               rtol=tol * 10, atol=tol)
    g = theano.grad(sums[-1].sum(), W)
    want = xv.T @ (1 - np.tanh(xv @ Wv + 1) ** 2)
    np.testing.assert_allclose(g.tag.test_value, want, rtol=tol * 100, atol=tol * 10)
    f = theano.function([x], g)  # compiling and running are unchanged
    np.testing.assert_allclose(f(xv), g.tag.test_value, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("flag", ["warn", "raise", "ignore"], indirect=True)
def test_a_shape_error_stops_at_the_line_that_built_the_node(flag):
    x = T.dmatrix("x")
    x.tag.test_value = np.ones((5, 10))
    W = theano.shared(np.ones((7, 3)), name="W")
    with pytest.raises(ValueError, match=f"not aligned.*{HERE}:.*\\n.*test value of Dot on "
                                         f"inputs of shapes \\(5, 10\\), \\(7, 3\\)"):
        T.dot(x, W)


@pytest.mark.parametrize("flag", ["raise"], indirect=True)
def test_raise_names_the_input_without_a_test_value(flag):
    x, y = T.dvector("x"), T.dvector("y")
    x.tag.test_value = np.ones(3)
    with pytest.raises(TestValueError, match=f"input 1 \\(y\\) of add has no test value; set "
                                             f"y.tag.test_value.*{HERE}:"):
        x + y


@pytest.mark.parametrize("flag", ["warn"], indirect=True)
def test_warn_warns_and_goes_on_without_a_value(flag):
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.warns(UserWarning, match="input 0 \\(y\\) of mul has no test value"):
        z = y * 2
    assert get_test_value(z) is None
    x.tag.test_value = [1.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (x * 2).tag.test_value.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("flag", ["ignore", "off"], indirect=True)
def test_ignore_and_off_say_nothing(flag):
    x, y = T.dvector("x"), T.dvector("y")
    x.tag.test_value = np.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = x + y
        w = x * 3
    assert "test_value" not in z.tag
    assert (w.tag.test_value.tolist() == [3.0, 3.0]) if flag == "ignore" else \
        ("test_value" not in w.tag)


@pytest.mark.parametrize("flag", ["pdb"], indirect=True)
def test_pdb_opens_the_debugger(flag, monkeypatch):
    import pdb

    calls = []
    monkeypatch.setattr(pdb, "set_trace", lambda: calls.append(1))
    T.dvector("y") + 1
    assert calls == [1]


def test_tag_test_value_is_checked_and_converted():
    x = T.fmatrix("x")
    x.tag.test_value = [[1.0, 2.0]]  # lists and float64 become the variable's float32
    assert x.tag.test_value.dtype == np.float32 and x.tag["test_value"].shape == (1, 2)
    with pytest.raises(InputTypeError, match="test value of x: expected a 2-d array"):
        x.tag.test_value = np.ones(3)
    x.tag.note = "anything"
    assert x.tag["note"] == "anything" and x.tag.note == "anything"
    with pytest.raises(AttributeError, match="tag has no 'missing'"):
        x.tag.missing
    assert get_test_value(theano.shared(np.arange(3.0))).tolist() == [0.0, 1.0, 2.0]
    assert get_test_value(T.constant(2.5)) == 2.5 and get_test_value(T.dvector()) is None
