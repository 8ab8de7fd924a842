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
intermediates of the step are recomputed, and where the gradient reads the step's result
(``tanh``'s gradient reads ``tanh(x)``) the stored trace is read instead. Carries that keep
no trace (shared-variable updates) are recomputed with traces by a twin forward loop, and
values drawn from random generators inside the step are stored by it rather than redrawn.
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

from .op import Carry, Scan, make_scan

#: Kept on a backward Scan op as ``op.grad_link`` so a compile-time rewrite can replace a
#: forward loop and its gradient together (the GRU rewrite): the forward op; per backward
#: carry, ``("adjoint", forward carry)`` or ``("const", forward const index)``; per backward
#: y, the forward sequence index; ``{backward sequence placeholder: forward output index}``
#: for the per-step gradients of the forward outputs the loop reads.
GradLink = namedtuple("GradLink", "forward carries ys douts")


def _is_float(v):
    return isinstance(v.type, TensorType) and np.dtype(v.type.dtype).kind in "fc"


def _is_zero(g):
    """True for a missing gradient or the ``zeros_like`` that ``grad`` puts for one."""
    if g is None:
        return True
    if isinstance(g, Constant):
        return not np.any(g.data)
    return (is_op(g, "second") and isinstance(g.owner.inputs[1], Constant)
            and not np.any(g.owner.inputs[1].data))


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


def _forward(op, inputs, outputs):
    """(carry buffers, ys, saved values, saved inner variables) with every trace kept."""
    nc = op.n_carries
    saved = _saved_values(op)
    tensor = [isinstance(op.state_type(c), TensorType) for c in range(nc)]
    if not saved and all(k or not t for k, t in zip(op.carry_keep, tensor)):
        return outputs[:nc], outputs[nc:], [], []
    twin = Scan(op.inner_inputs, op.inner_outputs + saved, op.n_seqs, op.carry_taps, tensor,
                op.n_consts, op.labels + tuple(f"saved {i}" for i in range(len(saved))),
                op.name, op.truncate_gradient, op.mode)
    outs = twin.make_node(*inputs).outputs
    n_ys = op.n_ys
    return outs[:nc], outs[nc: nc + n_ys], outs[nc + n_ys:], saved


class _Backward:
    """Builds the backward loop of one Scan node."""

    def __init__(self, op, inputs, outputs, output_grads):
        self.op, self.T = op, T
        self.n_steps, self.seqs, self.inits, self.consts = op.split_inputs(inputs)
        nc = op.n_carries
        self.bufs, self.ys, saved_outs, saved = _forward(op, inputs, outputs)
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
        for var, outer in zip(saved, saved_outs):
            self.repl[var] = self._seq(var.type, self._rev(outer), var.name)

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
        fwd = dict(zip(needed, clone_replace([op.inner_outputs[i] for i in needed], repl)))
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
        grads = dict(zip(wrt, self._reuse_forward(grads, fwd)))
        return self._new_carries(qs, grads), grads

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
        output compared with a recomputed ``x`` may differ in the last bit.
        """
        op, nc = self.op, self.op.n_carries
        inner_in = set(self.repl.values())
        present = [g for g in grads if g is not None]
        candidates = {var: i for i, var in fwd.items()
                      if var not in inner_in and not isinstance(var, Constant)}
        while True:
            sub = {var: var.type.make_variable() for var in candidates}
            new = clone_replace(present, sub) if sub else present
            used = set(ancestors(new))
            unsafe = [v for v in candidates
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


def _add(known, var, g):
    known[var] = known[var] + g if var in known else g


def scan_grad(op, inputs, outputs, output_grads):
    """``Scan.grad``: the gradients of a Scan node's inputs, computed by a backward Scan."""
    return _Backward(op, inputs, outputs, output_grads).build()
