"""Tests of minigraph.compile.nanguardmode: NaN / Inf / big values stop the run at the node
that produced them, naming its op, inputs and the user's line."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.nanguardmode import NanGuardError, NanGuardMode

HERE = os.path.basename(__file__)


@pytest.mark.parametrize("build, value, problem", [
    (lambda x: T.log(x) * 2, -1.0, "NaN in output 0 of log"),
    (lambda x: T.log(x) * 2, 0.0, "Inf in output 0 of log"),
    (lambda x: T.exp(x) + 1, 30.0, "a value above 1e10 in output 0 of exp"),
])
def test_errors_name_the_node_and_the_line(build, value, problem):
    x = T.dvector("x")
    f = theano.function([x], build(x), mode=NanGuardMode(nan_is_error=True, inf_is_error=True,
                                                         big_is_error=True))
    with pytest.raises(NanGuardError) as info:
        with np.errstate(all="ignore"):
            f(np.array([1.0, value]))
    msg = str(info.value)
    assert problem in msg and "(inputs: x)" in msg and f"{HERE}:" in msg


def test_each_check_can_be_switched_off():
    x = T.dvector("x")
    quiet = theano.function([x], T.log(x), mode=NanGuardMode(nan_is_error=False,
                                                             inf_is_error=False))
    with np.errstate(all="ignore"):
        out = quiet(np.array([-1.0, 0.0]))
    assert np.isnan(out[0]) and np.isinf(out[1])
    big_ok = theano.function([x], T.exp(x), mode=NanGuardMode())  # big_is_error off
    assert big_ok(np.array([30.0]))[0] > 1e10


def test_clean_values_pass_and_integers_are_ignored(rng):
    x, i = T.dvector("x"), T.ivector("i")
    f = theano.function([x, i], [T.tanh(x), i * 2], mode=NanGuardMode(big_is_error=True))
    xv = rng.standard_normal(4)
    a, b = f(xv, np.array([1, 2], "int32"))
    np.testing.assert_allclose(a, np.tanh(xv), rtol=1e-15)
    assert b.tolist() == [2, 4]


def test_a_failing_guard_leaves_shared_variables_unchanged():
    w = theano.shared(np.ones(2), name="w")
    x = T.dvector("x")
    f = theano.function([x], [], updates={w: w * T.log(x)}, mode=NanGuardMode())
    with pytest.raises(NanGuardError):
        with np.errstate(all="ignore"):
            f(np.array([-1.0, 1.0]))
    assert w.get_value().tolist() == [1.0, 1.0]
