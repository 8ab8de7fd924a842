"""Tests of minigraph.graph.basic: variables, constants, Apply, traces and graph walks."""

import os

import numpy as np
import pytest

from minigraph.graph.basic import (Apply, Constant, GraphError, ancestors, clone_replace,
                                   graph_inputs, is_in_ancestors, toposort, user_line, where,
                                   with_user_line)

from .toy import SCALAR, add, divmod_, mul, var

HERE = os.path.basename(__file__)


def _line():
    """The caller's line number (to compare with recorded traces)."""
    import sys

    return sys._getframe(1).f_lineno


def test_apply_records_the_users_line():
    a, b = var("a"), var("b")
    line = _line() + 1
    c = add(a, b)
    assert c.owner.trace == f"{__file__}:{line}"
    assert where(c) == f" (created at {__file__}:{line})"
    assert where(a) == ""  # a leaf has no creating node


def test_user_line_skips_library_frames():
    assert user_line() == f"{__file__}:{_line()}"
    msg = with_user_line(with_user_line("bad thing"))  # same line twice: appended once
    assert msg == f"bad thing (at {__file__}:{_line() - 1})"


def test_graph_error_points_at_the_users_line():
    with pytest.raises(GraphError) as info:
        raise GraphError("something is wrong")
    assert f"{HERE}:{_line() - 1}" in str(info.value)


def test_variable_ids_names_and_str():
    a, b = var("a"), var(None)
    assert a.id != b.id
    assert str(a) == "a" and a.describe() == "a"
    c = add(a, b)
    assert c.owner.op is add and c.index == 0 and c.owner.out is c
    assert str(c) == "Add{0.0}"
    q, r = divmod_(a, b)
    assert (q.index, r.index) == (0, 1) and str(r) == "DivMod.1"
    with pytest.raises(GraphError, match="2 outputs"):
        q.owner.out
    assert a.clone() is not a and a.clone().name == "a" and a.clone().owner is None


def test_constant_signature_and_str():
    c1 = Constant(SCALAR, np.float64(2.0))
    c2 = Constant(SCALAR, np.float64(2.0))
    c3 = Constant(SCALAR, np.float64(3.0))
    assert c1.signature() == c2.signature() != c3.signature()
    assert str(c1) == "2.0" and c1.clone().data == 2.0 and c1.clone() is not c1
    big = Constant(TensorType_like((10,)), np.zeros(10))
    assert str(big) == "ndarray(10,)"


def TensorType_like(shape):
    from minigraph.graph.type import TensorType

    return TensorType("float64", shape=shape)


def _diamond():
    a, b = var("a"), var("b")
    s = add(a, b)
    p = mul(s, a)
    out = add(p, s)
    return a, b, s, p, out


def test_ancestors_and_graph_inputs():
    a, b, s, p, out = _diamond()
    assert set(ancestors([out])) == {a, b, s, p, out}
    assert set(graph_inputs([out])) == {a, b}
    # a blocker stops the walk and counts as an input
    assert set(graph_inputs([out], blockers=[s])) == {s, a}
    assert is_in_ancestors(out, [b]) and not is_in_ancestors(s, [p])


def test_toposort_puts_each_node_after_its_inputs():
    a, b, s, p, out = _diamond()
    order = toposort([out])
    assert [n.outputs[0] for n in order] == [s, p, out]
    assert toposort([out], blockers=[p]) == [s.owner, out.owner]  # s still feeds out
    assert toposort([a]) == []


def test_toposort_of_a_deep_chain_does_not_recurse():
    x = var("x")
    y = x
    for _ in range(5000):  # deeper than Python's recursion limit
        y = add(y, x)
    assert len(toposort([y])) == 5000


def test_clone_replace_rebuilds_only_what_depends_on_the_replaced():
    a, b, s, p, out = _diamond()
    c = var("c")
    side = mul(b, b)
    new_out, new_side = clone_replace([out, side], {a: c})
    assert new_side is side  # untouched subgraph is shared
    assert new_out is not out and set(graph_inputs([new_out])) == {b, c}
    assert set(graph_inputs([out])) == {a, b}  # the original graph is unchanged
    # traces survive the rebuild
    assert new_out.owner.trace == out.owner.trace


def test_clone_replace_keeps_names_and_evaluates_like_the_original():
    from minigraph.compile.function import function

    a, b, s, p, out = _diamond()
    out.name = "result"
    c = var("c")
    (new,) = clone_replace([out], {a: c})
    assert new.name == "result"
    f = function([c, b], new)
    # out = (c + b) * c + (c + b)
    assert float(f(2.0, 3.0)) == (2 + 3) * 2 + (2 + 3)


def test_apply_clone_with_new_inputs_uses_make_node():
    a, b = var("a"), var("b")
    node = add(a, b).owner
    new = node.clone_with_new_inputs([b, a])
    assert new.op == node.op and new.inputs == [b, a] and new.trace == node.trace
    assert isinstance(new, Apply) and new.outputs[0] is not node.outputs[0]


def test_eval_compiles_once_per_input_set():
    a, b = var("a"), var("b")
    c = add(a, b)
    assert float(c.eval({a: 1.0, b: 2.5})) == 3.5
    assert float(c.eval({a: 2.0, b: 2.5})) == 4.5
    assert len(c.tag["_eval_cache"]) == 1
    k = Constant(SCALAR, np.float64(4.0))
    assert float(add(k, k).eval()) == 8.0
    with pytest.raises(GraphError, match=f"keys of the dict must be symbolic variables.*{HERE}:"):
        c.eval({"a": 1.0})


def test_library_files_are_recognised_through_a_path_with_dots():
    """A module imported through a ``sys.path`` entry such as ``benchmarks/..`` keeps the
    ``..`` in its code's file name; it is still minigraph's, not the user's line."""
    import os

    from minigraph.graph import basic

    here = basic.__file__
    dotted = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(here))), "benchmarks",
                          "..", "minigraph", "graph", "basic.py")
    assert basic._is_library(dotted) and not basic._is_library("/elsewhere/prog.py")
