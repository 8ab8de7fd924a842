"""Tests of minigraph.graph.fg.FunctionGraph: private copies, clients, replace, prune."""

import pytest

from minigraph.graph.basic import GraphError, graph_inputs
from minigraph.graph.fg import FunctionGraph
from minigraph.graph.type import TensorType

from .toy import Add, add, mul, var


def _graph():
    a, b = var("a"), var("b")
    s = add(a, b)
    out = mul(s, s)
    return a, b, s, out


def test_clone_leaves_the_users_graph_alone():
    a, b, s, out = _graph()
    fg = FunctionGraph([a, b], [out])
    assert fg.inputs == [a, b]  # inputs are kept, the nodes between are copied
    new_out = fg.outputs[0]
    assert new_out is not out and fg.memo[out] is new_out and fg.memo[s] is not s
    assert new_out.owner.op == out.owner.op and new_out.owner.trace == out.owner.trace
    fg.replace(fg.memo[s], a, reason="test")
    assert out.owner.inputs == [s, s]  # the original is untouched


def test_no_clone_works_on_the_graph_itself():
    a, b, s, out = _graph()
    fg = FunctionGraph([a, b], [out], clone=False)
    assert fg.outputs[0] is out and fg.memo == {}


def test_clients_list_every_reader():
    a, b, s, out = _graph()
    fg = FunctionGraph([a, b], [out], clone=False)
    assert fg.clients[s] == [(out.owner, 0), (out.owner, 1)]
    assert fg.clients[out] == [("output", 0)]
    assert fg.clients[a] == [(s.owner, 0)]
    assert set(fg.variables()) == {a, b, s, out}
    assert fg.toposort() == [s.owner, out.owner] == fg.apply_nodes
    assert "2 nodes" in str(fg)


def test_replace_moves_clients_and_registers_the_new_subgraph():
    a, b, s, out = _graph()
    fg = FunctionGraph([a, b], [out], clone=False)
    new = add(b, a)
    fg.replace(s, new, reason="swap")
    assert out.owner.inputs == [new, new]
    assert fg.clients[new] == [(out.owner, 0), (out.owner, 1)]
    assert (new.owner, 0) in fg.clients[b] and fg.clients[s] == []
    assert fg.history == [("swap", s)]
    fg.prune()
    assert s not in fg.clients and s.owner not in fg.toposort()


def test_replace_an_output():
    a, b, s, out = _graph()
    fg = FunctionGraph([a, b], [out], clone=False)
    fg.replace(out, s)
    assert fg.outputs == [s] and ("output", 0) in fg.clients[s]


def test_replace_with_an_incompatible_type_is_refused():
    a, b, s, out = _graph()
    fg = FunctionGraph([a, b], [out], clone=False)
    wrong = TensorType("float32", ())("w")
    with pytest.raises(GraphError, match="rewrite bad replaced .* incompatible type"):
        fg.replace(s, wrong, reason="bad")
    # refining a static shape is allowed (same dtype and rank)
    fg.replace(s, TensorType("float64", shape=())("ok"))


def test_replace_with_a_graph_reading_the_old_variable():
    a, b, s, out = _graph()
    fg = FunctionGraph([a, b], [out], clone=False)
    wrapped = Add(1.0)(s, a)  # new value computed from the old one
    fg.replace(s, wrapped)
    assert out.owner.inputs == [wrapped, wrapped]
    assert fg.clients[s] == [(wrapped.owner, 0)]
    assert set(graph_inputs(fg.outputs)) == {a, b}


def test_constants_lists_constant_leaves():
    from minigraph.graph.basic import Constant

    a = var("a")
    k = Constant(a.type, 2.0)
    fg = FunctionGraph([a], [add(a, k)])
    assert fg.constants() == [k]


def test_shape_nodes_are_scheduled_right_after_their_input():
    """x.shape used only by a late node must not keep x alive: the schedule puts it early."""
    import minigraph.tensor as T
    from minigraph.tensor.shape import Shape

    x = T.dmatrix("x")
    big = T.exp(x)
    late = T.tanh(T.log1p(T.sum(big)))
    out = T.reshape(late * T.ones_like(x), big.shape)
    fg = FunctionGraph([x], [out])
    order = fg.toposort()
    shape_node = next(n for n in order if isinstance(n.op, Shape))
    producer = shape_node.inputs[0].owner
    assert order.index(shape_node) == order.index(producer) + 1
    # still a valid topological order
    seen = set()
    for n in order:
        assert all(i.owner is None or i.owner in seen for i in n.inputs)
        seen.add(n)
