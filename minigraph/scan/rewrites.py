"""Scan rewrites (the ``scan`` pass), each one identity on a Scan node:

* ``scan_prune``: outputs nobody reads are dropped from the loop, with the carries,
  sequences and consts only they needed (the backward loop computes a gradient for every
  sequence; the ones not asked for go here);
* ``scan_sum_of_products``: a carry that only sums ``outer(u_t, v_t)`` (or
  ``dot(u_t.T, v_t)``) over the steps, the gradient of a weight matrix, becomes one
  matrix product after the loop: the loop emits ``u_t`` and ``v_t`` (often already
  there as sequences) and ``acc0 + dot(U.T, V)`` replaces ``T`` rank-one updates; a sum
  of a value the loop emits anyway (``sum(g_t, axis=0)``, a bias's gradient) becomes one
  reduction of the emitted array;
* ``scan_hoist_input_dot``: ``dot(x_t, W)`` of a sequence and a const becomes one product
  ``dot(X, W)`` over all steps before the loop, read back as a new sequence.
* ``scan_merge_twin``: a loop whose twin (the same loop storing more per step, built by
  :mod:`minigraph.scan.grad` for the backward pass) runs on the same inputs gives way to it:
  its outputs are read from the twin's, so the forward loop runs once.

All three run in the outer graph's pipeline after the gradient was built, so the backward
loops benefit as much as the forward ones.
"""

import minigraph.tensor as T
from minigraph.graph.basic import Constant, ancestors, clone_replace
from minigraph.graph.rewriting import RuleSet, is_op, node_rewriter
from minigraph.graph.type import TensorType
from minigraph.tensor.blas import Dot
from minigraph.tensor.reduce import Reduce

from .op import Scan


def _live(fgraph, node):
    return any(fgraph.clients.get(o) for o in node.outputs)


def _labels(op):
    return list(op.labels[op.n_carries:])


@node_rewriter([Scan])
def scan_prune(fgraph, node):
    """Scan outputs nobody reads -> dropped, with what only they needed"""
    if not _live(fgraph, node):
        return None
    op = node.op
    n, seqs, carries, ys, consts = op.parts(node)
    nc = len(carries)
    used = [bool(fgraph.clients.get(o)) for o in node.outputs]
    keep_c = {c for c in range(nc) if used[c]}
    keep_y = [j for j in range(len(ys)) if used[nc + j]]
    while True:  # a carry stays while a kept output reads it
        needed = set(ancestors([carries[c].output for c in keep_c] + [ys[j] for j in keep_y]))
        more = {c for c in range(nc) if c not in keep_c
                and any(p in needed for p in carries[c].placeholders)}
        if not more:
            break
        keep_c |= more
    inputs_used = all(p in needed for p, _ in seqs + consts)
    if len(keep_c) == nc and len(keep_y) == len(ys) and inputs_used:
        return None
    kept = sorted(keep_c)
    labels = _labels(op)
    new_c, new_y = op.rebuild(node, seqs, [carries[c] for c in kept], [ys[j] for j in keep_y],
                              consts, [labels[j] for j in keep_y])
    out = {node.outputs[c]: v for c, v in zip(kept, new_c)}
    out.update({node.outputs[nc + j]: v for j, v in zip(keep_y, new_y)})
    return out


def _terms(var):
    """The summands of a chain of ``add`` nodes."""
    if is_op(var, "add"):
        return _terms(var.owner.inputs[0]) + _terms(var.owner.inputs[1])
    return [var]


def _dimshuffle_of(var, order):
    node = var.owner
    if node is not None and getattr(node.op, "new_order", None) == order:
        return node.inputs[0]
    return None


def _product(x):
    """``(u, v, axes)`` when ``x`` is a product whose sum over steps is
    ``tensordot(U, V, axes)``: ``outer(u, v)``, ``dot(u.T, v)`` or ``dot(v, u.T)``."""
    node = x.owner
    if node is None:
        return None
    if is_op(x, "mul"):
        a, b = node.inputs
        for p, q in ((a, b), (b, a)):
            u, v = _dimshuffle_of(p, (0, "x")), _dimshuffle_of(q, ("x", 0))
            if u is not None and v is not None and u.ndim == 1 and v.ndim == 1:
                return u, v, [[0], [0]]
        return None
    if isinstance(node.op, Dot):
        a, b = node.inputs
        u = _dimshuffle_of(a, (1, 0))
        if u is not None and b.ndim == 2:
            return u, b, [[0, 1], [0, 1]]
        u = _dimshuffle_of(b, (1, 0))
        if u is not None and a.ndim == 2:
            return a, u, [[0, 2], [0, 2]]  # dot(v, u.T), v (m, B), u (n, B)
    return None


def _accumulator(op, c, carry):
    """The summands other than the carry itself, if carry ``c`` is ``acc + x_t + ...``."""
    if carry.keep or carry.taps != (-1,) or not isinstance(carry.output.type, TensorType):
        return None
    ph = carry.placeholders[0]
    terms = _terms(carry.output)
    if terms.count(ph) != 1:
        return None
    rest = [t for t in terms if t is not ph]
    others = [o for i, o in enumerate(op.inner_outputs) if i != c]
    if ph in set(ancestors(rest + others)):
        return None
    return rest


class _Steps:
    """Per-step inner values seen from outside: sequences, carry traces, new outputs."""

    def __init__(self, op, node):
        self.op, self.node = op, node
        self.seqs = dict(zip(op.seq_placeholders(), op.split_inputs(node.inputs)[1]))
        self.taps = {}
        for c, phs in enumerate(op.carry_placeholders()):
            if op.carry_keep[c]:
                for k, p in zip(op.carry_taps[c], phs):
                    self.taps[p] = (c, op.windows[c] + k)
        self.emit = []  # inner values the new loop must return as per-step outputs
        for y in op.inner_outputs[op.n_carries:]:
            self.emit.append(y)

    def available(self, v):
        return v in self.seqs or v in self.taps or v in self.emit

    def can(self, v):
        """Whether the loop can hand ``v`` out per step."""
        return self.available(v) or v.owner is not None

    def need(self, v):
        if not self.available(v):
            self.emit.append(v)

    def outer(self, v, n, new_carries, new_ys):
        """The outer ``(n_steps, ...)`` array of the inner value ``v``."""
        if v in self.seqs:
            return self.seqs[v][:n]
        if v in self.taps:
            c, off = self.taps[v]
            return new_carries[c][off: n + off]
        return new_ys[self.emit.index(v)]


@node_rewriter([Scan])
def scan_sum_of_products(fgraph, node):
    """acc' = acc + outer(u_t, v_t) in the loop -> acc0 + dot(U.T, V) after it"""
    if not _live(fgraph, node):
        return None
    op = node.op
    steps = _Steps(op, node)
    n, seqs, carries, ys, consts = op.parts(node)
    hoisted = _plan_sums(op, carries, steps)
    if not hoisted:
        return None
    new_carries, kept = [], []
    for c, carry in enumerate(carries):
        done = {id(x) for x, _ in hoisted.get(c, [])}
        rest = [t for t in _terms(carry.output) if id(t) not in done]
        if c in hoisted and rest == carry.placeholders:
            continue  # the whole sum moved out of the loop
        if c in hoisted:
            carry = carry._replace(output=_sum(rest))
        kept.append(c)
        new_carries.append(carry)
    labels = _labels(op) + [f"summand {i}" for i in range(len(steps.emit) - len(ys))]
    nc_out, ny_out = op.rebuild(node, seqs, new_carries, steps.emit, consts, labels)
    by_c = dict(zip(kept, nc_out))
    out = {node.outputs[len(carries) + j]: y for j, y in enumerate(ny_out[: len(ys)])}
    parts = {}  # one sum over the steps per summand (two bias gradients are often one)
    for c, carry in enumerate(carries):
        total = by_c[c] if c in by_c else carry.init
        for x, prod in hoisted.get(c, []):
            # prod is a function of x (_product, _step_sums or None): its kind tells it
            key = (x, None if prod is None else prod[0] if isinstance(prod[0], str) else
                   "product", total.dtype)
            if key not in parts:
                parts[key] = _sum_over_steps(x, prod, total.dtype, lambda v: steps.outer(
                    v, n, by_c, ny_out))
            total = total + parts[key]
        out[node.outputs[c]] = total
    return out


def _plan_sums(op, carries, steps):
    """{carry index: [(summand, product or None)]} of the sums that can leave the loop."""
    hoisted = {}
    for c, carry in enumerate(carries):
        rest = _accumulator(op, c, carry)
        if not rest:
            continue
        found = []
        for x in rest:
            prod = _product(x)
            if prod is not None and steps.can(prod[0]) and steps.can(prod[1]):
                steps.need(prod[0])
                steps.need(prod[1])
                found.append((x, prod))
        for x in rest:  # plain summands that are there anyway: one sum over the steps
            if all(x is not f for f, _ in found) and steps.available(x):
                found.append((x, None))
        for x in rest:  # sums of a value there anyway (a bias gradient): reduced after
            red = _step_sums(x)
            if all(x is not f for f, _ in found) and red and steps.available(red[1]):
                found.append((x, red))
        if found:
            hoisted[c] = found
    return hoisted


def _step_sums(x):
    """``("sums", u, [(axis, keepdims), ...])`` when ``x`` is ``u`` summed over axes (one
    or more ``sum`` nodes, innermost first), else None."""
    chain = []
    while x.owner is not None and isinstance(x.owner.op, Reduce) and x.owner.op.kind == "sum" \
            and x.dtype == x.owner.inputs[0].dtype:
        chain.append((x.owner.op.axis, x.owner.op.keepdims))
        x = x.owner.inputs[0]
    return ("sums", x, chain[::-1]) if chain else None


def _sum_over_steps(x, prod, dtype, outer):
    """The sum over the steps of the summand ``x``, from the per-step arrays ``outer(v)``."""
    if prod is None:
        part = T.sum(outer(x), axis=0)
    elif isinstance(prod[0], str):  # the step's sums, then the sum over the steps
        part = outer(prod[1])
        for axis, keepdims in prod[2]:
            part = T.sum(part, axis=[a + 1 for a in axis], keepdims=keepdims)
        part = T.sum(part, axis=0)
    else:
        u, v, axes = prod
        part = T.tensordot(outer(u), outer(v), axes=axes)
    return part if part.dtype == dtype else T.cast(part, dtype)


def _sum(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


@node_rewriter([Scan])
def scan_hoist_input_dot(fgraph, node):
    """dot(x_t, W) of a sequence and a const in the loop -> dot(X, W) before it"""
    if not _live(fgraph, node):
        return None
    op = node.op
    n, seqs, carries, ys, consts = op.parts(node)
    seq_outer = dict(seqs)
    const_outer = dict(consts)
    repl, new_seqs = {}, []
    outs = [c.output for c in carries] + list(ys)
    for var in ancestors(outs, blockers=op.inner_inputs):
        inner = var.owner
        if inner is None or not isinstance(inner.op, Dot):
            continue
        x, W = inner.inputs
        if x in seq_outer and W.ndim == 2 and (W in const_outer or isinstance(W, Constant)):
            outer_W = const_outer.get(W, W)
            ph = var.type.make_variable(name=f"dot({x.name}, {W.name})")
            repl[var] = ph
            new_seqs.append((ph, T.dot(seq_outer[x][:n], outer_W)))
    if not repl:
        return None
    new_outs = clone_replace(outs, repl)
    carries = [c._replace(output=o) for c, o in zip(carries, new_outs)]
    new_c, new_y = op.rebuild(node, seqs + new_seqs, carries, new_outs[len(carries):], consts,
                              _labels(op))
    return dict(zip(node.outputs, new_c + new_y))


@node_rewriter([Scan])
def scan_merge_twin(fgraph, node):
    """Scan with a twin on the same inputs (grad's storing loop) -> the twin's outputs"""
    op = node.op
    twin = next((c for c, _ in fgraph.clients.get(node.inputs[0], ())
                 if c != "output" and c is not node and getattr(c.op, "twin_of", None) is op
                 and list(c.inputs) == list(node.inputs)), None)
    if twin is None:
        return None
    out = []
    for c, o in enumerate(node.outputs[: op.n_carries]):
        t = twin.outputs[c]
        if op.carry_keep[c] or t.type == o.type:
            out.append(t)
        else:  # the twin keeps the trace where this loop kept the final window
            out.append(t[-1] if op.carry_taps[c] == (-1,) else t[-op.windows[c]:])
    out += twin.outputs[op.n_carries: op.n_carries + op.n_ys]
    return dict(zip(node.outputs, out))


SCAN = RuleSet("scan", [scan_merge_twin, scan_prune, scan_sum_of_products,
                        scan_hoist_input_dot])
