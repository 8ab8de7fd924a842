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


def _zeros_key(v):
    """What a zeros array ``v`` is the zeros of (its group, for :func:`join_tiled_slices`):
    ``x`` for ``second(x, 0)`` (``zeros_like(x)``), ``v`` itself for ``alloc(0, ...)`` or a
    constant 0; None when ``v`` is not known to be zeros."""
    if key(v) == "second" and const_value(v.owner.inputs[1]) == 0:
        return v.owner.inputs[0]
    op = getattr(v.owner, "op", None)
    if type(op).__name__ == "Alloc" and const_value(v.owner.inputs[0]) == 0 or \
            const_value(v) == 0:
        return v
    return None


_WHOLE = ("slice", None, None, None)


def _slice_grad(t):
    """``(zeros group, axis, start, stop, piece)`` when ``t`` is ``inc_subtensor(zeros[...,
    start:stop], piece)`` cutting one axis by constants (step 1, no negative bound) with a
    piece of ``t``'s rank, type and broadcast pattern, else None."""
    op = getattr(t.owner, "op", None)
    if type(op).__name__ != "IncSubtensor" or op.set_instead_of_inc or len(t.owner.inputs) != 2:
        return None
    z, piece = t.owner.inputs
    group, entries = _zeros_key(z), op.entries
    if group is None or len(entries) > t.ndim or piece.ndim != t.ndim or \
            piece.dtype != t.dtype or piece.broadcastable != t.broadcastable:
        return None
    cut = [d for d, e in enumerate(entries) if e != _WHOLE]
    if len(cut) != 1 or not isinstance(entries[cut[0]], tuple):
        return None
    _, a, b, c = entries[cut[0]]
    if c not in (None, 1) or not all(v is None or (isinstance(v, int) and v >= 0)
                                     for v in (a, b)):
        return None
    return group, cut[0], a or 0, b, piece


def join_tiled_slices(out):
    """``out`` (a sum) with each group of its terms ``inc_subtensor(zeros[..., a:b], piece)``
    whose slices tile one axis of one zeros array (``[:a], [a:b], ..., [z:]``) replaced by
    the join of their pieces; None when there is no such group.

    The gradient of a value read as slices (a state cut into gates) is such a sum: summed,
    it fills and adds a full-size array per slice; joined, each piece is copied once.
    """
    import minigraph.tensor as T

    terms = [t for t, neg in sum_terms(out) if not neg]
    if len(terms) != len(sum_terms(out)) or len(terms) < 2:
        return None
    groups = {}
    for t in terms:
        s = _slice_grad(t)
        if s is not None:
            groups.setdefault((s[0], s[1]), []).append((t, s))
    n = len(terms)
    for (_, axis), group in groups.items():
        group.sort(key=lambda g: g[1][2])
        at = 0
        for _, (_, _, a, b, _) in group:
            if a != at:
                break
            at = b
        else:
            if at is None and len(group) > 1:  # reached the end: the slices tile the axis
                done = {id(t) for t, _ in group}
                terms = [T.concatenate([s[4] for _, s in group], axis=axis)] + \
                    [t for t in terms if id(t) not in done]
    if len(terms) == n:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    if total.dtype != out.dtype:
        total = T.cast(total, out.dtype)
    return total if total.type == out.type else T.specify_shape(total, out.type.shape)


@node_rewriter(["add"])
def inc_subtensors_to_join(fgraph, node):
    """inc(zeros[:, :a], x) + inc(zeros[:, a:b], y) + inc(zeros[:, b:], z) -> join(1, x, y, z)
    (the gradient of a state cut into gates, as every gated cell's backward step has it;
    see join_tiled_slices)"""
    new = join_tiled_slices(node.outputs[0])
    return None if new is None else [new]


CANONICALIZE = RuleSet("canonicalize", [mul_by_one, add_zero, double_neg, add_neg_to_sub,
                                        inc_subtensors_to_join])
