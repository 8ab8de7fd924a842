"""Back-propagation through time: the gradient of a Scan is another Scan, run backwards.

For the forward loop ``carry_t = f(x_t, carry_{t-1}, consts)`` the backward loop walks the
steps in reverse. At step ``t`` it knows the adjoint of ``carry_t`` (the output's own
gradient at ``t`` plus what later steps sent back) and asks the general
:func:`minigraph.gradient.grad` for the vector-Jacobian product of one step::

    for t in reversed(range(n_steps)):
        a = g_trace[t] + q                        # adjoint of carry_t
        gx[t], q, gk = vjp(f, x[t], carry[t - 1], consts)(a, g_ys[t])
        acc = acc + gk                            # consts: summed over the steps
    return gx, q (the initial carry's gradient), acc

The step is differentiated once, symbolically, on a copy of the forward inner graph; the
backward loop is built with the same :func:`~minigraph.scan.op.make_scan` as the forward
one and iterates over reversed views of the forward traces. From the forward pass it keeps
only the carry traces (and the per-step outputs, whose values some gradients reuse):
the values of the step that the gradient reads (``tanh``'s gradient reads ``tanh(x)``, a
product's gradient its other factor) are stored by the forward loop as extra per-step
outputs and read back, so the backward step runs no forward arithmetic (no second product
with the carried state); only views of the step's inputs (slices, transposes) and values
of the consts alone are recomputed. The forward loop that stores them is a twin of the
user's loop (the same inner graph with more outputs, every carry traced); the
``scan_merge_twin`` rewrite (:mod:`minigraph.scan.rewrites`) then computes the user's
outputs from the twin, so the loop runs once. Values drawn from random generators inside
the step are stored by it rather than redrawn; with ``SAVE_STEP_VALUES`` off, the backward
step recomputes the rest (only the step's own results are read from the traces).
Multi-tap carries send their adjoint back through a window of the last ``L`` adjoints.
``truncate_gradient=k`` runs the backward loop over the last ``k`` steps only.
"""

from collections import namedtuple

import numpy as np

import minigraph.tensor as T
from minigraph.gradient import grad
from minigraph.graph.basic import Constant, ancestors, clone_replace, toposort
from minigraph.graph.rewriting import is_op
from minigraph.graph.type import TensorType
from minigraph.tensor.elemwise import DimShuffle
from minigraph.tensor.shape import Shape

from .op import Carry, Scan, make_scan
from .stepgraph import clone_with_memo, is_view, join_slice_grads

#: Kept on a backward Scan op as ``op.grad_link`` so a compile-time rewrite can replace a
#: forward loop and its gradient together (the GRU rewrite): the forward op; per backward
#: carry, ``("adjoint", forward carry)`` or ``("const", forward const index)``; per backward
#: y, the forward sequence index; ``{backward sequence placeholder: forward output index}``
#: for the per-step gradients of the forward outputs the loop reads.
GradLink = namedtuple("GradLink", "forward carries ys douts")

#: Store the step values the backward step reads (True) or recompute them there (False):
#: storing costs one copy per value and step and their memory, recomputing repeats the step's
#: arithmetic, its products with the carried state included.
SAVE_STEP_VALUES = True


def _is_float(v):
    return isinstance(v.type, TensorType) and np.dtype(v.type.dtype).kind in "fc"


def _is_zero(g):
    """True for a missing gradient or the ``zeros_like`` that ``grad`` puts for one: its
    zero may reach ``second`` through a DimShuffle (a 0-d zero broadcast to the rank of a
    scan's unused trace), which left the gradient loop reading a sequence of zeros."""
    if g is None:
        return True
    if is_op(g, "second"):
        g = g.owner.inputs[1]
    while is_op(g, DimShuffle):
        g = g.owner.inputs[0]
    return isinstance(g, Constant) and not np.any(g.data)


def _conform(g, ttype):
    """``g`` with the dtype and static shape of ``ttype`` (shape checked at run time)."""
    if g.dtype != ttype.dtype:
        g = T.cast(g, ttype.dtype)
    if not ttype.is_super(g.type):
        g = T.specify_shape(g, ttype.shape)
    return g


def _saved_values(op):
    """Tensor values the step computes from non-tensor inputs (random draws): stored, not
    recomputed, because the backward loop has no trace of a generator."""
    saved = []
    for node in toposort(op.inner_outputs, blockers=op.inner_inputs):
        if any(not isinstance(i.type, TensorType) for i in node.inputs):
            saved.extend(o for o in node.outputs if isinstance(o.type, TensorType))
    return saved


def _forward(op, inputs, outputs, stored=()):
    """(carry buffers, ys, saved values, saved inner variables) with every trace kept:
    random draws first, then the inner variables ``stored``."""
    nc = op.n_carries
    saved = _saved_values(op)
    saved += [v for v in stored if v not in saved]
    tensor = [isinstance(op.state_type(c), TensorType) for c in range(nc)]
    if not saved and all(k or not t for k, t in zip(op.carry_keep, tensor)):
        return outputs[:nc], outputs[nc:], [], []
    twin = Scan(op.inner_inputs, op.inner_outputs + saved, op.n_seqs, op.carry_taps, tensor,
                op.n_consts, op.labels + tuple(f"saved {i}" for i in range(len(saved))),
                op.name, op.truncate_gradient, op.mode)
    twin.twin_of = op  # scan_merge_twin: the user's outputs come from this loop
    outs = twin.make_node(*inputs).outputs
    n_ys = op.n_ys
    return outs[:nc], outs[nc: nc + n_ys], outs[nc + n_ys:], saved


class _Backward:
    """Builds the backward loop of one Scan node."""

    def __init__(self, op, inputs, outputs, output_grads, stored=None):
        self.storing = stored is not None  # the step's values are stored (SAVE_STEP_VALUES)
        stored = stored or ()
        self.op, self.T = op, T
        self.n_steps, self.seqs, self.inits, self.consts = op.split_inputs(inputs)
        nc = op.n_carries
        self.bufs, self.ys, saved_outs, saved = _forward(op, inputs, outputs, stored)
        k = op.truncate_gradient
        self.n = self.n_steps if k is None or k < 0 else T.minimum(self.n_steps, k)
        self.start = self.n_steps - self.n if k is not None and k >= 0 else 0
        self.truncated = k is not None and k >= 0
        self.sequences = []  # (placeholder, outer) pairs of the backward loop
        self.douts, self.roles = {}, []  # for the GradLink
        self.diff = [c for c in range(nc) if _is_float(self.inits[c])]
        self.g_bufs = {c: self._buffer_grad(c, output_grads[c]) for c in self.diff}
        self.g_ys = {j: g for j, g in enumerate(output_grads[nc:])
                     if _is_float(op.inner_outputs[nc + j]) and not _is_zero(g)}
        self.repl = {}
        for ph in op.inner_inputs:
            self.repl[ph] = ph.type.make_variable(name=ph.name)
        self.stored = {}  # inner variable -> its stored values (outer, reversed)
        for var, outer in zip(saved, saved_outs):
            if var in stored:
                self.stored[var] = self._rev(outer)
            else:  # a random draw: never recomputed, not even to differentiate
                self.repl[var] = self._seq(var.type, self._rev(outer), var.name)
        self.memo = {}

    # views of the forward values, reversed and cut to the steps back-propagated through
    def _rev(self, x, offset=0):
        lo = (offset or None) if isinstance(self.start, int) else self.start + offset
        return x[lo: self.n_steps + offset][::-1]

    def _seq(self, ttype, outer, name=None):
        ph = ttype.make_variable(name=name)
        self.sequences.append((ph, outer))
        return ph

    def _buffer_grad(self, c, g):
        """The gradient of carry ``c``'s buffer ``(L + n_steps, ...)``, or None if zero."""
        op, T = self.op, self.T
        if _is_zero(g):
            return None
        if op.carry_keep[c]:
            return g
        zeros = T.zeros_like(self.bufs[c])  # a final window: the buffer's last rows
        tail = zeros[-1] if op.carry_taps[c] == (-1,) else zeros[-op.windows[c]:]
        return T.inc_subtensor(tail, g)

    def step(self):
        """The backward step: its carries (adjoints, sums for the consts) and
        ``{forward placeholder: its gradient in the step}``."""
        op, repl = self.op, self.repl
        nc = op.n_carries
        for i, ph in enumerate(op.seq_placeholders()):
            self.sequences.append((repl[ph], self._rev(self.seqs[i])))
        for c, phs in enumerate(op.carry_placeholders()):
            if isinstance(op.state_type(c), TensorType):
                L = op.windows[c]
                for k, ph in zip(op.carry_taps[c], phs):
                    self.sequences.append((repl[ph], self._rev(self.bufs[c], L + k)))
        needed = [c for c in self.diff] + [nc + j for j in self.g_ys]
        fwd = dict(zip(needed, clone_with_memo([op.inner_outputs[i] for i in needed], repl,
                                               self.memo)))
        qs = {c: op.init_type(c).make_variable(name=f"adjoint {op.labels[c]}")
              for c in self.diff}
        known = {}
        for c in self.diff:
            a = qs[c] if op.carry_taps[c] == (-1,) else qs[c][op.windows[c] - 1]
            if self.g_bufs[c] is not None:
                L = op.windows[c]
                d = self._seq(op.state_type(c), self._rev(self.g_bufs[c], L),
                              f"d {op.labels[c]}[t]")
                self.douts[d] = c
                a = a + d
            _add(known, fwd[c], a)
        for j, g in self.g_ys.items():
            d = self._seq(op.inner_outputs[nc + j].type, self._rev(g),
                          f"d {op.labels[nc + j]}[t]")
            self.douts[d] = nc + j
            _add(known, fwd[nc + j], d)
        wrt = self._wrt()
        grads = grad(None, [repl[w] for w in wrt], known_grads=known,
                     disconnected_inputs="ignore", return_disconnected="none") if known else \
            [None] * len(wrt)
        if self.storing:
            grads = join_slice_grads(grads)
        self.reused = self._shapes_only(self._reuse_forward(grads, fwd))
        grads = dict(zip(wrt, self._read_stored(self.reused)))
        return self._new_carries(qs, grads), grads

    def _clones(self):
        """{recomputed step value in the backward graph: the forward inner variable}."""
        return {new: old for old, new in self.memo.items()
                if old is not new and old not in self.repl and old.owner is not None}

    def _shapes_only(self, grads):
        """``second(v, z)`` (``zeros_like(v)``) of a recomputed step value ``v`` as an
        ``alloc`` of ``v``'s shape: the shape alone is then stored, not ``v``."""
        T, clones = self.T, self._clones()
        present = [g for g in grads if g is not None]
        sub = {}
        for node in toposort(present):
            out = node.outputs[0]
            if is_op(out, "second") and node.inputs[0] in clones and all(
                    node.inputs[1].type.broadcastable) and out.ndim == node.inputs[0].ndim:
                shp = T.shape(node.inputs[0])
                new = T.alloc(T.cast(node.inputs[1], out.dtype),
                              *[shp[i] for i in range(out.ndim)])
                sub[out] = new if new.type == out.type else T.specify_shape(new, out.type.shape)
        if not sub:
            return grads
        new = iter(clone_replace(present, sub))
        return [None if g is None else next(new) for g in grads]

    def step_reads(self):
        """The inner variables of the forward step whose values the gradient of the step
        reads (after :meth:`step`), views of the step's inputs left out; where only the
        shape of a value is read, ``shape(value)``."""
        T, clones = self.T, self._clones()
        present = [g for g in self.reused if g is not None]
        reads = [g for g in present if g in clones]
        for node in toposort(present):
            if any(o in clones for o in node.outputs):  # a recomputed step node
                continue
            if is_op(node.outputs[0], Shape) and node.inputs[0] in clones:
                reads.append(("shape", node.inputs[0]))
            else:
                reads.extend(i for i in node.inputs if i in clones)
        out, shapes = [], {}
        for v in reads:
            shape = isinstance(v, tuple)
            old = clones[v[1] if shape else v]
            if not isinstance(old.type, TensorType) or is_view(old):
                continue
            if shape and old not in shapes:
                shapes[old] = T.shape(old)
                out.append(shapes[old])
            elif not shape and old not in out:
                out.append(old)
        return _recomputed_cheaply(self.op, out)

    def _read_stored(self, grads):
        """The stored values (and shapes) in place of the step's recomputed ones."""
        present = [g for g in grads if g is not None]
        phs = {v: v.type.make_variable(name=f"{v.name or 'step value'} (stored)")
               for v in self.stored}
        sub = {self.memo[v]: ph for v, ph in phs.items() if v in self.memo}
        shape_of = {self.memo[v.owner.inputs[0]]: ph for v, ph in phs.items()
                    if is_op(v, Shape) and v.owner.inputs[0] in self.memo}
        for node in toposort(present):  # the shapes the gradient reads
            if is_op(node.outputs[0], Shape) and node.inputs[0] in shape_of:
                sub[node.outputs[0]] = shape_of[node.inputs[0]]
        if not sub or not present:
            return grads
        new = clone_replace(present, sub)
        used = set(ancestors(new))
        for v, ph in phs.items():
            if ph in used:
                self.sequences.append((ph, self.stored[v]))
        new = iter(new)
        return [None if g is None else next(new) for g in grads]

    def _wrt(self):
        op = self.op
        wrt = [ph for ph in op.seq_placeholders() if _is_float(ph)]
        for c in self.diff:
            wrt.extend(op.carry_placeholders()[c])
        return wrt + [ph for ph in op.const_placeholders() if _is_float(ph)]

    def _reuse_forward(self, grads, fwd):
        """Read the step's results from the forward traces instead of recomputing them.

        Only where the gradient does not also read the inputs of the node computing the
        result: ``maximum(x, 0)``'s gradient compares its output with ``x``, and a stored
        output compared with a recomputed ``x`` may differ in the last bit. When the step's
        values are stored (``self.storing``), ``x`` is stored too: no such condition.
        """
        op, nc = self.op, self.op.n_carries
        inner_in = set(self.repl.values())
        present = [g for g in grads if g is not None]
        candidates = {var: i for i, var in fwd.items()
                      if var not in inner_in and not isinstance(var, Constant)}
        while True:
            sub = {var: var.type.make_variable() for var in candidates}
            memo = {}
            new = clone_with_memo(present, sub, memo) if sub else present
            used = set(ancestors(new))
            unsafe = [] if self.storing else [v for v in candidates
                      if any(i in used and i not in inner_in and not isinstance(i, Constant)
                             for i in v.owner.inputs)]
            if not unsafe:
                break
            for v in unsafe:
                del candidates[v]
        for var, ph in sub.items():
            if ph not in used:
                continue
            i = candidates[var]
            outer = self._rev(self.bufs[i], op.windows[i]) if i < nc else \
                self._rev(self.ys[i - nc])
            ph.name = f"{var.name or 'result'} (stored)"
            self.sequences.append((ph, outer))
        stored = set(sub.values())  # the step's values now in terms of the new graph
        self.memo = {v: memo.get(c, c) for v, c in self.memo.items()
                     if memo.get(c, c) not in stored}
        new = iter(new)
        return [None if g is None else next(new) for g in grads]

    def _new_carries(self, qs, grads):
        op, T = self.op, self.T
        carries = []
        for c in self.diff:
            taps, L, phs = op.carry_taps[c], op.windows[c], op.carry_placeholders()[c]
            by_tap = {k: grads[ph] for k, ph in zip(taps, phs)}
            q = qs[c]
            if taps == (-1,):
                new = by_tap[-1] if by_tap[-1] is not None else T.zeros_like(q)
            else:
                rows = []
                for j in range(L):
                    row = q[j - 1] if j else T.zeros_like(q[0])
                    g = by_tap.get(j - L)
                    rows.append(row if g is None else row + g)
                new = T.stack(rows)
            self.roles.append(("adjoint", c))
            carries.append(Carry([q], (-1,), T.zeros_like(self.inits[c]),
                                 _conform(new, q.type), False, f"adjoint of {op.labels[c]}"))
        for j, ph in enumerate(op.const_placeholders()):
            g = grads.get(ph)
            if g is not None:
                acc = ph.type.make_variable(name=f"sum of d/d{ph.name or 'const'}")
                self.roles.append(("const", j))
                carries.append(Carry([acc], (-1,), T.zeros_like(self.consts[j]),
                                     acc + _conform(g, acc.type), False,
                                     f"gradient of const {j}"))
        return carries

    def build(self):
        """The gradients of every input of the forward node (None where there is none)."""
        op, T = self.op, self.T
        carries, grads = self.step()
        seq_phs = [ph for ph in op.seq_placeholders() if grads.get(ph) is not None]
        consts = [(self.repl[ph], outer) for ph, outer in
                  zip(op.const_placeholders(), self.consts)]
        if not carries and not seq_phs:
            return [None] * (1 + op.n_seqs + op.n_carries + op.n_consts)
        name = f"grad_of_{op.name}" if op.name else "grad_of_scan"
        finals, gxs = make_scan(self.n, self.sequences, carries, [grads[p] for p in seq_phs],
                                consts, name=name, mode=op.mode)
        (finals + gxs)[0].owner.op.grad_link = GradLink(
            op, tuple(self.roles), tuple(op.seq_placeholders().index(p) for p in seq_phs),
            self.douts)
        out = [None]
        gx = dict(zip(seq_phs, gxs))
        for ph, seq in zip(op.seq_placeholders(), self.seqs):
            if ph not in gx:
                out.append(None)
                continue
            if self.storing and not self.truncated and _is_length(self.n_steps, seq):
                out.append(_conform(gx[ph][::-1], seq.type))  # every row of seq was read
                continue
            full = T.zeros_like(seq)
            lo = self.start if self.truncated else None
            out.append(T.set_subtensor(full[lo: self.n_steps], gx[ph][::-1]))
        finals = iter(finals)
        for c, init in enumerate(self.inits):
            out.append(self._init_grad(c, next(finals)) if c in self.diff else None)
        for ph in op.const_placeholders():
            out.append(next(finals) if grads.get(ph) is not None else None)
        return out

    def _init_grad(self, c, q):
        op, T = self.op, self.T
        if self.truncated:
            q = T.switch(T.eq(self.n, self.n_steps), q, T.zeros_like(q))
        g = self.g_bufs[c]
        if g is not None:
            q = q + (g[0] if op.carry_taps[c] == (-1,) else g[: op.windows[c]])
        return q


#: Scalar ops cheap enough to recompute in the backward step from stored values, rather
#: than store their result too (no transcendental: the backward then runs the same
#: arithmetic the forward did, and reads one array less).
CHEAP_OPS = frozenset(["add", "sub", "mul", "neg", "sqr", "abs", "maximum", "minimum"])


def _recomputed_cheaply(op, reads):
    """``reads`` without the values the backward step can recompute for about the cost of
    reading them: an elementwise op of ``CHEAP_OPS`` whose inputs are constants, the step's
    own inputs (a sequence's row, a carry, whose traces the backward loop reads anyway, a
    const) or other values stored, or views of those, and which no other kind of node (a
    product) reads. A GRU's ``1 - z`` beside ``z``: a trace of ``T x B x H`` neither written
    nor read (``tests/scan/test_grad.py``)."""
    from minigraph.tensor.elemwise import DimShuffle, Elemwise

    free = set(op.inner_inputs)
    kept = set()
    # a product's operand stays stored: its weight's gradient reads it at every step anyway
    # (recomputed, the backward loop would output it for that product instead)
    nodes = toposort(op.inner_outputs)
    operands = {i for node in nodes if not isinstance(node.op, Elemwise) for i in node.inputs}
    # each read after the reads it is computed from (a shape read, made for the backward
    # step, first: it is kept, and no value of the step reads it)
    position = {o: k for k, node in enumerate(nodes) for o in node.outputs}

    def available(v):
        while v.owner is not None and isinstance(v.owner.op, DimShuffle):
            v = v.owner.inputs[0]
        return isinstance(v, Constant) or v in free or v in kept

    for v in sorted(reads, key=lambda v: position.get(v, -1)):
        node = v.owner
        if node is not None and isinstance(node.op, Elemwise) and v not in operands and \
                getattr(node.op.scalar_op, "name", None) in CHEAP_OPS and \
                all(available(i) for i in node.inputs):
            continue
        kept.add(v)
    return [v for v in reads if v in kept]


def _is_length(n, seq):
    """Whether ``n`` is ``seq.shape[0]``: the loop read every row of ``seq``, whose gradient
    is then the backward loop's output reversed, with no zeros to fill in."""
    from .gru_rewrite import _is_length as is_length

    return is_length(n, seq)


def _add(known, var, g):
    known[var] = known[var] + g if var in known else g


def _stored_values(op, inputs, outputs, output_grads):
    """What the forward loop should store for the backward one (see the module docstring):
    found by building the backward step once; nothing for a loop of ``gru_step``, which the
    GRU pass replaces by the fused kernels, pairing the loops as ``grad`` built them
    (``scan/gru_rewrite.py``)."""
    from minigraph.tensor.nnet.gru import GRUStep

    if op.inner_outputs and is_op(op.inner_outputs[0], GRUStep):
        return None
    probe = _Backward(op, inputs, outputs, output_grads, stored=[])
    probe.step()
    return probe.step_reads()


def scan_grad(op, inputs, outputs, output_grads, store=True):
    """``Scan.grad``: the gradients of a Scan node's inputs, computed by a backward Scan.

    With ``store`` (and ``SAVE_STEP_VALUES``), the values of the step the backward step
    reads are stored by the forward loop rather than recomputed.
    """
    stored = _stored_values(op, inputs, outputs, output_grads) \
        if store and SAVE_STEP_VALUES else None
    return _Backward(op, inputs, outputs, output_grads, stored).build()
