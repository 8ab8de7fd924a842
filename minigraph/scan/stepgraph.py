"""Graph helpers for the backward step of :mod:`minigraph.scan.grad`.

* :func:`clone_with_memo`: ``clone_replace`` that tells which clone each variable got, so the
  backward step can find the forward step's values it recomputes;
* :func:`is_view`: whether a value is only a view (or the shape) of the step's inputs, free
  to recompute rather than store;
* :func:`join_slice_grads`: the gradient of a value read as slices that tile one axis (an
  LSTM's four gates cut out of one product, a state split into ``h`` and ``c``) is built
  by ``grad`` as zeros plus one ``inc_subtensor`` per slice, summed; a join of the slices'
  gradients is the same array with one copy instead of an allocation, one copy and one
  addition per slice.
"""

from minigraph.graph.basic import clone_replace, toposort
from minigraph.graph.rewriting import is_op
from minigraph.tensor.elemwise import DimShuffle
from minigraph.tensor.shape import Reshape, Shape, SpecifyShape
from minigraph.tensor.subtensor import IncSubtensor, Subtensor

_FULL = ("slice", None, None, None)


def clone_with_memo(outputs, replace, memo):
    """``clone_replace(outputs, replace)`` that also fills ``memo`` = {old: new}.

    >>> import minigraph.tensor as T
    >>> x, y = T.dscalar("x"), T.dscalar("y")
    >>> memo = {}
    >>> [out] = clone_with_memo([T.exp(x) + 1], {x: y}, memo)
    >>> memo[x] is y and len(memo) == 3  # x, exp(x) and the sum
    True
    """
    return clone_replace(outputs, replace, memo)


def is_view(v):
    """True when ``v`` is a view (or the shape) of leaves: free to recompute."""
    views = (DimShuffle, Reshape, Shape, SpecifyShape, Subtensor)
    while v.owner is not None:
        if not isinstance(v.owner.op, views):
            return False
        if any(i.owner is not None and not is_view(i) for i in v.owner.inputs[1:]):
            return False
        v = v.owner.inputs[0]
    return True


def _terms(v):
    if is_op(v, "add"):
        return [t for i in v.owner.inputs for t in _terms(i)]
    return [v]


def _zeros_of(z):
    """``v`` when ``z`` is ``zeros_like(v)`` (``second(v, 0)``), else None."""
    from .gru_match import _is_const

    if is_op(z, "second") and _is_const(z.owner.inputs[1], 0):
        return z.owner.inputs[0]
    return None


def _slice_of(term):
    """``(v, axis, start, stop, piece)`` when ``term`` is ``inc_subtensor(zeros_like(v)
    [..., start:stop], piece)`` with constant bounds on one axis, else None."""
    if not is_op(term, IncSubtensor) or term.owner.op.set_instead_of_inc:
        return None
    z, piece = term.owner.inputs[:2]
    v, entries = _zeros_of(z), term.owner.op.entries
    if v is None or len(term.owner.inputs) != 2 or len(entries) > v.ndim:
        return None
    cut = [d for d, e in enumerate(entries) if e != _FULL]
    if len(cut) != 1 or not isinstance(entries[cut[0]], tuple) or \
            entries[cut[0]][3] is not None:  # an int index (s[0]) is not a slice
        return None
    _, start, stop, _ = entries[cut[0]]
    if piece.ndim != v.ndim or piece.dtype != term.dtype:
        return None
    return v, cut[0], start or 0, stop, piece


def _tiling(found):
    """The pieces in order when the slices tile their axis from 0 to the end, else None."""
    found = sorted(found, key=lambda f: f[2])
    at = 0
    for _, _, start, stop, _ in found:
        if start != at or not isinstance(start, int):
            return None
        at = stop
    return [f[4] for f in found] if at is None else None


def _joined(out):
    """``out`` (a sum) with its slice gradients that tile an axis joined, or None."""
    import minigraph.tensor as T

    terms, groups = _terms(out), {}
    for t in terms:
        s = _slice_of(t)
        if s is not None:
            groups.setdefault((s[0], s[1]), []).append((t, s))
    n = len(terms)
    for (v, axis), group in groups.items():
        pieces = _tiling([s for _, s in group]) if len(group) > 1 else None
        if pieces is not None:
            done = {id(t) for t, _ in group}
            terms = [T.concatenate(pieces, axis=axis)] + [t for t in terms if id(t) not in done]
    if len(terms) == n:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    if total.dtype != out.dtype:
        total = T.cast(total, out.dtype)
    return total if total.type == out.type else T.specify_shape(total, out.type.shape)


def join_slice_grads(values):
    """``values`` with each sum of slice gradients that tile an axis of one value replaced by
    the join of those gradients (see the module docstring); sums are rebuilt inputs first,
    so a sum that reads a joined one sees the join."""
    memo = {}
    for node in toposort([v for v in values if v is not None]):
        new_inputs = [memo.get(i, i) for i in node.inputs]
        outs = node.outputs
        if any(a is not b for a, b in zip(new_inputs, node.inputs)):
            outs = node.clone_with_new_inputs(new_inputs).outputs
        memo.update(zip(node.outputs, outs))
        if is_op(outs[0], "add"):
            memo[node.outputs[0]] = _joined(outs[0]) or outs[0]
    return [None if v is None else memo.get(v, v) for v in values]
