"""``canonicalize``: algebraic clean-ups that remove work without changing a value's type."""

from minigraph.graph.rewriting import P, RuleSet

from .utils import const, exact, rule


@rule(P("mul", "x", const(1), commute=True), fit=exact)
def mul_by_one(x):
    """x * 1 -> x"""
    return x


@rule(P("add", "x", const(0), commute=True), P("sub", "x", const(0)), fit=exact)
def add_zero(x):
    """x + 0 -> x, x - 0 -> x"""
    return x


@rule(P("neg", P("neg", "x")))
def double_neg(x):
    """-(-x) -> x"""
    return x


@rule(P("add", "x", P("neg", "y"), commute=True), fit=exact)
def add_neg_to_sub(x, y):
    """x + (-y) -> x - y   (one node less, the same bits; the gradient of log1p(-p) divides by
    1 + (-p), which the stabilising rules then see as the 1 - p they cancel)"""
    return x - y


CANONICALIZE = RuleSet("canonicalize", [mul_by_one, add_zero, double_neg, add_neg_to_sub])
