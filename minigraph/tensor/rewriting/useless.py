"""``useless``: work whose result is known without doing it, mostly what gradients leave.

``theano.grad`` differentiates an indexing ``x[idx]`` into ``inc_subtensor(zeros_like(x)[idx],
g)`` and a sum into sums of sums; a scan's gradient then reads a slice of that scatter as its
sequence (``scan/grad.py``). These rules, run after the scan rewrites (which build some of the
sums), remove the passes over memory that this spends:

* ``inc_subtensor_of_zeros``: ``inc_subtensor(zeros_like(x)[idx], y)`` -> one
  ``ZerosIncSubtensor`` node (``tensor/subtensor_zeros.py``): no fill and copy of a base, and
  ``y`` itself when ``idx`` covers ``x`` at run time.
* ``zeros_inc_rows_of_reshape``: the rows of ``reshape(y, (-1, width))`` scattered into zeros
  (a row lookup's gradient) read from a 3-d ``y`` in place (``ZerosIncRows``): no copy of a
  ``y`` that is not contiguous, such as a loop's outputs read in reversed time order.
* ``subtensor_of_set``: a slice that lies inside the part that ``set_subtensor`` (or an
  ``inc_subtensor`` into zeros) wrote is a slice of the value written: ``inc(zeros[1:],
  y)[1:n + 1] -> y[0:n]``, checked at run time (``SliceOfSet``), so a bound known only then
  (a number of steps) still qualifies.
* ``sum_of_sum``: ``sum(sum(x, a), b) -> sum(x, a + b)``: one reduction instead of a chain
  (a bias gradient ``sum over steps of sum over the batch`` reads its input once).
* ``add_zeros_like``: ``zeros_like(x) + y -> y`` (an accumulator that starts from zeros).
"""

from minigraph.graph.rewriting import P, RuleSet, is_op, node_rewriter

from ..reduce import Reduce
from ..reduce import sum as _sum
from ..subtensor import IncSubtensor, Subtensor
from ..shape import Reshape
from ..subtensor_zeros import SliceOfSet, ZerosIncRows, ZerosIncSubtensor
from .utils import const, const_value, exact, rule


@node_rewriter([IncSubtensor])
def inc_subtensor_of_zeros(fgraph, node):
    """inc_subtensor(zeros_like(x)[idx], y) -> ZerosIncSubtensor(x, y, idx)"""
    base, y, idx = node.inputs[0], node.inputs[1], node.inputs[2:]
    if not is_op(base, "second") or const_value(base.owner.inputs[1]) != 0:
        return None
    x = base.owner.inputs[0]
    op = node.op
    new = ZerosIncSubtensor(op.entries, op.set_instead_of_inc).make_node(x, y, *idx)
    out = new.outputs[0]
    if out.type != node.outputs[0].type:
        return None  # zeros of another dtype or broadcast pattern than x
    new.trace = node.trace
    return [out]


def _written_part(node):
    """``(start, zeros)`` when ``node`` writes over ``x[start:, ...]`` (constant ``start``, every
    other axis whole), so that reads inside that part see only the value written:
    ``set_subtensor`` (``zeros=False``) or an ``inc_subtensor`` into zeros (``zeros=True``)."""
    op = node.op
    zeros = isinstance(op, ZerosIncSubtensor)
    if not (zeros or isinstance(op, IncSubtensor) and op.set_instead_of_inc):
        return None
    if not op.entries or len(node.inputs) != 2 or node.inputs[1].ndim != node.inputs[0].ndim:
        return None  # index inputs (the bounds are not constants), or a broadcast value
    first, rest = op.entries[0], op.entries[1:]
    if not (isinstance(first, tuple) and first[2] is None and first[3] in (None, 1)
            and (first[1] is None or first[1] >= 0)):
        return None
    if any(e != ("slice", None, None, None) for e in rest):
        return None
    return first[1] or 0, zeros


def _may_lie_inside(entry, a):
    """False when the read ``entry`` of axis 0 surely reaches below row ``a`` (then
    ``SliceOfSet`` would build the whole array on every call: no gain)."""
    if entry == "in" or a == 0:
        return True
    if isinstance(entry, int):
        return entry >= a
    if isinstance(entry, tuple):
        _, b, _, step = entry
        return (b == "in" or isinstance(b, int) and b >= a) and (
            step in (None, "in") or step > 0)
    return False


@node_rewriter([ZerosIncSubtensor])
def zeros_inc_rows_of_reshape(fgraph, node):
    """ZerosIncSubtensor{[]}(x, reshape(y, shp), idx) -> ZerosIncRows(x, y, idx, shp)
    (a 3-d y read in place through its strides: no copy when it is not contiguous)"""
    op = node.op
    if op.entries != ("array",) or op.set_instead_of_inc:
        return None
    x, rows, idx = node.inputs
    if x.ndim != 2 or idx.ndim != 1 or rows.owner is None \
            or not isinstance(rows.owner.op, Reshape) or rows.ndim != 2:
        return None
    y, shp = rows.owner.inputs
    if y.ndim != 3 or y.dtype != x.dtype:
        return None
    new = ZerosIncRows().make_node(x, y, idx, shp)
    if new.outputs[0].type != node.outputs[0].type:
        return None
    new.trace = node.trace
    return [new.outputs[0]]


@node_rewriter([Subtensor])
def subtensor_of_set(fgraph, node):
    """set_subtensor(x[a:], y)[b:c] -> y[b - a:c - a]  (b >= a; also an inc into zeros)"""
    src = node.inputs[0]
    found = _written_part(src.owner) if src.owner is not None else None
    if found is None or not _may_lie_inside(node.op.entries[0], found[0]):
        return None
    a, zeros = found
    x, y = src.owner.inputs
    new = SliceOfSet(a, node.op.entries, zeros).make_node(x, y, *node.inputs[1:])
    if new.outputs[0].type != node.outputs[0].type:
        return None
    new.trace = node.trace
    return [new.outputs[0]]


@node_rewriter([Reduce])
def sum_of_sum(fgraph, node):
    """sum(sum(x, axis=a), axis=b) -> sum(x, axis=a + b)"""
    outer = node.op
    inner_var = node.inputs[0]
    if outer.kind != "sum" or inner_var.owner is None:
        return None
    inner = inner_var.owner.op
    if not isinstance(inner, Reduce) or inner.kind != "sum" or \
            len(fgraph.clients.get(inner_var, [])) != 1:
        return None
    x = inner_var.owner.inputs[0]
    out = node.outputs[0]
    if not (x.dtype == inner_var.dtype == out.dtype):
        return None  # a sum that accumulates in another type
    kept = [d for d in range(x.ndim) if inner.keepdims or d not in inner.axis]
    outer_axes = {kept[d] for d in outer.axis}  # in x's numbering
    axes = sorted(set(inner.axis) | outer_axes)
    dropped = set() if inner.keepdims else set(inner.axis)
    if not outer.keepdims:
        dropped |= outer_axes
    if dropped == set(axes):
        total = _sum(x, axis=axes)
    else:
        total = _sum(x, axis=axes, keepdims=True)
        if dropped:
            total = total.dimshuffle(*[d for d in range(x.ndim) if d not in dropped])
    return [total] if total.type == out.type else None


@rule(P("add", P("second", "x", const(0)), "y", commute=True), fit=exact)
def add_zeros_like(x, y):
    """zeros_like(x) + y -> y   (when that has the sum's type: elementwise broadcasting is
    checked against the types, so equal types mean equal shapes; a scan's weight gradient
    starts from zeros and gets the hoisted product added)"""
    return y


USELESS = RuleSet("useless", [inc_subtensor_of_zeros, zeros_inc_rows_of_reshape,
                              subtensor_of_set, sum_of_sum, add_zeros_like])
