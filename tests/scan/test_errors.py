"""Bad input to ``scan``: each build-time and call-time error, its message, and the user's
line it points at."""

import os
import re

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError

HERE = os.path.basename(__file__)
with open(__file__) as _f:
    SOURCE = _f.read().splitlines()


def _points_at(msg, *snippets):
    """The message names a line of this file, and that line holds one of ``snippets``."""
    lines = [int(n) for n in re.findall(rf"{re.escape(HERE)}:(\d+)", msg)]
    assert lines, f"no line of {HERE} in: {msg}"
    assert any(s in SOURCE[n - 1] for n in lines for s in snippets), msg


# ---- build time ---------------------------------------------------------------------------

def test_result_dtype_differs_from_the_initial_value():
    x, h0 = T.dvector("x"), T.fscalar("h0")
    with pytest.raises(GraphError) as err:
        theano.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=h0, name="acc")  # dtype
    msg = str(err.value)
    assert "scan 'acc'" in msg and "output 0 of fn has type float64[]" in msg
    assert "outputs_info[0]) is float32[]" in msg and "T.cast(..., 'float32')" in msg
    _points_at(msg, "# dtype")


def test_result_rank_differs_from_the_initial_value():
    x = T.dmatrix("x")
    with pytest.raises(GraphError) as err:
        theano.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=T.dscalar("h0"))  # rank
    msg = str(err.value)
    assert "float64[?] but its initial value (outputs_info[0]) is float64[]" in msg
    assert "number of dimensions differs" in msg
    _points_at(msg, "# rank")


def test_broadcast_pattern_trap_says_what_to_change():
    x, W = T.dtensor3("x"), T.dmatrix("W")
    h0 = T.constant(np.zeros((1, 3)))  # a (1, 3) start: dimension 0 is broadcastable
    with pytest.raises(GraphError) as err:
        theano.scan(lambda x_t, h: T.dot(h, W) + x_t, sequences=x, outputs_info=h0)  # trap
    msg = str(err.value)
    assert "float64[?,?] but its initial value (outputs_info[0]) is float64[1,3]" in msg
    assert "dimension 0 is broadcastable (size 1) in the initial value" in msg
    assert "T.addbroadcast(result, 0)" in msg
    _points_at(msg, "# trap")
    # doing what the message says works
    ok, _ = theano.scan(lambda x_t, h: T.addbroadcast(T.dot(h, W) + x_t, 0), sequences=x,
                        outputs_info=h0)
    got = theano.function([x, W], ok)(np.ones((2, 1, 3)), np.eye(3))
    np.testing.assert_array_equal(got, [[[1, 1, 1]], [[2, 2, 2]]])


def test_static_size_mismatch():
    x = T.tensor("float64", (None, 4))
    with pytest.raises(GraphError, match="dimension 0 has size 4 in the result but 3"):
        theano.scan(lambda x_t, h: x_t, sequences=x, outputs_info=T.zeros((3,), "float64"))


def test_number_of_outputs_differs_from_outputs_info():
    x = T.dvector("x")
    with pytest.raises(GraphError) as err:
        theano.scan(lambda x_t, h: [h + x_t, h * x_t], sequences=x,  # count
                    outputs_info=[T.constant(0.0)])
    msg = str(err.value)
    assert "fn returned 2 output(s) but outputs_info has 1 entries" in msg
    assert "None for an output that is not fed back" in msg
    _points_at(msg, "# count")


def test_sequence_shorter_than_its_taps_need():
    x = T.tensor("float64", (2,), name="x")
    with pytest.raises(GraphError) as err:
        theano.scan(lambda a, b, c: a + b + c, sequences=dict(input=x, taps=[-2, 0, 1]))  # taps
    msg = str(err.value)
    assert "sequences[0] has 2 rows but its taps [-2, 0, 1] need at least 3" in msg
    _points_at(msg, "# taps")


@pytest.mark.parametrize("n", [-1, T.constant(-3)])
def test_negative_n_steps(n):
    with pytest.raises(GraphError) as err:
        theano.scan(lambda h: h * 2, outputs_info=T.constant(1.0), n_steps=n)  # negative
    assert "n_steps is -" in str(err.value) and "must be >= 0" in str(err.value)
    _points_at(str(err.value), "# negative")


def test_strict_refuses_an_implicit_shared_variable():
    W = theano.shared(np.eye(2), name="W")
    x = T.dmatrix("x")
    with pytest.raises(GraphError) as err:
        theano.scan(lambda x_t: T.dot(x_t, W), sequences=x, strict=True)  # strict
    msg = str(err.value)
    assert "strict=True" in msg and "shared variable W" in msg and "non_sequences" in msg
    _points_at(msg, "# strict")


def test_other_build_errors():
    x = T.dvector("x")
    with pytest.raises(GraphError, match="give sequences or n_steps"):
        theano.scan(lambda h: h, outputs_info=T.constant(0.0))
    with pytest.raises(GraphError, match="fn returned 'oops' as output 0"):
        theano.scan(lambda x_t: "oops", sequences=x)
    with pytest.raises(GraphError, match="taps must be distinct negative ints"):
        theano.scan(lambda x_t, h: h, sequences=x, outputs_info=dict(initial=x, taps=[1]))
    with pytest.raises(GraphError, match="at least one dimension"):
        theano.scan(lambda s: s, sequences=T.dscalar("s"))
    with pytest.raises(GraphError, match="no outputs and no updates"):
        theano.scan(lambda x_t: [], sequences=x)
    counter = theano.shared(np.int64(0), name="counter")
    with pytest.raises(GraphError, match=r"update of shared variable counter .* float64\[\] "
                                         r"but the variable is int64\[\]"):
        theano.scan(lambda x_t: {counter: counter + x_t}, sequences=x)


# ---- call time ----------------------------------------------------------------------------

def test_negative_symbolic_n_steps_at_call_time():
    n = T.lscalar("n")
    out, _ = theano.scan(lambda h: h * 2, outputs_info=T.constant(1.0), n_steps=n,  # symbolic
                         name="gen")
    with pytest.raises(ValueError) as err:
        theano.function([n], out)(-2)
    msg = str(err.value)
    assert "scan 'gen'" in msg and "n_steps is -2" in msg
    _points_at(msg, "# symbolic")


def test_a_carry_changing_shape_names_the_step():
    h0 = T.dvector("h0")
    out, _ = theano.scan(lambda i, h: h[: 4 - T.maximum(i - 1, 0)] * 2,  # shape
                         sequences=T.arange(5), outputs_info=h0, name="shrink")
    with pytest.raises(ValueError) as err:
        theano.function([h0], out)(np.ones(4))
    msg = str(err.value)
    assert "scan 'shrink'" in msg and "step 2" in msg and "output 0 has shape (3,)" in msg
    assert "(4,) is expected" in msg and "fed back" in msg
    _points_at(msg, "# shape")


def test_an_inner_error_names_the_scan_the_step_and_the_line_in_fn():
    E, idx = T.dmatrix("E"), T.lvector("idx")

    def lookup(i, E):
        return E[i]  # inner line

    rows, _ = theano.scan(lookup, sequences=idx, non_sequences=E, name="lookup")  # outer
    with pytest.raises(IndexError) as err:
        theano.function([E, idx], rows)(np.ones((3, 2)), np.array([0, 1, 2, 99]))
    msg = str(err.value)
    assert "scan 'lookup'" in msg and "step 3" in msg
    _points_at(msg, "# inner line")
    _points_at(msg, "# outer")


def test_symbolic_sequence_too_short_for_its_taps_at_call_time():
    x = T.dvector("x")
    out, _ = theano.scan(lambda a, b, c: a + b + c,  # short
                         sequences=dict(input=x, taps=[-1, 0, 1]), name="window")
    f = theano.function([x], out)
    assert f(np.ones(2)).shape == (0,)  # exactly the taps' span: zero steps
    with pytest.raises(ValueError) as err:
        f(np.ones(1))
    msg = str(err.value)
    assert "scan 'window': sequences[0] with taps [-1, 0, 1] needs at least 2 rows" in msg
    _points_at(msg, "# short")


def test_initial_window_with_too_few_rows_at_call_time():
    y0 = T.dvector("y0")
    out, _ = theano.scan(lambda a, b: a + b, outputs_info=dict(initial=y0, taps=[-2, -1]),  # w
                         n_steps=3, name="fib")
    with pytest.raises(ValueError) as err:
        theano.function([y0], out)(np.ones(1))
    msg = str(err.value)
    assert "scan 'fib'" in msg and "output 0 reads taps (-2, -1)" in msg
    assert "needs 2 rows, got shape (1,)" in msg
    _points_at(msg, "# w")
