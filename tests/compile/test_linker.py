"""Tests of minigraph.compile.linker: the generated straight-line code, early freeing of
intermediates, mapping a failing line back to its node, per-node hooks."""

import numpy as np

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.linker import failing_node, link
from minigraph.compile.mode import Mode
from minigraph.graph.fg import FunctionGraph

PLAIN = Mode("plain", passes=[])


def test_source_is_one_call_per_node_in_topological_order():
    x, y = T.dvector("x"), T.dvector("y")
    f = theano.function([x, y], T.exp(x) * y + 1, mode=PLAIN)
    lines = f.source.splitlines()
    assert lines[0] == "def _fn(i0, i1):"
    calls = [ln.strip() for ln in lines if " = f" in ln]
    assert calls[0] == "v0_0 = f0(i0)"  # exp(x)
    assert len(calls) == len(f.fgraph.toposort()) and lines[-1].strip().startswith("return (")


def test_intermediates_are_deleted_after_their_last_use():
    x = T.dvector("x")
    f = theano.function([x], T.exp(T.exp(x)) + 1, mode=PLAIN)
    assert "del v0_0" in f.source  # the inner exp dies once the outer one has read it
    assert "del i0" not in f.source  # inputs belong to the caller
    assert float(f(np.zeros(1))[0]) == np.exp(1.0) + 1


def test_shared_values_and_constants_are_bound_once():
    s = theano.shared(np.arange(3.0), name="s")
    x = T.dvector("x")
    f = theano.function([x], x + s + np.ones(3), mode=PLAIN)
    assert "= c" in f.source and ".value" in f.source
    s.set_value(np.zeros(3))  # read at each call, not baked in
    assert f(np.ones(3)).tolist() == [2.0, 2.0, 2.0]


def test_update_values_are_returned_after_outputs():
    s = theano.shared(0.0, name="s")
    x = T.dscalar("x")
    fg = FunctionGraph([x], [x * 2, s + x])
    linked = link(fg, 1)
    outs, updates = linked.run(np.float64(3.0))
    assert float(outs[0]) == 6.0 and float(updates[0]) == 3.0


def test_failing_node_maps_a_traceback_to_the_node():
    x = T.dmatrix("x")
    fg = FunctionGraph([x], [T.exp(x), T.dot(x, x)])
    linked = link(fg, 2)
    try:
        linked.run(np.zeros((2, 3)))
    except ValueError as e:
        node = failing_node(linked, e.__traceback__)
    assert type(node.op).__name__ == "Dot"
    assert failing_node(linked, None) is None


def test_node_check_hook_sees_every_node():
    seen = []
    x = T.dvector("x")
    fg = FunctionGraph([x], [T.exp(x) + 1])
    linked = link(fg, 1, node_check=lambda node, values: seen.append((node, values)))
    linked.run(np.zeros(2))
    assert [str(n.op) for n, _ in seen] == [str(n.op) for n in fg.toposort()]
    assert np.array_equal(seen[-1][1][0], np.full(2, 2.0))


def test_profile_accumulates_time_per_node():
    x = T.dvector("x")
    fg = FunctionGraph([x], [T.exp(x) * 2])
    linked = link(fg, 1, profile=True)
    for _ in range(3):
        linked.run(np.ones(1000))
    assert linked.profile.shape == (len(fg.toposort()),) and np.all(linked.profile > 0)
    assert "_prof[0] +=" in linked.source
