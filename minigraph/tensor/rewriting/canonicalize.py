"""``canonicalize``: algebraic clean-ups that remove work without changing a value's type."""

from minigraph.graph.rewriting import P, RuleSet, node_rewriter

from .utils import const, const_value, exact, key, rule, sum_terms


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


def _zeros(v):
    """True when ``v`` is zeros everywhere: a constant 0, ``alloc(0, ...)`` or a fill
    ``second(x, 0)``."""
    if const_value(v) == 0:
        return True
    op = getattr(v.owner, "op", None)
    if type(op).__name__ == "Alloc":
        return const_value(v.owner.inputs[0]) == 0
    return key(v) == "second" and const_value(v.owner.inputs[1]) == 0


def _tile(entries, ndim):
    """``(axis, start, stop)`` when ``entries`` slice one axis by constants (step 1, starts
    and stops not negative) and take every other axis whole, else None."""
    whole = ("slice", None, None, None)
    if len(entries) > ndim or any(not isinstance(e, tuple) for e in entries):
        return None
    cut = [(d, e) for d, e in enumerate(entries) if e != whole]
    if len(cut) != 1:
        return None
    d, (_, a, b, c) = cut[0]
    if c not in (None, 1) or not all(v is None or (isinstance(v, int) and v >= 0)
                                     for v in (a, b)):
        return None
    return d, a or 0, b


@node_rewriter(["add"])
def inc_subtensors_to_join(fgraph, node):
    """inc(zeros[:, :a], x) + inc(zeros[:, a:b], y) + inc(zeros[:, b:], z) -> join(1, x, y, z)
    (the gradient of a state cut into gates: every gated cell's backward step builds it,
    and the sum would fill and add full-size arrays once per slice)"""
    out = node.outputs[0]
    terms = sum_terms(out)
    if len(terms) < 2 or any(neg for _, neg in terms):
        return None
    parts = []
    for t, _ in terms:
        op = getattr(t.owner, "op", None)
        if type(op).__name__ != "IncSubtensor" or op.set_instead_of_inc or \
                len(t.owner.inputs) != 2 or not _zeros(t.owner.inputs[0]):
            return None
        y = t.owner.inputs[1]
        cut = _tile(op.entries, t.ndim)
        if cut is None or y.ndim != t.ndim or y.broadcastable != t.broadcastable or \
                t.type != out.type:
            return None
        parts.append((cut, y))
    parts.sort(key=lambda p: p[0][1])
    axis = parts[0][0][0]
    at = 0
    for (d, a, b), _ in parts:  # the slices must tile the axis: [:a], [a:b], ..., [z:]
        if d != axis or a != at:
            return None
        at = b
    if at is not None:
        return None
    from minigraph.tensor.shape import Join

    return [Join(axis)(*[y for _, y in parts])]


CANONICALIZE = RuleSet("canonicalize", [mul_by_one, add_zero, double_neg, add_neg_to_sub,
                                        inc_subtensors_to_join])
