"""Tests of minigraph.graph.passes: merge (CSE) and constant folding, on toy and tensor ops."""

import numpy as np

from minigraph.compile.function import function
from minigraph.compile.mode import FAST_RUN
from minigraph.graph.basic import Constant
from minigraph.graph.fg import FunctionGraph
from minigraph.graph.passes import CONSTANT_FOLDING, MERGE, constant_folding, merge

from .toy import SCALAR, Add, Draw, Mul, var


def _const(x):
    return Constant(SCALAR, np.float64(x))


def _nodes(fg):
    return fg.toposort()


def test_merge_removes_duplicate_nodes_and_chains():
    a, b = var("a"), var("b")
    left = Mul()(Add()(a, b), a)
    right = Mul()(Add()(a, b), a)  # the same computation built twice
    fg = FunctionGraph([a, b], [Add(1.0)(left, right)])
    assert len(_nodes(fg)) == 5
    assert merge(fg) == 2
    ops = [n.op for n in _nodes(fg)]
    assert ops == [Add(), Mul(), Add(1.0)]
    top = _nodes(fg)[-1]
    assert top.inputs[0] is top.inputs[1]
    f = function(fg.inputs, fg.outputs[0], mode="FAST_COMPILE")
    assert float(f(2.0, 3.0)) == 2 * (2 + 3) * 2 + 1


def test_merge_keeps_different_ops_and_random_draws():
    a = var("a")
    fg = FunctionGraph([a], [Add()(Add(1.0)(a, a), Add(2.0)(a, a)), Add()(Draw()(a), Draw()(a))])
    assert merge(fg) == 0 and len(_nodes(fg)) == 6


def test_merge_unifies_equal_constants():
    a = var("a")
    fg = FunctionGraph([a], [Add()(Mul()(a, _const(2.0)), Mul()(a, _const(2.0)))])
    assert merge(fg) == 2  # the constant, then the node that became identical
    assert len(_nodes(fg)) == 2 and len(fg.constants()) == 1


def test_merge_skips_big_constants_but_stays_correct():
    import minigraph.tensor as T

    x = T.dvector("x")
    big = np.arange(100.0)
    f = function([x], [x + T.constant(big), x + T.constant(big)])
    r1, r2 = f(np.ones(100))
    assert np.array_equal(r1, big + 1) and np.array_equal(r2, big + 1)


def test_constant_folding_evaluates_constant_subgraphs_once():
    a = var("a")
    folded = Mul()(Add()(_const(2.0), _const(3.0)), _const(4.0))  # (2 + 3) * 4
    fg = FunctionGraph([a], [Add()(a, folded)])
    assert constant_folding(fg) == 2
    (node,) = _nodes(fg)
    k = node.inputs[1]
    assert isinstance(k, Constant) and float(k.data) == 20.0 and k.type == SCALAR
    f = function(fg.inputs, fg.outputs[0], mode="FAST_COMPILE")
    assert float(f(1.0)) == 21.0


def test_constant_folding_leaves_random_draws():
    a = var("a")
    fg = FunctionGraph([a], [Add()(a, Draw()(_const(1.0)))])
    assert constant_folding(fg) == 0 and len(_nodes(fg)) == 2


def test_passes_are_named_and_count_into_stats():
    a = var("a")
    fg = FunctionGraph([a], [Add()(Mul()(a, a), Mul()(a, a))])
    stats = {}
    MERGE.apply(fg, stats=stats)
    CONSTANT_FOLDING.apply(fg, stats=stats)
    assert MERGE.name == "merge" and CONSTANT_FOLDING.name == "constant_folding"
    assert stats["merge"][0] == 1 and stats["constant_folding"][0] == 0


def test_merge_and_folding_run_in_fast_run_on_tensor_graphs(rng):
    import minigraph.tensor as T

    x = T.dvector("x")
    y = T.exp(x) + T.exp(x) + T.constant(2.0) * T.constant(3.0)
    f = function([x], y, mode=FAST_RUN.excluding("fusion", "inplace"))
    ops = [str(n.op) for n in f.fgraph.toposort()]
    assert ops.count("exp") == 1 and "mul" not in ops  # CSE, and 2 * 3 folded
    xv = rng.standard_normal(4)
    np.testing.assert_allclose(f(xv), 2 * np.exp(xv) + 6.0, rtol=1e-15)
    g = function([x], y, mode="FAST_COMPILE")  # merge only
    assert [str(n.op) for n in g.fgraph.toposort()].count("mul") == 1
