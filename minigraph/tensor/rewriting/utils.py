"""What the tensor rules share: constant leaves, type fitting, the factors of a product.

Rules here are written with the pattern matcher of ``minigraph/graph/rewriting.py``; a
pattern names an elementwise op by its scalar op's name (``P("log", "x")``). This module
adds the tensor-specific pieces: :func:`const` (a leaf matching a constant, also through the
``DimShuffle`` that broadcasting puts on a scalar), and :func:`rule`, which makes a
replacement take the type of what it replaces (a cast where only the dtype differs).
"""

import numpy as np

from minigraph.graph.basic import Constant
from minigraph.graph.rewriting import Where
from minigraph.graph.rewriting import rule as _graph_rule

from .. import math as M
from ..elemwise import DimShuffle


def const_value(v):
    """The single value of a constant that is the same everywhere, else None (also through
    the DimShuffle that broadcasting puts on a scalar constant, e.g. ``x * 1``)."""
    while v.owner is not None and isinstance(v.owner.op, DimShuffle):
        v = v.owner.inputs[0]
    if isinstance(v, Constant):
        d = np.asarray(v.data)
        if d.size and (d == d.flat[0]).all():
            return d.flat[0]
    return None


def const(value, name=None):
    """A pattern leaf matching a constant equal to ``value`` everywhere.

    >>> const(1)
    1?
    """

    def test(v):
        return const_value(v) == value

    test.__name__ = str(value)
    return Where(test, name)


def cast_to(new, old):
    """``new`` with the type of ``old`` (cast when only the dtype differs), else None."""
    if new.type == old.type:
        return new
    if new.dtype != old.dtype:
        new = M.cast(new, old.dtype)
    if new.type != old.type and new.ndim == old.ndim and old.type.is_super(new.type):
        return new
    return new if new.type == old.type else None


def exact(new, old):
    """``new`` if it has exactly the type of ``old`` (no cast), else None."""
    return new if new.type == old.type else None


def rule(*patterns, name=None, fit=cast_to):
    """A pattern rule (``graph.rewriting.rule``) whose replacement takes the old type."""
    return _graph_rule(*patterns, name=name, fit=fit)


def key(v):
    """The pattern key of the op computing ``v`` (a scalar op's name), None for a leaf."""
    return getattr(v.owner.op, "pattern_key", None) if v.owner is not None else None


def mul_factors(v):
    """The factors of a tree of multiplications and negations, and whether the sign flips."""
    k = key(v)
    if k == "mul":
        (fa, na), (fb, nb) = (mul_factors(i) for i in v.owner.inputs)
        return fa + fb, na != nb
    if k == "neg":
        f, neg = mul_factors(v.owner.inputs[0])
        return f, not neg
    return [v], False


def product(factors, negative=False):
    """``f0 * f1 * ...``, negated if ``negative``."""
    out = factors[0]
    for f in factors[1:]:
        out = out * f
    return -out if negative else out


def same(a, b, depth=6):
    """Whether ``a`` and ``b`` compute the same value: one variable, constants of one value
    (whatever their dtype or broadcasting), or equal ops of the same inputs (what merge would
    join; rules build fresh nodes, merge runs later). Random draws are never the same."""
    if a is b:
        return True
    ca, cb = const_value(a), const_value(b)
    if ca is not None or cb is not None:
        return ca is not None and cb is not None and ca == cb
    na, nb = a.owner, b.owner
    if depth == 0 or na is None or nb is None or na.op != nb.op \
            or getattr(na.op, "nondeterministic", False) or len(na.inputs) != len(nb.inputs):
        return False
    return na.outputs.index(a) == nb.outputs.index(b) and all(
        same(x, y, depth - 1) for x, y in zip(na.inputs, nb.inputs))


def find(v, candidates):
    """The index of the first of ``candidates`` that is :func:`same` as ``v``, else None."""
    return next((i for i, c in enumerate(candidates) if same(v, c)), None)


def sum_terms(v):
    """The terms of a tree of additions, subtractions and negations: ``[(term, negated)]``."""
    k = key(v)
    if k in ("add", "sub"):
        a, b = v.owner.inputs
        flip = k == "sub"
        return sum_terms(a) + [(t, n != flip) for t, n in sum_terms(b)]
    if k == "neg":
        return [(t, not n) for t, n in sum_terms(v.owner.inputs[0])]
    return [(v, False)]
