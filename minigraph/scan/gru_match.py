"""GRU-cell matching: ``scan_gru_cell`` and the graph-reading helpers both GRU rewrites use.

``scan_gru_cell`` finds a GRU cell written in plain ops (cuDNN formulation, gates r, z, n)
as the update of a scan's one carry ``h`` and replaces it by ``gru_step(gx_t, h, W_h, b_h)``.
The gates may come from one concatenated matrix (``gh = dot(h, W_h) + b_h``, sliced per
gate) or from three (their columns are joined once, outside the loop, as new consts); the
update may be ``(1 - z) * n + z * h`` in any order or ``n + z * (h - n)``. Each Scan op it
makes is recorded in ``_ORIGIN`` with the op it replaced, which the backward loops link to.

This module is the pattern side (reading a body: summands, gate shapes, column slices,
which values depend on the carry); pairing forward and backward loops into the fused
sequence ops, and ``GRU_PASS`` itself, are in :mod:`.gru_rewrite`, which reads the helpers
here too.
"""

import weakref

import minigraph.tensor as T
from minigraph.graph.basic import Constant, GraphError, clone_replace, toposort
from minigraph.graph.rewriting import is_op, node_rewriter
from minigraph.tensor.blas import Dot
from minigraph.tensor.elemwise import DimShuffle
from minigraph.tensor.nnet.gru import GRUStep, gru_step
from minigraph.tensor.subtensor import Subtensor

from .op import Scan

# a Scan op made by scan_gru_cell -> (the op it replaced, that node's inputs): backward
# loops link to the original op, and their roles index its sequences and consts
_ORIGIN = weakref.WeakKeyDictionary()
_FULL, _REVERSED = ("slice", None, None, None), (("slice", None, None, -1),)


# ---- reading graphs --------------------------------------------------------------------------


def _args(v, op):
    """The inputs of ``v`` if ``op`` computes it (a scalar op's name or an op class)."""
    return list(v.owner.inputs) if is_op(v, op) else None


def _terms(v):
    """The summands of a chain of ``add`` nodes."""
    args = _args(v, "add")
    return [t for a in args for t in _terms(a)] if args else [v]


def _sum(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _is_const(v, value):
    while is_op(v, DimShuffle):
        v = v.owner.inputs[0]
    return isinstance(v, Constant) and v.data.size == 1 and v.data.reshape(-1)[0] == value


def _entries(v):
    """The index of a Subtensor with constant bounds, else None."""
    ok = is_op(v, Subtensor) and len(v.owner.inputs) == 1
    return tuple(v.owner.op.entries) if ok else None


def _column_slice(v):
    """``(base, start, stop)`` when ``v`` is ``base[..., start:stop]`` (constant bounds)."""
    e = _entries(v)
    if e is None or len(e) != v.ndim or any(x != _FULL for x in e[:-1]):
        return None
    last = e[-1]
    if not (isinstance(last, tuple) and last[0] == "slice" and last[3] is None) or any(
            b is not None and not (isinstance(b, int) and b >= 0) for b in last[1:3]):
        return None
    return v.owner.inputs[0], last[1] or 0, last[2]


class _Body:
    """Which inner values of a one-carry Scan depend on the carry ``h``, on the sequences."""

    def __init__(self, op):
        self.h = op.carry_placeholders()[0][0]
        self.on_h, self.on_seq = {self.h}, set(op.seq_placeholders())
        for node in toposort(op.inner_outputs, blockers=op.inner_inputs):
            for deps in (self.on_h, self.on_seq):
                if any(i in deps for i in node.inputs):
                    deps.update(node.outputs)

    def const_only(self, v):
        return v not in self.on_h and v not in self.on_seq


def _loop_shape_ok(op, rewrite):
    """One carry ``h`` (B, H) fed back from the previous step, nothing else per step; the
    loop's own mode does not exclude ``rewrite``."""
    from minigraph.compile.mode import get_mode  # cycle: compile/mode.py imports scan

    try:
        excluded = get_mode(op.mode).exclude
    except ValueError:
        return False
    return (not {rewrite, "scan_gru"} & excluded and op.n_carries == 1 and op.n_ys == 0
            and op.carry_taps == ((-1,),) and op.carry_keep == (True,)
            and op.state_type(0).ndim == 2)


# ---- scan_gru_cell: plain ops -> gru_step ----------------------------------------------------


def _blend(out, h):
    """``(z, n)`` when ``out`` is ``(1 - z) * n + z * h`` or ``n + z * (h - n)``."""
    terms = _terms(out)
    if len(terms) != 2:
        return None
    for a, b in (terms, terms[::-1]):
        pa, pb = _args(a, "mul"), _args(b, "mul")
        if pa and pb and h in pb:
            z = pb[1 - pb.index(h)]
            for one_minus, n in (pa, pa[::-1]):
                if _args(one_minus, "sub") and _is_const(one_minus.owner.inputs[0], 1) \
                        and one_minus.owner.inputs[1] is z:
                    return z, n
        for z, d in (pb, pb[::-1]) if pb else ():
            if _args(d, "sub") == [h, a]:
                return z, a
    return None


def _as_vector(v):
    """A bias term broadcast over the batch: ``b.dimshuffle('x', 0)`` or a vector."""
    if v.ndim == 1:
        return v
    return v.owner.inputs[0] if is_op(v, DimShuffle) and v.owner.op.new_order == (
        "x", 0) else None


def _linear(v, body):
    """``(W, b)`` (b may be None), const-only values, when ``v = dot(h, W) + b``."""
    if is_op(v, Dot):
        x, W = v.owner.inputs
        return (W, None) if x is body.h and W.ndim == 2 and body.const_only(W) else None
    cols = _column_slice(v)
    if cols is not None and v.ndim == 2:  # gh[:, lo:hi] = dot(h, W[:, lo:hi]) + b[lo:hi]
        inner, (_, lo, hi) = _linear(cols[0], body), cols
        return None if inner is None else (
            inner[0][:, lo:hi], None if inner[1] is None else inner[1][lo:hi])
    terms = _terms(v)
    on_h = [t for t in terms if t in body.on_h]
    biases = [_as_vector(t) for t in terms if t not in body.on_h]
    inner = _linear(on_h[0], body) if len(terms) > 1 and len(on_h) == 1 else None
    if inner is None or any(b is None or not body.const_only(b) for b in biases):
        return None
    return inner[0], _sum(biases + ([inner[1]] if inner[1] is not None else []))


def _gate(arg, body, reset=False):
    """``(input term, W, b)`` when ``arg = input + dot(h, W) + b``; with ``reset``,
    ``(r, input term, W, b)`` when ``arg = input + r * (dot(h, W) + b)``."""
    terms = _terms(arg)
    on_h = [t for t in terms if t in body.on_h]
    rest = [t for t in terms if t not in body.on_h]
    if len(on_h) != 1 or not any(t in body.on_seq for t in rest):
        return None  # no input term: gru_step would have no gx to read
    if not reset:
        lin = _linear(on_h[0], body)
        return None if lin is None else (_sum(rest),) + lin
    pair = _args(on_h[0], "mul") or []
    for r, rec in (pair, pair[::-1]) if len(pair) == 2 else ():
        lin = _linear(rec, body)
        if _args(r, "sigmoid") and lin is not None:
            return (r, _sum(rest)) + lin
    return None


def _join_columns(parts):
    """``concatenate(parts)`` along the last axis, or their base when they tile it."""
    cols = [_column_slice(p) for p in parts]
    if all(cols) and all(c[0] is cols[0][0] for c in cols):
        (base, a0, a1), (_, b0, b1), (_, c0, c1) = cols
        if a0 == 0 and a1 == b0 and b1 == c0 and c1 in (None, base.type.shape[-1]):
            return base
    return T.concatenate(parts, axis=parts[0].ndim - 1)


def _merge_dots(parts, body):
    """``dot(x_t, [W_r|W_z|W_n]) + [b_r|b_z|b_n]`` when each part is ``dot(x_t, W_g) + b_g``
    with one ``x_t``: one product a step (one GEMM once hoisted) instead of three."""
    Ws, bs, xs = [], [], set()
    for p in parts:
        terms = _terms(p)
        dots = [t for t in terms if is_op(t, Dot)]
        if len(dots) != 1 or dots[0].owner.inputs[1].ndim != 2 or not body.const_only(
                dots[0].owner.inputs[1]):
            return None
        biases = [_as_vector(t) for t in terms if t is not dots[0]]
        if any(b is None or not body.const_only(b) for b in biases):
            return None
        xs.add(dots[0].owner.inputs[0])
        Ws.append(dots[0].owner.inputs[1])
        bs.append(_sum(biases) if biases else T.zeros_like(Ws[-1][0]))
    return T.dot(xs.pop(), T.concatenate(Ws, axis=1)) + _join_columns(bs) if len(
        xs) == 1 else None


def _cell(op):
    """``(gx, W_h, b_h)`` inner values when the carry's update is a GRU cell, or None."""
    body = _Body(op)
    zn = _blend(op.inner_outputs[0], body.h)
    if zn is None or not _args(zn[0], "sigmoid") or not _args(zn[1], "tanh"):
        return None
    n_gate = _gate(_args(zn[1], "tanh")[0], body, reset=True)
    gates = None if n_gate is None else [_gate(_args(n_gate[0], "sigmoid")[0], body),
                                         _gate(_args(zn[0], "sigmoid")[0], body), n_gate[1:]]
    if gates is None or None in gates:
        return None
    gx = _merge_dots([g[0] for g in gates], body)
    gx = _join_columns([g[0] for g in gates]) if gx is None else gx
    b = [T.zeros_like(W[0]) if b is None else b for _, W, b in gates]
    return gx, _join_columns([g[1] for g in gates]), _join_columns(b)


def _hoist_consts(out, op, consts):
    """The parts of the new body computed from consts alone (joined weights, gate slices)
    become new consts, computed once before the loop; returns ``(out, consts)``."""
    per_step = set(op.seq_placeholders()) | set(op.carry_placeholders()[0])
    repl = {}
    for node in toposort([out], blockers=op.inner_inputs):
        if any(i in per_step for i in node.inputs):
            per_step.update(node.outputs)
            for i in node.inputs:
                if i not in per_step and i.owner is not None and not (  # views of leaves stay
                        is_op(i, DimShuffle) and i.owner.inputs[0].owner is None):
                    repl.setdefault(i, i.type.make_variable(name=f"{i.owner.op} (hoisted)"))
    if not repl:
        return out, consts
    outer = clone_replace(list(repl), dict(consts))
    return clone_replace([out], repl)[0], consts + list(zip(repl.values(), outer))


@node_rewriter([Scan])
def scan_gru_cell(fgraph, node):
    """GRU cell in plain ops in a scan body -> gru_step(gx_t, h, W_h, b_h)"""
    op = node.op
    done = isinstance(getattr(op.inner_outputs[0].owner, "op", None), GRUStep)
    found = _cell(op) if _loop_shape_ok(op, "scan_gru_cell") and not done else None
    if found is None:
        return None
    try:
        new = gru_step(found[0], op.carry_placeholders()[0][0], found[1], found[2])
    except GraphError:  # sizes that cannot be one GRU: the loop stays as written
        return None
    if new.dtype != op.inner_outputs[0].dtype:
        return None
    n, seqs, carries, ys, consts = op.parts(node)
    new, consts = _hoist_consts(new, op, consts)
    new_c, _ = op.rebuild(node, seqs, [carries[0]._replace(output=new)], [], consts)
    _ORIGIN[new_c[0].owner.op] = _ORIGIN.get(op, (op, list(node.inputs)))
    return [new_c[0]]
