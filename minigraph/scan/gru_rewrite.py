"""GRU recognition (``GRU_PASS``): plain-op GRU cells in scan bodies become the fused ops.

Two rewrites, each one identity on a Scan node:

* ``scan_gru_cell``: a body whose carry ``h`` is updated by a GRU cell written with plain
  ops (cuDNN formulation, gates r, z, n) gets ``gru_step(gx_t, h, W_h, b_h)`` instead. The
  gates may come from one concatenated matrix (``gh = dot(h, W_h) + b_h`` sliced per gate)
  or from three separate ones (their columns are joined, once, outside the loop); the
  update may be written ``(1 - z) * n + z * h`` (either order) or ``n + z * (h - n)``;
* ``scan_gru_sequence``: a loop whose body is only a ``gru_step`` becomes one
  ``gru_sequence`` over ``gx`` (the step's input term, computed for all steps at once), and
  every backward loop built from it by ``theano.grad`` becomes one ``GRUSequenceGrad``.

Why a pair: ``grad`` builds the backward loop from the plain-op body before any rewrite
runs, so fusing only the forward loop would leave BPTT in plain ops. Each backward Scan
carries a :data:`~minigraph.scan.grad.GradLink` naming the forward op and the role of each
of its outputs; the second rewrite follows it from the forward node (through the views of
its trace the backward loop reads) and replaces all outputs of both.

Both run on the *unrewritten* inner graph, as their own pass before the other scan
rewrites: those rebuild Scan ops (dropping the links) and hoist parts of the body, and
fusion would hide the cell inside one composite. A loop whose own ``mode`` excludes a
rewrite by name keeps its body. Not recognised (left as a plain loop): several carries,
per-step outputs besides ``h``, taps other than ``-1``, an unbatched (1-d) ``h``, and a
backward loop with ``truncate_gradient``. A recognised loop must run at least one step:
the fused kernels refuse ``T = 0``.
"""

import weakref

from minigraph.graph.basic import Constant, clone_replace, toposort
from minigraph.graph.rewriting import RuleSet, node_rewriter

from .op import Scan

# rewritten Scan op -> (the op it replaced, that node's inputs): a backward loop's link
# names the original op, and its roles index the original node's sequences and consts
_ORIGIN = weakref.WeakKeyDictionary()
_FULL = ("slice", None, None, None)


def _T():
    import minigraph.tensor as T

    return T


# ---- reading the inner graph ----------------------------------------------------------------


def _op_name(v):
    """The scalar op's name of an Elemwise result, the op class name otherwise, or None."""
    node = v.owner
    if node is None:
        return None
    scalar = getattr(node.op, "scalar_op", None)
    return scalar.name if scalar is not None else type(node.op).__name__


def _args(v, name):
    return list(v.owner.inputs) if _op_name(v) == name else None


def _terms(v):
    """The summands of a chain of ``add`` nodes."""
    args = _args(v, "add")
    return [t for a in args for t in _terms(a)] if args else [v]


def _is_const(v, value):
    while _op_name(v) == "DimShuffle":
        v = v.owner.inputs[0]
    return isinstance(v, Constant) and v.data.size == 1 and v.data.reshape(-1)[0] == value


def _column_slice(v):
    """``(base, start, stop)`` when ``v`` is ``base[..., start:stop]`` with constant bounds."""
    node = v.owner
    if _op_name(v) != "Subtensor" or len(node.inputs) != 1:
        return None
    entries = node.op.entries
    if len(entries) != v.ndim or any(e != _FULL for e in entries[:-1]):
        return None
    last = entries[-1]
    if not (isinstance(last, tuple) and last[0] == "slice" and last[3] is None):
        return None
    if any(b is not None and not (isinstance(b, int) and b >= 0) for b in last[1:3]):
        return None
    return node.inputs[0], last[1] or 0, last[2]


class _Body:
    """What the inner values of one Scan depend on: the carry ``h``, the sequences."""

    def __init__(self, op):
        self.op = op
        self.h = op.carry_placeholders()[0][0]
        self.on_h, self.on_seq = {self.h}, set(op.seq_placeholders())
        for node in toposort(op.inner_outputs, blockers=op.inner_inputs):
            for deps in (self.on_h, self.on_seq):
                if any(i in deps for i in node.inputs):
                    deps.update(node.outputs)

    def const_only(self, v):
        return v not in self.on_h and v not in self.on_seq


def _loop_shape_ok(op, rewrite):
    """One carry ``h`` (B, H) fed back from the previous step, nothing else per step."""
    from minigraph.compile.mode import get_mode

    try:
        excluded = get_mode(op.mode).exclude
    except ValueError:
        return False
    if rewrite in excluded or "scan_gru" in excluded:
        return False
    return (op.n_carries == 1 and op.n_ys == 0 and op.carry_taps == ((-1,),)
            and op.carry_keep == (True,) and op.state_type(0).ndim == 2)


# ---- scan_gru_cell: plain ops -> gru_step ---------------------------------------------------


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
    if _op_name(v) == "DimShuffle" and v.owner.op.new_order == ("x", 0):
        return v.owner.inputs[0]
    return None


def _linear(v, body):
    """``(W, b)`` (b may be None) of const-only inner values when ``v = dot(h, W) + b``."""
    T = _T()
    if _op_name(v) == "Dot":
        x, W = v.owner.inputs
        return (W, None) if x is body.h and W.ndim == 2 and body.const_only(W) else None
    cols = _column_slice(v)
    if cols is not None and v.ndim == 2:
        inner = _linear(cols[0], body)
        if inner is None:
            return None
        (W, b), (_, lo, hi) = inner, cols
        return W[:, lo:hi], None if b is None else b[lo:hi]
    terms = _terms(v)
    on_h = [t for t in terms if t in body.on_h]
    if len(terms) < 2 or len(on_h) != 1:
        return None
    inner = _linear(on_h[0], body)
    biases = [_as_vector(t) for t in terms if t is not on_h[0]]
    if inner is None or any(b is None or not body.const_only(b) for b in biases):
        return None
    W, b = inner
    for extra in biases:
        b = extra if b is None else b + extra
    return W, b


def _gate(arg, body):
    """``(input term, W, b)`` of a gate's pre-activation ``input + dot(h, W) + b``."""
    terms = _terms(arg)
    on_h = [t for t in terms if t in body.on_h]
    rest = [t for t in terms if t not in body.on_h]
    lin = _linear(on_h[0], body) if len(on_h) == 1 else None
    if lin is None or not any(t in body.on_seq for t in rest):
        return None
    return (_sum(rest),) + lin


def _reset_gate(arg, body):
    """``(r, input term, W_n, b_n)`` when ``arg = input + r * (dot(h, W_n) + b_n)``."""
    terms = _terms(arg)
    on_h = [t for t in terms if t in body.on_h]
    rest = [t for t in terms if t not in body.on_h]
    pair = _args(on_h[0], "mul") if len(on_h) == 1 else None
    if not pair or not any(t in body.on_seq for t in rest):
        return None
    for r, rec in (pair, pair[::-1]):
        lin = _linear(rec, body)
        if _args(r, "sigmoid") and lin is not None:
            return (r, _sum(rest)) + lin
    return None


def _sum(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _join_columns(parts):
    """``concatenate(parts)`` along the last axis, or their base when they tile it."""
    slices = [_column_slice(p) for p in parts]
    if all(slices) and all(s[0] is slices[0][0] for s in slices):
        base = slices[0][0]
        (_, a0, a1), (_, b0, b1), (_, c0, c1) = slices
        if a0 == 0 and a1 == b0 and b1 == c0 and c1 in (None, base.type.shape[-1]):
            return base
    return _T().concatenate(parts, axis=parts[0].ndim - 1)


def _merge_dots(parts, body):
    """``dot(x_t, [W_r|W_z|W_n]) + [b_r|b_z|b_n]`` when each part is ``dot(x_t, W_g) + b_g``
    with one ``x_t``: one product per step instead of three (one GEMM once hoisted)."""
    T = _T()
    Ws, bs, xs = [], [], set()
    for p in parts:
        terms = _terms(p)
        dots = [t for t in terms if _op_name(t) == "Dot"]
        if len(dots) != 1 or not body.const_only(dots[0].owner.inputs[1]):
            return None
        x, W = dots[0].owner.inputs
        biases = [_as_vector(t) for t in terms if t is not dots[0]]
        if W.ndim != 2 or any(b is None or not body.const_only(b) for b in biases):
            return None
        xs.add(x)
        Ws.append(W)
        bs.append(_sum(biases) if biases else None)
    if len(xs) != 1:
        return None
    out = T.dot(xs.pop(), T.concatenate(Ws, axis=1))
    if any(b is not None for b in bs):
        out = out + _join_columns([T.zeros_like(W[0]) if b is None else b
                                   for b, W in zip(bs, Ws)])
    return out


def _cell(op):
    """``(gx, W_h, b_h)`` inner values when the carry's update is a GRU cell, or None."""
    body = _Body(op)
    zn = _blend(op.inner_outputs[0], body.h)
    if zn is None or not _args(zn[0], "sigmoid") or not _args(zn[1], "tanh"):
        return None
    n_gate = _reset_gate(_args(zn[1], "tanh")[0], body)
    if n_gate is None:
        return None
    r_gate = _gate(_args(n_gate[0], "sigmoid")[0], body)
    z_gate = _gate(_args(zn[0], "sigmoid")[0], body)
    if r_gate is None or z_gate is None:
        return None
    gates = [r_gate, z_gate, n_gate[1:]]
    gx_parts = [g[0] for g in gates]
    gx = _merge_dots(gx_parts, body) or _join_columns(gx_parts)
    W = _join_columns([g[1] for g in gates])
    if all(g[2] is None for g in gates):
        return gx, W, _T().zeros_like(W[0])
    b = _join_columns([_T().zeros_like(g[1][0]) if g[2] is None else g[2] for g in gates])
    return gx, W, b


@node_rewriter([Scan])
def scan_gru_cell(fgraph, node):
    """GRU cell in plain ops in a scan body -> gru_step(gx_t, h, W_h, b_h)"""
    from minigraph.graph.basic import GraphError
    from minigraph.tensor.nnet.gru import GRUStep, gru_step

    op = node.op
    if not _loop_shape_ok(op, "scan_gru_cell") or isinstance(op.inner_outputs[0].owner.op,
                                                               GRUStep):
        return None
    found = _cell(op)
    if found is None:
        return None
    h = op.carry_placeholders()[0][0]
    try:
        new = gru_step(found[0], h, found[1], found[2])
    except GraphError:  # sizes that cannot form a GRU: the loop stays as written
        return None
    if new.dtype != op.inner_outputs[0].dtype:
        return None
    n, seqs, carries, ys, consts = op.parts(node)
    new_c, _ = op.rebuild(node, seqs, [carries[0]._replace(output=new)], [], consts)
    _ORIGIN[new_c[0].owner.op] = (op, list(node.inputs))
    return [new_c[0]]


# ---- scan_gru_sequence: a loop of gru_step -> gru_sequence (and its gradient loops) ---------


def _step_node(op):
    """The body's ``GRUStep`` node, if the carry is its ``h_new`` computed from the carry,
    an input term that does not read it, and const-only weights."""
    from minigraph.tensor.nnet.gru import GRUStep

    out = op.inner_outputs[0]
    node = out.owner
    if node is None or not isinstance(node.op, GRUStep) or out.index != 0:
        return None
    body = _Body(op)
    gx, h, W, b = node.inputs
    if h is not body.h or gx in body.on_h or not (body.const_only(W) and body.const_only(b)):
        return None
    return node


class _Lift:
    """Inner values as outer ones over all steps: a value that depends on a sequence gains
    a leading time axis. Sequences and consts are read from stand-ins, substituted at the
    end, so the gradient of the lifted values can be taken with respect to them."""

    def __init__(self, op):
        from minigraph.graph.type import TensorType

        self.seqs = [TensorType(p.dtype, shape=(None,) + p.type.shape)(p.name)
                     for p in op.seq_placeholders()]
        self.consts = [p.type.make_variable(name=p.name) for p in op.const_placeholders()]
        self.memo = {p: (s, True) for p, s in zip(op.seq_placeholders(), self.seqs)}
        self.memo.update({p: (k, False) for p, k in zip(op.const_placeholders(), self.consts)})

    def __call__(self, v):
        """``(outer value, has a time axis)``, or None for an op it cannot lift."""
        if v in self.memo:
            return self.memo[v]
        if isinstance(v, Constant):
            return v, False
        node = v.owner
        ins = [self(i) for i in node.inputs] if node is not None else [None]
        if any(x is None for x in ins):
            return None
        vals, timed = [x for x, _ in ins], [t for _, t in ins]
        if any(timed):
            out = _lift_timed(node, vals, timed)
        else:
            out = node.op.make_node(*vals).outputs[v.index]
        self.memo[v] = None if out is None else (out, any(timed))
        return self.memo[v]


def _lift_timed(node, vals, timed):
    """One node over all steps: elementwise ops broadcast (time-free inputs are padded on the
    left), views and joins shift their axes by one, ``dot(x_t, W)`` becomes ``dot(X, W)``."""
    from minigraph.tensor.blas import Dot
    from minigraph.tensor.elemwise import DimShuffle, Elemwise
    from minigraph.tensor.shape import Join
    from minigraph.tensor.subtensor import Subtensor

    op = node.op
    if isinstance(op, Elemwise):
        return op(*vals)
    if isinstance(op, DimShuffle):
        order = (0,) + tuple(d if d == "x" else d + 1 for d in op.new_order)
        return DimShuffle(op.input_ndim + 1, order)(vals[0])
    if isinstance(op, Subtensor) and not any(timed[1:]):
        return Subtensor((_FULL,) + tuple(op.entries))(*vals)
    if isinstance(op, Dot) and timed == [True, False]:
        return _T().dot(*vals)
    if isinstance(op, Join) and all(timed):
        return Join(op.axis + 1)(*vals)
    return None


def _entries(v):
    return v.owner.op.entries if _op_name(v) == "Subtensor" and len(v.owner.inputs) == 1 \
        else None


def _gradient_loops(fgraph, node):
    """Backward Scans built from ``node``'s loop (or the loop it was rewritten from) that read
    its trace, with the (op, inputs) their links refer to."""
    origins, op = {}, node.op
    origins[op] = (op, list(node.inputs))
    while op in _ORIGIN:
        origins[_ORIGIN[op][0]] = _ORIGIN[op]
        op = _ORIGIN[op][0]
    found, frontier = [], [node.outputs[0]]
    for _ in range(3):  # the trace is read through a cut and a reversal
        views = []
        for v in frontier:
            for client, _i in fgraph.clients.get(v, ()):
                if client == "output":
                    continue
                link = getattr(client.op, "grad_link", None)
                if link is not None and link.forward in origins and all(
                        client is not f for f, _ in found):
                    found.append((client, origins[link.forward]))
                elif _op_name(client.outputs[0]) == "Subtensor":
                    views.append(client.outputs[0])
        frontier = views
    return found


def _unreverse(v):
    return v.owner.inputs[0] if _entries(v) == (("slice", None, None, -1),) else v[::-1]


def _is_zeros_like(v, of):
    args = _args(v, "second")
    return args is not None and args[0] is of and _is_const(args[1], 0)


def _trace_grad(dhs, trace, n):
    """``(g, buffer)`` when ``dhs`` is ``buffer[1:n + 1]`` of the gradient of the forward
    loop's trace (``n + 1`` rows), ``buffer = inc_subtensor(zeros_like(trace)[1:], g)``: the
    rows read are exactly ``g``, no buffer needed. Otherwise ``(dhs, None)``."""
    node = dhs.owner
    if _op_name(dhs) != "Subtensor" or node.op.entries != (("slice", 1, "in", None),):
        return dhs, None
    buf, stop = node.inputs
    if _op_name(buf) != "IncSubtensor" or not _args(stop, "add") or n not in _args(stop, "add") \
            or not any(_is_const(a, 1) for a in _args(stop, "add")):
        return dhs, None
    x, g = buf.owner.inputs[:2]
    if buf.owner.op.entries != (("slice", 1, None, None),) or not _is_zeros_like(x, trace) \
            or g.ndim != 3 or 1 in g.type.shape:  # a broadcast g would fill more rows
        return dhs, None
    return g, buf


def _is_length(n, seq):
    """Whether ``n`` is ``seq.shape[0]`` (the loop reads all of ``seq``)."""
    length = n.owner.inputs[0] if _entries(n) == (0,) else None
    return length is not None and _op_name(length) == "Shape" and length.owner.inputs[0] is seq


def _whole_sequence_sets(fgraph, y, seq, n):
    """Outputs ``set_subtensor(zeros_like(seq)[:n], y[::-1])`` where ``n = seq.shape[0]``:
    the gradient of a sequence the loop reads whole, which is ``y[::-1]`` itself."""
    if not _is_length(n, seq):
        return []
    found = []
    for rev, _i in fgraph.clients.get(y, ()):
        if rev == "output" or _entries(rev.outputs[0]) != (("slice", None, None, -1),):
            continue
        for full, _j in fgraph.clients.get(rev.outputs[0], ()):
            if full != "output" and _op_name(full.outputs[0]) == "IncSubtensor" \
                    and full.op.set_instead_of_inc and full.inputs[1:] == [rev.outputs[0], n] \
                    and full.op.entries == (("slice", None, "in", None),) \
                    and _is_zeros_like(full.inputs[0], seq):
                found.append(full.outputs[0])
    return found


class _Sequence:
    """The fused forward op built for one loop, and the gradients of its backward loops."""

    def __init__(self, node, step):
        from minigraph.tensor.nnet.gru import GRUSequence

        self.node, self.op, self.step = node, node.op, step
        self.lift = _Lift(node.op)
        lifted = [self.lift(v) for v in (step.inputs[0], step.inputs[2], step.inputs[3])]
        self.ok = None not in lifted and lifted[0][1] and not (lifted[1][1] or lifted[2][1])
        if not self.ok or lifted[0][0].ndim != 3:
            self.ok = False
            return
        self.GX, self.W, self.b = [v for v, _ in lifted]
        n, seqs, inits, consts = node.op.split_inputs(node.inputs)
        self.n, self.h0 = n, inits[0]
        self.outer = {s: o if _is_length(n, o) else o[:n] for s, o in zip(self.lift.seqs, seqs)}
        self.outer.update(zip(self.lift.consts, consts))
        self.stand_in = {o: s for s, o in zip(self.lift.seqs, seqs)}
        self.stand_in.update({o: k for k, o in zip(self.lift.consts, consts)})
        self.unique = len(self.stand_in) == len(self.outer)
        self.fwd = GRUSequence(step.op.backend)(self.GX, self.h0, self.W, self.b)

    def backward(self, fgraph, back, origin):
        """``{output of the backward loop: its value}``, or None when it cannot be mapped."""
        from minigraph.gradient import grad
        from minigraph.tensor.nnet.gru import GRUSequenceGrad

        T, link = _T(), back.op.grad_link
        o_op, o_inputs = origin
        _, o_seqs, _, o_consts = o_op.split_inputs(o_inputs)
        if not self.unique or len(set(o_seqs)) + len(set(o_consts)) != len(o_seqs) + len(
                o_consts) or back.inputs[0] is not self.n or o_op.truncate_gradient not in (
                -1, None) or any(k != 0 for k in link.douts.values()):
            return None
        hs, R, Z, N, GHN = self.fwd
        dhs, buf = T.zeros_like(hs), None
        for ph, v in zip(back.op.seq_placeholders(), back.op.split_inputs(back.inputs)[1]):
            if ph in link.douts:
                dhs, buf = _trace_grad(_unreverse(v), self.node.outputs[0], self.n)
        dGX, dh0, dW, db = GRUSequenceGrad(self.step.op.backend)(dhs, self.h0, hs, self.W, R,
                                                                 Z, N, GHN)
        wrt = self.lift.seqs + self.lift.consts
        by = dict(zip(wrt, grad(None, wrt, known_grads={self.GX: dGX, self.W: dW, self.b: db},
                                disconnected_inputs="ignore", return_disconnected="none")))
        out, nc = {}, back.op.n_carries
        for v, (kind, k) in zip(back.outputs[:nc], link.carries):
            if kind == "adjoint":
                out[v] = dh0
            else:
                g = by.get(self.stand_in.get(o_consts[k]))
                out[v] = T.zeros_like(o_consts[k]) if g is None else g
        for v, i in zip(back.outputs[nc:], link.ys):
            g = by.get(self.stand_in.get(o_seqs[i]))
            g = T.zeros_like(o_seqs[i][: self.n]) if g is None else g
            out[v] = g[::-1]
            for full in _whole_sequence_sets(fgraph, v, o_seqs[i], self.n):
                out[full] = g
        if buf is not None:  # its first row, the initial value's share, is zero
            for client, _i in fgraph.clients.get(buf, ()):
                if client != "output" and _entries(client.outputs[0]) == (0,):
                    out[client.outputs[0]] = T.zeros_like(self.h0)
        return {v: T.cast(g, v.dtype) for v, g in out.items()}, dhs


@node_rewriter([Scan])
def scan_gru_sequence(fgraph, node):
    """scan of h = gru_step(gx_t, h, W, b) -> gru_sequence(gx, h0, W, b); its BPTT loops ->
    GRUSequenceGrad"""
    T = _T()
    if not _loop_shape_ok(node.op, "scan_gru_sequence"):
        return None
    step = _step_node(node.op)
    seq = _Sequence(node, step) if step is not None else None
    if seq is None or not seq.ok:
        return None
    hs = seq.fwd[0]
    out = {node.outputs[0]: T.concatenate([T.shape_padleft(seq.h0), hs])}
    for client, _i in fgraph.clients.get(node.outputs[0], ()):
        if client != "output" and _entries(client.outputs[0]) == (("slice", 1, None, None),):
            out[client.outputs[0]] = hs  # the builder's view without the initial value
    keep = [seq.h0, seq.n]
    for back, origin in _gradient_loops(fgraph, node):
        found = seq.backward(fgraph, back, origin)
        if found is not None:
            out.update(found[0])
            keep.append(found[1])
    sub = dict(seq.outer)
    sub.update({v: v for v in keep})  # shared, not copied: the walk stops there
    olds = list(out)
    return dict(zip(olds, clone_replace([out[o] for o in olds], sub)))


GRU_PASS = RuleSet("scan_gru", [scan_gru_cell, scan_gru_sequence])
