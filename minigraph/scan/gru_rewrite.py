"""GRU loops (``GRU_PASS``, ``scan_gru``): a scan over ``gru_step`` becomes the fused sequence
ops, forward and BPTT.

``scan_gru_sequence``: a loop whose body is only ``gru_step(gx_t, h, W_h, b_h)`` (the fused
step op, ``minigraph/tensor/nnet/gru.py``) becomes ``gru_sequence`` over ``gx`` (the step's
input term computed for all steps at once), and each backward loop ``theano.grad`` built
from it becomes ``GRUSequenceGrad``.

Why a pair: ``grad`` differentiates the body before any rewrite runs, so fusing the forward
loop alone would leave BPTT a loop of ``GRUStepGrad``. Each backward Scan carries a
:data:`~minigraph.scan.grad.GradLink` (its forward op, the role of each of its outputs);
the rewrite finds the backward loops reading the forward trace and replaces the outputs of
both. It reads the body as written, so it runs as its own pass before the other scan
rewrites (which rebuild Scan ops without links and hoist parts of the body). A loop whose
own ``mode`` excludes it keeps its body.

A GRU written in plain ops is not matched: the loop compiler (``minigraph/codegen/``) runs
it as any other cell, as fast as the fused kernels (``benchmarks/custom_cell.py``'s /fused
column: 0.85-0.99x their step time at H256/B64 and H512/B200, 2 threads; an earlier pass
recognising the cuDNN cell in plain ops was removed once it had become the slower path).

Left as plain loops: several carries or per-step outputs, taps other than ``-1``, a 1-d
``h``, a step input that reads the carry; a backward loop with ``truncate_gradient`` stays
a loop (its forward loop is still fused). A fused loop must run at least one step: the
kernels refuse ``T = 0``.
"""

import minigraph.tensor as T
from minigraph.gradient import grad
from minigraph.graph.basic import Constant, clone_replace, toposort
from minigraph.graph.rewriting import RuleSet, is_op, node_rewriter
from minigraph.graph.type import TensorType
from minigraph.tensor.blas import Dot
from minigraph.tensor.elemwise import DimShuffle, Elemwise
from minigraph.tensor.nnet.gru import GRUSequence, GRUSequenceGrad, GRUStep
from minigraph.tensor.shape import Join, Shape
from minigraph.tensor.subtensor import IncSubtensor, Subtensor

from .op import Scan

_FULL, _REVERSED = ("slice", None, None, None), (("slice", None, None, -1),)


# ---- reading graphs --------------------------------------------------------------------------


def _args(v, op):
    """The inputs of ``v`` if ``op`` computes it (a scalar op's name or an op class)."""
    return list(v.owner.inputs) if is_op(v, op) else None


def _is_const(v, value):
    while is_op(v, DimShuffle):
        v = v.owner.inputs[0]
    return isinstance(v, Constant) and v.data.size == 1 and v.data.reshape(-1)[0] == value


def _entries(v):
    """The index of a Subtensor with constant bounds, else None."""
    ok = is_op(v, Subtensor) and len(v.owner.inputs) == 1
    return tuple(v.owner.op.entries) if ok else None


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


# ---- scan_gru_sequence: a loop of gru_step -> gru_sequence, its BPTT loops -> the fused grad --


def _step_node(op):
    """The body's GRUStep node when the carry is its ``h_new`` from the carry, an input term
    that does not read the carry, and const-only weights; else None."""
    out, body = op.inner_outputs[0], _Body(op)
    if out.owner is None or not isinstance(out.owner.op, GRUStep) or out.index != 0:
        return None
    gx, h, W, b = out.owner.inputs
    ok = h is body.h and gx not in body.on_h and body.const_only(W) and body.const_only(b)
    return out.owner if ok else None


def _lift(v, memo):
    """``(outer value over all steps, has a time axis)`` of the inner value ``v`` (values that
    depend on a sequence gain a leading time axis), or None for an op that cannot be lifted;
    ``memo`` starts with the placeholders' stand-ins."""
    if v in memo or isinstance(v, Constant):
        return memo.get(v, (v, False))
    ins = [_lift(i, memo) for i in v.owner.inputs] if v.owner is not None else [None]
    if None in ins:
        return None
    vals, timed = [x for x, _ in ins], [t for _, t in ins]
    out = _lift_timed(v.owner, vals, timed) if any(timed) else \
        v.owner.op.make_node(*vals).outputs[v.index]
    memo[v] = None if out is None else (out, any(timed))
    return memo[v]


def _lift_timed(node, vals, timed):
    """One node over all steps: elementwise ops broadcast (time-free inputs are padded on the
    left), views and joins shift their axes by one, ``dot(x_t, W)`` becomes ``dot(X, W)``."""
    op = node.op
    if isinstance(op, Elemwise):
        return op(*vals)
    if isinstance(op, DimShuffle):
        order = (0,) + tuple(d if d == "x" else d + 1 for d in op.new_order)
        return DimShuffle(op.input_ndim + 1, order)(vals[0])
    if isinstance(op, Subtensor) and not any(timed[1:]):
        return Subtensor((_FULL,) + tuple(op.entries))(*vals)
    if isinstance(op, Dot) and timed == [True, False]:
        return T.dot(*vals)
    if isinstance(op, Join) and all(timed):
        return Join(op.axis + 1)(*vals)
    return None


def _backward_loops(fgraph, node, root_op):
    """Backward Scans linked to ``root_op`` that read ``node``'s trace (through views)."""
    found, frontier = [], [node.outputs[0]]
    for _ in range(3):  # the trace is read through a cut and a reversal
        views = []
        for v in frontier:
            for client, _i in fgraph.clients.get(v, ()):
                if client == "output" or client in found:
                    continue
                link = getattr(client.op, "grad_link", None)
                if link is not None and link.forward is root_op:
                    found.append(client)
                elif is_op(client.outputs[0], Subtensor):
                    views.append(client.outputs[0])
        frontier = views
    return found


def _is_zeros_like(v, of):
    args = _args(v, "second")
    return args is not None and args[0] is of and _is_const(args[1], 0)


def _is_length(n, seq):
    """Whether ``n`` is ``seq.shape[0]`` (the loop reads all of ``seq``)."""
    shape = n.owner.inputs[0] if _entries(n) == (0,) else None
    return shape is not None and is_op(shape, Shape) and shape.owner.inputs[0] is seq


def _trace_grad(dhs, trace, n):
    """``(g, buffer)`` when ``dhs`` is ``buffer[1:n + 1]``, ``buffer`` the gradient of the
    forward trace (``n + 1`` rows) ``inc_subtensor(zeros_like(trace)[1:], g)``: those rows
    are ``g`` itself, and no buffer is needed. Otherwise ``(dhs, None)``."""
    if not is_op(dhs, Subtensor) or dhs.owner.op.entries != (("slice", 1, "in", None),):
        return dhs, None
    buf, stop = dhs.owner.inputs
    if not is_op(buf, IncSubtensor) or n not in (_args(stop, "add") or ()) or not any(
            _is_const(a, 1) for a in _args(stop, "add")):
        return dhs, None
    x, g = buf.owner.inputs[:2]
    if buf.owner.op.entries != (("slice", 1, None, None),) or not _is_zeros_like(x, trace) \
            or g.ndim != 3 or 1 in g.type.shape:  # a broadcast g would fill more rows
        return dhs, None
    return g, buf


def _whole_sequence_sets(fgraph, y, seq, n):
    """Outputs ``set_subtensor(zeros_like(seq)[:n], y[::-1])`` with ``n = seq.shape[0]``:
    the gradient of a sequence the loop reads whole, which is ``y[::-1]`` itself."""
    found = []
    for rev, _i in fgraph.clients.get(y, ()) if _is_length(n, seq) else ():
        if rev == "output" or _entries(rev.outputs[0]) != _REVERSED:
            continue
        for full, _j in fgraph.clients.get(rev.outputs[0], ()):
            if full != "output" and is_op(full.outputs[0], IncSubtensor) \
                    and full.op.set_instead_of_inc and full.inputs[1:] == [rev.outputs[0], n] \
                    and full.op.entries == (("slice", None, "in", None),) \
                    and _is_zeros_like(full.inputs[0], seq):
                found.append(full.outputs[0])
    return found


class _Sequence:
    """The fused forward op for one loop node, and the gradients of its backward loops.

    Everything is built on stand-ins for the loop's sequences and for the consts of the
    loop as ``theano.grad`` saw it (those the links name), substituted at the end; the
    gradients of the backward loops are taken with respect to them."""

    def __init__(self, node, step):
        op, self.node, self.backend = node.op, node, step.op.backend
        self.root_op = op
        _, self.o_seqs, _, self.o_consts = op.split_inputs(node.inputs)
        self.n, seqs, inits, consts = op.split_inputs(node.inputs)
        self.h0 = inits[0]
        S = [TensorType(p.dtype, shape=(None,) + p.type.shape)(p.name)
             for p in op.seq_placeholders()]
        self.stand_in = dict(zip(seqs, S))
        self.stand_in.update({o: o.type.make_variable(name=o.name) for o in self.o_consts})
        self.unique = len(self.stand_in) == len(seqs) + len(self.o_consts)
        self.outer = {s: o if _is_length(self.n, o) else o[:self.n] for o, s in zip(seqs, S)}
        self.outer.update({self.stand_in[o]: o for o in self.o_consts})
        memo = {p: (s, True) for p, s in zip(op.seq_placeholders(), S)}
        k_of = {o: self.stand_in[o] for o in self.o_consts}
        memo.update((p, (k, False)) for p, k in zip(op.const_placeholders(),
                                                    clone_replace(list(consts), k_of)))
        lifted = [_lift(v, memo) for v in (step.inputs[0], step.inputs[2], step.inputs[3])]
        self.ok = None not in lifted and [t for _, t in lifted] == [True, False, False] \
            and lifted[0][0].ndim == 3
        if self.ok:
            self.GX, self.W, self.b = [v for v, _ in lifted]
            self.fwd = GRUSequence(self.backend)(self.GX, self.h0, self.W, self.b)

    def backward(self, fgraph, back):
        """``({output of the backward loop: value}, dhs)``, or None when it cannot be mapped."""
        link = back.op.grad_link
        if not self.unique or back.inputs[0] is not self.n or self.root_op.truncate_gradient \
                not in (-1, None) or set(link.douts.values()) - {0}:
            return None
        hs, RZN, GHN = self.fwd
        dhs, buf = T.zeros_like(hs), None
        for ph, v in zip(back.op.seq_placeholders(), back.op.split_inputs(back.inputs)[1]):
            if ph in link.douts:
                v = v.owner.inputs[0] if _entries(v) == _REVERSED else v[::-1]
                dhs, buf = _trace_grad(v, self.node.outputs[0], self.n)
        dGX, dh0, dW, db = GRUSequenceGrad(self.backend)(dhs, self.h0, hs, self.W, RZN, GHN)
        wrt = list(self.stand_in.values())
        by = dict(zip(wrt, grad(None, wrt, known_grads={self.GX: dGX, self.W: dW, self.b: db},
                                disconnected_inputs="ignore", return_disconnected="none")))
        out, nc = {}, back.op.n_carries
        for v, (kind, k) in zip(back.outputs[:nc], link.carries):
            g = by.get(self.stand_in.get(self.o_consts[k])) if kind == "const" else dh0
            out[v] = T.zeros_like(self.o_consts[k]) if g is None else g
        for v, i in zip(back.outputs[nc:], link.ys):
            seq = self.o_seqs[i]
            g = by.get(self.stand_in.get(seq))
            g = T.zeros_like(seq[:self.n]) if g is None else g
            out[v] = g[::-1]
            out.update((full, g) for full in _whole_sequence_sets(fgraph, v, seq, self.n))
        for client, _i in fgraph.clients.get(buf, ()) if buf is not None else ():
            if client != "output" and _entries(client.outputs[0]) == (0,):
                out[client.outputs[0]] = T.zeros_like(self.h0)  # h0's row: never incremented
        return {v: T.cast(g, v.dtype) for v, g in out.items()}, dhs


@node_rewriter([Scan])
def scan_gru_sequence(fgraph, node):
    """scan of gru_step -> gru_sequence; its BPTT loops -> GRUSequenceGrad"""
    step = _step_node(node.op) if _loop_shape_ok(node.op, "scan_gru_sequence") else None
    seq = _Sequence(node, step) if step is not None else None
    if seq is None or not seq.ok:
        return None
    hs = seq.fwd[0]
    out = {node.outputs[0]: T.concatenate([T.shape_padleft(seq.h0), hs])}
    for client, _i in fgraph.clients.get(node.outputs[0], ()):
        if client != "output" and _entries(client.outputs[0]) == (("slice", 1, None, None),):
            out[client.outputs[0]] = hs  # the builder's view without the initial value
    keep = {seq.h0: seq.h0, seq.n: seq.n}  # identities: the rebuild walk stops there
    for back in _backward_loops(fgraph, node, seq.root_op):
        found = seq.backward(fgraph, back)
        if found is not None:
            out.update(found[0])
            keep[found[1]] = found[1]
    olds = list(out)
    return dict(zip(olds, clone_replace([out[o] for o in olds], {**seq.outer, **keep})))


GRU_PASS = RuleSet("scan_gru", [scan_gru_sequence])
