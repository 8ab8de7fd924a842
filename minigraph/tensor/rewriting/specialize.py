"""``specialize``: a cheaper op for the same value."""

from minigraph.graph.rewriting import P, RuleSet

from .. import math as M
from .utils import const, rule


@rule(P("pow", "x", const(2)))
def pow_two_to_sqr(x):
    """x ** 2 -> sqr(x)"""
    return M.sqr(x)


SPECIALIZE = RuleSet("specialize", [pow_two_to_sqr])
