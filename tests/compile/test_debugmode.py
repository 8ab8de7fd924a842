"""DEBUG mode runs the optimised graph beside the unoptimised one and compares them."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.debugmode import DebugMode, DebugModeError
from minigraph.compile.mode import FAST_RUN
from minigraph.graph.rewriting import RuleSet, node_rewriter
from minigraph.tensor.elemwise import Elemwise


def test_debug_mode_agrees_on_a_training_step():
    rng = np.random.default_rng(0)
    x = T.dmatrix("x")
    W = theano.shared(rng.normal(size=(3, 2)), name="W")
    cost = T.mean(T.log(T.nnet.softmax(T.dot(x, W))))
    gW = theano.grad(cost, W)
    f = theano.function([x], cost, updates={W: W - 0.1 * gW}, mode="DEBUG")
    assert f._debug_ref is not None
    xv = rng.normal(size=(4, 3))
    W0 = W.get_value()
    expected = np.mean(np.log(np.exp(xv @ W0) / np.exp(xv @ W0).sum(1, keepdims=True)))
    np.testing.assert_allclose(f(xv), expected)


def test_debug_mode_reports_a_wrong_rewrite():
    @node_rewriter([Elemwise])
    def exp_to_tanh_bug(fgraph, node):
        """exp(x) -> tanh(x): deliberately wrong"""
        if node.op.scalar_op.name == "exp":
            return [T.tanh(node.inputs[0])]
        return None

    buggy = FAST_RUN.register(RuleSet("bug", [exp_to_tanh_bug]), before="merge")
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 2, mode=DebugMode(optimizer=buggy))
    with pytest.raises(DebugModeError, match="output 0"):
        f(np.array([0.5, 1.0]))
