"""Tests of minigraph.scan.op: ``Scan.perform`` against the loop its docstring states, the
canonical inputs and outputs, and ``make_node``'s checks."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.scan.op import Carry, Scan, make_scan


def _canonical_scan(T_steps):
    """A Scan with two sequences, a plain carry, a 3-tap window carry, a carry that keeps
    no trace, a per-step output and a const, built directly in canonical form."""
    x1, x2 = T.dmatrix("x1"), T.dmatrix("x2")
    i0, i1, i2 = T.dvector("i0"), T.dmatrix("i1"), T.dscalar("i2")
    K = T.dmatrix("K")
    p1, p2 = T.dvector("x1[t]"), T.dvector("x2[t]")
    c0, c1a, c1b, c2 = T.dvector("c0"), T.dvector("c1[t-3]"), T.dvector("c1[t-1]"), T.dscalar()
    k = T.dmatrix("k")
    carries = [
        Carry([c0], (-1,), i0, T.tanh(p1 + T.dot(c0, k)), True, "c0"),
        Carry([c1a, c1b], (-3, -1), i1, 0.5 * c1a + c1b * p2, True, "c1"),
        Carry([c2], (-1,), i2, c2 + p2.sum(), False, "c2"),
    ]
    ys = [c0 * c1b.sum()]
    outs_c, outs_y = make_scan(T_steps, [(p1, x1), (p2, x2)], carries, ys, [(k, K)])
    return [x1, x2, i0, i1, i2, K], outs_c + outs_y


def _reference_loop(n, x1, x2, i0, i1, i2, K):
    """The loop of Scan's docstring, written out for this scan."""
    trace0, trace1, c2, ys = [i0], list(i1), i2, []
    for t in range(n):
        c0 = trace0[-1]
        ys.append(c0 * trace1[-1].sum())
        trace0.append(np.tanh(x1[t] + c0 @ K))
        trace1.append(0.5 * trace1[-3] + trace1[-1] * x2[t])
        c2 = c2 + x2[t].sum()
    return [np.array(trace0), np.array(trace1), np.array(c2), np.array(ys).reshape(n, 2)]


@pytest.mark.parametrize("n", [0, 1, 6])
def test_perform_matches_the_docstring_loop_on_random_inputs(rng, n):
    inputs, outputs = _canonical_scan(n)
    node = outputs[0].owner
    assert isinstance(node.op, Scan) and len(node.outputs) == 4
    vals = [rng.normal(size=(n + 2, 2)), rng.normal(size=(n, 2)), rng.normal(size=2),
            rng.normal(size=(3, 2)), rng.normal(), rng.normal(size=(2, 2)) * 0.5]
    n_steps = node.inputs[0]
    # perform, called directly on the node's inputs
    storage = [[None] for _ in node.outputs]
    args = [np.int64(n)] + [vals[0], vals[1], vals[2], vals[3], np.float64(vals[4]), vals[5]]
    node.op.perform(node, args, storage)
    expect = _reference_loop(n, *vals)
    for cell, ref in zip(storage, expect):
        np.testing.assert_allclose(cell[0], ref, atol=1e-12)
    # and the same through a compiled function
    got = theano.function(inputs, outputs)(*vals)
    for g, ref in zip(got, expect):
        np.testing.assert_allclose(g, ref, atol=1e-12)
    assert n_steps.owner is None or n_steps.ndim == 0


def test_carry_outputs_hold_the_initial_window_then_the_steps():
    inputs, outputs = _canonical_scan(4)
    node = outputs[0].owner
    assert outputs[0].type.short() == "float64[?,?]"  # (1 + n_steps, 2)
    assert outputs[2].type.short() == "float64[]"  # keep=False: the final value only
    assert node.op.windows == (1, 3, 1) and node.op.carry_keep == (True, True, False)


def test_inner_graph_and_input_groups_for_printing():
    inputs, outputs = _canonical_scan(3)
    node = outputs[0].owner
    op = node.op
    groups = op.input_groups(node)
    assert list(groups) == ["n_steps", "sequences", "carries", "consts"]
    assert groups["sequences"] == inputs[:2] and groups["consts"] == [inputs[5]]
    assert [len(g) for g in groups.values()] == [1, 2, 3, 1]
    assert len(op.inner_inputs) == 2 + 4 + 1 and len(op.inner_outputs) == 4
    assert [p.name for p in op.carry_placeholders()[1]] == ["c1[t-3]", "c1[t-1]"]


def test_scans_compare_by_identity_so_merge_keeps_both():
    inputs, outputs = _canonical_scan(3)
    op = outputs[0].owner.op
    twin = Scan(op.inner_inputs, op.inner_outputs, op.n_seqs, op.carry_taps, op.carry_keep,
                op.n_consts)
    assert op == op and op != twin and len({op, twin}) == 2


def test_the_generated_loop_is_plain_python():
    from minigraph.scan.loop import loop_source

    inputs, outputs = _canonical_scan(3)
    src = loop_source(outputs[0].owner.op)
    assert "for t in range(T):" in src and "_inner(s0[t], s1[t], b0[t + 0]" in src
    assert "w2 = n2" in src  # the carry without a trace keeps only its latest value


def test_make_node_checks_input_types():
    inputs, outputs = _canonical_scan(3)
    node = outputs[0].owner
    op = node.op
    args = list(node.inputs)
    with pytest.raises(GraphError, match="expected 6 inputs after n_steps, got 5"):
        op.make_node(*args[:-1])
    bad = list(args)
    bad[3] = T.fvector("f")  # the plain carry's initial value must be float64[?]
    with pytest.raises(GraphError, match=r"initial value of c0 f has type float32\[\?\], "
                                         r"expected float64\[\?\]"):
        op.make_node(*bad)
    bad = list(args)
    bad[0] = T.dscalar("n")
    with pytest.raises(GraphError, match="n_steps must be an int scalar"):
        op.make_node(*bad)
    bad = list(args)
    bad[4] = T.tensor("float64", (2, 2))  # a window of 2 rows where 3 are read
    with pytest.raises(GraphError, match=r"expected float64\[3,\?\]"):
        op.make_node(*bad)
