"""Tests of minigraph.compile.io: theano.Out as a function output."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError


def test_out_is_a_function_output_and_never_hands_out_a_reused_buffer(rng):
    x = T.dvector("x")
    f = theano.function([x], [theano.Out(x * 2, borrow=True), theano.Out(x + 1)])
    xv = rng.standard_normal(4)
    first = f(xv)
    np.testing.assert_array_equal(first[0], xv * 2)
    np.testing.assert_array_equal(first[1], xv + 1)
    kept = first[0].copy()
    f(xv + 10)  # a later call leaves the earlier result alone, borrowed or not
    np.testing.assert_array_equal(first[0], kept)
    g = theano.function([x], theano.Out(x, borrow=True))
    out = g(xv)
    out[0] = 99.0
    assert xv[0] != 99.0  # the input itself is not returned
    with pytest.raises(GraphError, match="symbolic variable"):
        theano.Out(np.ones(2))
