"""Tests of minigraph.graph.rewriting: patterns, rules, node rewriters, rule sets, passes."""

import pytest

from minigraph.compile.function import function
from minigraph.graph.basic import GraphError
from minigraph.graph.fg import FunctionGraph
from minigraph.graph.rewriting import GraphPass, P, RuleSet, Where, is_op, node_rewriter, rule

from .toy import Add, DivMod, Mul, var


@node_rewriter([Add])
def add_to_mul(fgraph, node):
    """Add{0}(a, b) -> Mul(a, b)   (wrong maths, easy to see)"""
    if node.op.offset == 0:
        return [Mul()(*node.inputs)]
    return None


@node_rewriter([Mul])
def mul_to_add_two(fgraph, node):
    """Mul(a, b) -> Add{2}(a, b)"""
    return [Add(2.0)(*node.inputs)]


@node_rewriter([Mul])
def mul_to_add_zero(fgraph, node):
    """Mul(a, b) -> Add{0}(a, b): undoes add_to_mul"""
    return [Add(0.0)(*node.inputs)]


def _ops(fg):
    return [n.op for n in fg.toposort()]


def _fg():
    a, b = var("a"), var("b")
    out = Add(0.0)(Add(0.0)(a, b), b)
    return FunctionGraph([a, b], [out])


def test_decorator_makes_a_named_rewriter():
    assert add_to_mul.name == "add_to_mul" and add_to_mul.tracks == (Add,)
    assert "Mul(a, b)" in add_to_mul.__doc__ and repr(add_to_mul) == "NodeRewriter(add_to_mul)"


def test_rule_set_runs_chained_rewrites_to_a_fixed_point():
    fg = _fg()
    stats = {}
    rules = RuleSet("toy", [add_to_mul, mul_to_add_two])
    assert rules.names() == ["add_to_mul", "mul_to_add_two"]
    rules.apply(fg, stats=stats)
    assert _ops(fg) == [Add(2.0), Add(2.0)]
    assert stats["add_to_mul"][0] == 2 and stats["mul_to_add_two"][0] == 2
    f = function(fg.inputs, fg.outputs[0], mode="FAST_COMPILE")
    assert float(f(1.0, 10.0)) == (1 + 10 + 2) + 10 + 2


def test_excluded_rewriters_do_not_run():
    fg = _fg()
    RuleSet("toy", [add_to_mul, mul_to_add_two]).apply(fg, exclude={"mul_to_add_two"})
    assert _ops(fg) == [Mul(), Mul()]


def test_rewrites_that_undo_each_other_stop_after_max_rounds():
    fg = _fg()
    RuleSet("loop", [add_to_mul, mul_to_add_zero], max_rounds=3).apply(fg)
    assert len(_ops(fg)) == 2  # terminated, graph still well formed


def test_rewriter_may_track_an_op_instance_and_return_a_dict():
    @node_rewriter([Add(5.0)])
    def only_add_five(fgraph, node):
        return {node.outputs[0]: Mul()(*node.inputs)}

    a, b = var("a"), var("b")
    fg = FunctionGraph([a, b], [Add(1.0)(Add(5.0)(a, b), b)])
    RuleSet("one", [only_add_five]).apply(fg)
    assert _ops(fg) == [Mul(), Add(1.0)]


def test_generic_rewriter_sees_every_node():
    seen = []

    @node_rewriter(None)
    def spy(fgraph, node):
        seen.append(node.op)
        return None

    RuleSet("spy", [spy]).apply(_fg())
    assert seen == [Add(0.0), Add(0.0)]


def test_rewriter_returning_a_wrong_type_is_reported():
    from minigraph.graph.type import TensorType

    @node_rewriter([Add])
    def breaks_types(fgraph, node):
        return [TensorType("int8", ())("oops")]

    with pytest.raises(GraphError, match="rewrite breaks_types replaced"):
        RuleSet("bad", [breaks_types]).apply(_fg())


def test_replacing_a_multi_output_node():
    @node_rewriter([DivMod])
    def divmod_to_adds(fgraph, node):
        a, b = node.inputs
        return [Add(0.0)(a, b), None]  # None: keep that output

    a, b = var("a"), var("b")
    q, r = DivMod()(a, b)
    fg = FunctionGraph([a, b], [Mul()(q, r)])
    RuleSet("dm", [divmod_to_adds]).apply(fg)
    names = sorted(type(op).__name__ for op in _ops(fg))
    assert names == ["Add", "DivMod", "Mul"]  # DivMod stays: its second output is used
    f = function(fg.inputs, fg.outputs[0], mode="FAST_COMPILE")
    assert float(f(7.0, 2.0)) == (7 + 2) * 1


def test_graph_pass_counts_in_stats():
    def drop_everything(fgraph):
        fgraph.replace(fgraph.outputs[0], fgraph.inputs[0])
        return 1

    fg = _fg()
    stats = {}
    p = GraphPass("drop", drop_everything)
    p.apply(fg, stats=stats)
    assert fg.outputs == [fg.inputs[0]] and stats["drop"][0] == 1
    assert p.names() == ["drop"] and repr(p) == "GraphPass(drop)"


# ---- patterns --------------------------------------------------------------------------------


class Keyed(Add):
    """An Add that patterns may name by a string, as Elemwise does with its scalar op."""

    @property
    def pattern_key(self):
        return "plus"


def test_pattern_matches_by_class_instance_and_key_with_captures():
    a, b = var("a"), var("b")
    prod = Mul()(a, b)
    out = Add(0.0)(prod, b)
    assert P(Add, P(Mul, "x", "y"), "y").match(out) == {"x": a, "y": b}
    assert P(Add(0.0), "u", "v").match(out) == {"u": prod, "v": b}
    assert P(Add(1.0), "u", "v").match(out) is None  # another instance: other __props__
    assert P(Add, P(Mul, "x", "y"), "x").match(out) is None  # a name binds one variable
    assert P("plus", "x", "y").match(out) is None  # Add has no pattern key
    assert P("plus", "x", "y").match(Keyed()(a, b)) == {"x": a, "y": b}
    assert P((Mul, "plus")).match(Keyed()(a, b)) == {}  # any of a tuple; no args: any inputs
    assert P(Add, "x").match(out) is None  # wrong arity
    assert P(Mul, "x", "y").match(a) is None  # a leaf has no op


def test_pattern_commutes_names_itself_and_tests_leaves():
    a, b = var("a"), var("b")
    out = Mul()(b, Add(0.0)(a, b))
    inner = out.owner.inputs[1]
    pat = P(Mul, P(Add, "x", "y", name="s"), "y", commute=True)
    assert pat.match(out) == {"x": a, "y": b, "s": inner}
    assert P(Mul, P(Add, "x", "y"), "y").match(out) is None  # without commute: order counts
    is_a = Where(lambda v: v.name == "a", "aa")
    assert P(Add, is_a, "z").match(inner) == {"aa": a, "z": b}
    assert P(Add, "z", is_a).match(inner) is None
    assert repr(pat) == "Mul(Add(x, y) as s, y)" and repr(is_a) == "aa?"


@rule(P(Add(0.0), P(Mul, "x", "y"), "y"))
def factor_out(x, y):
    """x * y + y -> Add{1}(x, ...)   (toy identity: the pattern and its captures)"""
    return Mul()(Add(1.0)(x, var("one_less")), y)


def test_rule_is_indexed_by_its_root_and_rewrites_a_match():
    assert factor_out.tracks == (Add(0.0),) and "x * y + y" in factor_out.__doc__
    a, b = var("a"), var("b")
    fg = FunctionGraph([a, b], [Add(0.0)(Mul()(a, b), b)])
    stats = {}
    RuleSet("toy", [factor_out]).apply(fg, stats=stats)
    assert _ops(fg) == [Add(1.0), Mul()] and stats["factor_out"][0] == 1
    fg = FunctionGraph([a, b], [Add(0.0)(Mul()(a, b), a)])  # no match: y differs
    RuleSet("toy", [factor_out]).apply(fg)
    assert _ops(fg) == [Mul(), Add(0.0)]


def test_rule_is_tried_only_on_nodes_its_root_can_match():
    tried = []

    @rule(P("plus", "x", "y"))
    def plus_to_mul(x, y, node):
        tried.append(node.op)
        return Mul()(x, y)

    a, b = var("a"), var("b")
    fg = FunctionGraph([a, b], [Add(0.0)(Keyed()(a, b), Mul()(a, b))])
    RuleSet("keyed", [plus_to_mul]).apply(fg)
    assert tried == [Keyed()]  # never shown the Add or the Mul
    assert sorted(type(op).__name__ for op in _ops(fg)) == ["Add", "Mul", "Mul"]


def test_rule_with_several_patterns_and_a_fit_that_refuses():
    seen = []

    def fit(new, old):
        seen.append((new, old))
        return None if new.name == "refused" else new

    @rule(P(Mul, "x", "y"), P(Add, "x", "y"), fit=fit)
    def to_x(x, y):
        return x

    a, b = var("a"), var("refused")
    fg = FunctionGraph([a, b], [Add(0.0)(Mul()(a, b), b)])
    RuleSet("fit", [to_x]).apply(fg)
    assert fg.outputs[0] is a  # Mul(a, b) -> a, then Add(a, b) -> a
    assert [n.name for n, _ in seen] == ["a", "a"]
    fg = FunctionGraph([a, b], [Mul()(b, b)])
    RuleSet("fit", [to_x]).apply(fg)  # b refused by fit: the graph stays
    assert _ops(fg) == [Mul()]


def test_every_match_is_offered_until_the_function_accepts_one():
    offered = []

    @rule(P(Add, P(Mul, "x", "y"), "z", commute=True))
    def needs_x_named_c(x, y, z):
        offered.append(x.name)
        return Mul()(x, y) if x.name == "c" else None

    a, b, c = var("a"), var("b"), var("c")
    fg = FunctionGraph([a, b, c], [Add(0.0)(Mul()(a, b), Mul()(c, c))])
    RuleSet("all", [needs_x_named_c]).apply(fg)
    assert offered == ["a", "c"]  # as written, then commuted: x from Mul(c, c)
    assert fg.outputs[0].owner.inputs[0] is c


def test_is_op_names_ops_as_patterns_do():
    a, b = var("a"), var("b")
    out = Keyed()(Mul()(a, b), b)
    assert is_op(out, "plus") and is_op(out, Add) and is_op(out, Keyed()) and is_op(out, (Mul, Add))
    assert not is_op(out, Mul) and not is_op(out, "mul") and not is_op(a, Add)
