"""Tests of minigraph.graph.op: equality from __props__, calling, the default callable."""

import pytest

from minigraph.graph.basic import GraphError
from minigraph.graph.op import Op

from .toy import Add, DivMod, Mul, var


def test_ops_are_equal_when_their_props_are():
    assert Add(1.0) == Add(1.0) and hash(Add(1.0)) == hash(Add(1.0))
    assert Add(1.0) != Add(2.0)
    assert Mul() == Mul() and Mul() != Add()  # no props: equal by class only
    assert len({Add(1.0), Add(1.0), Add(2.0), Mul()}) == 3


def test_str_shows_props():
    assert str(Add(1.5)) == "Add{1.5}" and str(Mul()) == "Mul"


def test_call_returns_one_output_or_a_list():
    a, b = var("a"), var("b")
    out = Add()(a, b)
    assert out.owner.inputs == [a, b]
    outs = DivMod()(a, b)
    assert isinstance(outs, list) and len(outs) == 2 and outs[0].owner is outs[1].owner


def test_default_py_callable_wraps_perform():
    a, b = var("a"), var("b")
    single = Add(0.5)(a, b).owner
    assert single.op.make_py_callable(single)(1.0, 2.0) == 3.5
    double = DivMod()(a, b)[0].owner
    assert double.op.make_py_callable(double)(7.0, 2.0) == (3.0, 1.0)


def test_unimplemented_parts_fail_clearly():
    class Bare(Op):
        pass

    with pytest.raises(NotImplementedError, match="Bare.make_node"):
        Bare()(var("a"))
    with pytest.raises(NotImplementedError, match="Bare.perform"):
        Bare().perform(None, [], [[None]])
    with pytest.raises(GraphError, match="no gradient"):
        Bare().grad([], [], [])
    with pytest.raises(NotImplementedError):
        Bare().infer_shape(None, [])


def test_view_and_destroy_maps_default_to_empty():
    assert Add().view_map == {} and Add().destroy_map == {}
