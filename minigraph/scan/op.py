"""The ``Scan`` op: a loop over an inner graph, in one canonical form.

A Scan node reads ``[n_steps, *sequences, *initial carries, *consts]`` and returns
``[*carries, *ys]``. Its meaning, for one carry with taps ``(-1,)``, is this loop::

    carry = init
    for t in range(n_steps):
        carry, y = f(*[seq[t] for seq in sequences], carry, *consts)
        trace.append(carry); ys.append(y)
    return stack([init] + trace), stack(ys)

* A carry with taps ``(-2, -1)`` reads the values of the two previous steps; its initial
  value is then a window of shape ``(2, ...)`` (the oldest first).
* A carry's output holds its initial window followed by the ``n_steps`` new values, so the
  backward pass can slice every tap's values out of it without a copy. A carry marked
  ``keep=False`` returns only its final window (shared-variable updates, the gradient
  accumulators of the backward pass): no per-step memory.
* ``ys`` are per-step outputs that are not fed back, stacked to ``(n_steps, ...)`` (with
  zero steps, their sizes not known statically are 0).

Everything Theano's ``scan`` adds (sequence taps, ``go_backwards``, the shortest sequence
deciding the length, implicit shared variables) is lowered to this form by
:mod:`minigraph.scan.builder`. The inner graph is compiled once with :func:`function`, and
the loop is generated Python code that calls it and writes into pre-allocated buffers.
"""

from collections import OrderedDict, namedtuple

import numpy as np

import minigraph.tensor as T
from minigraph.config import config
from minigraph.graph.basic import Apply, GraphError, Variable, ancestors
from minigraph.graph.op import Op
from minigraph.graph.testvalues import quietly
from minigraph.graph.type import TensorType

from .loop import make_loop

#: one carried value: its inner placeholders (one per tap), taps (negative ints), initial
#: value (outer), new value (inner), whether its whole trace is returned, and a label
Carry = namedtuple("Carry", "placeholders taps init output keep label")


class Scan(Op):
    """A loop over an inner graph (see the module docstring for the meaning).

    Parameters
    ----------
    inner_inputs : list of Variable
        Placeholders: one per sequence, then each carry's taps in order, then the consts.
    inner_outputs : list of Variable
        The carries' new values, then the per-step outputs ``ys``.
    n_seqs, n_consts : int
    carry_taps : tuple of tuple of int
        Each carry's taps (negative ints); ``(-1,)`` takes a plain initial value, any other
        taps an initial window of ``-min(taps)`` rows.
    carry_keep : tuple of bool
        Return the carry's whole trace (True) or only its final window (False).
    labels : tuple of str
        How errors name each carry and y (``"output 1"``).
    name : str, optional
    truncate_gradient : int
        Back-propagate through at most this many steps (-1: all).
    mode : Mode or str, optional
        Compilation mode of the inner graph (default: ``config.mode``).
    """

    def __init__(self, inner_inputs, inner_outputs, n_seqs, carry_taps, carry_keep, n_consts,
                 labels=None, name=None, truncate_gradient=-1, mode=None):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.n_seqs, self.n_consts = n_seqs, n_consts
        self.carry_taps = tuple(tuple(t) for t in carry_taps)
        self.carry_keep = tuple(bool(k) for k in carry_keep)
        self.n_carries = len(self.carry_taps)
        self.n_ys = len(self.inner_outputs) - self.n_carries
        self.windows = tuple(-min(t) for t in self.carry_taps)
        self.labels = tuple(labels) if labels else tuple(
            [f"carry {c}" for c in range(self.n_carries)] + [f"y {j}" for j in range(self.n_ys)])
        self.name = name
        self.truncate_gradient = truncate_gradient
        self.mode = mode
        self._compiled = None
        n_taps = sum(len(t) for t in self.carry_taps)
        if len(self.inner_inputs) != n_seqs + n_taps + n_consts:
            raise GraphError(f"Scan: {len(self.inner_inputs)} inner inputs for {n_seqs} "
                             f"sequences, {n_taps} carry taps and {n_consts} consts")

    # identity: two scans are equal only when they are the same loop object
    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return f"Scan{{{self.name}}}" if self.name else "Scan"

    __repr__ = __str__

    # the parts of the inner inputs ---------------------------------------------------------
    def seq_placeholders(self):
        return self.inner_inputs[: self.n_seqs]

    def carry_placeholders(self):
        """One list of tap placeholders per carry."""
        out, k = [], self.n_seqs
        for taps in self.carry_taps:
            out.append(self.inner_inputs[k: k + len(taps)])
            k += len(taps)
        return out

    def const_placeholders(self):
        return self.inner_inputs[len(self.inner_inputs) - self.n_consts:]

    def state_type(self, c):
        """The type of one value of carry ``c`` (that of its tap placeholders)."""
        return self.carry_placeholders()[c][0].type

    def init_type(self, c):
        """The type of carry ``c``'s initial value (a window when its taps are not (-1,))."""
        st = self.state_type(c)
        if self.carry_taps[c] == (-1,):
            return st
        return TensorType(st.dtype, shape=(self.windows[c],) + st.shape)

    def split_inputs(self, inputs):
        """``(n_steps, sequences, inits, consts)`` of a node's input list."""
        ns, nc = self.n_seqs, self.n_carries
        return inputs[0], inputs[1: 1 + ns], inputs[1 + ns: 1 + ns + nc], inputs[1 + ns + nc:]

    def parts(self, node):
        """The node in canonical parts, as :func:`make_scan` takes them: ``(n_steps,
        sequences, carries, ys, consts)`` with (placeholder, outer) pairs and :data:`Carry`."""
        n, seqs, inits, consts = self.split_inputs(node.inputs)
        carries = [Carry(phs, taps, init, out, keep, label) for phs, taps, init, out, keep, label
                   in zip(self.carry_placeholders(), self.carry_taps, inits, self.inner_outputs,
                          self.carry_keep, self.labels)]
        return (n, list(zip(self.seq_placeholders(), seqs)), carries,
                self.inner_outputs[self.n_carries:], list(zip(self.const_placeholders(), consts)))

    def rebuild(self, node, sequences, carries, ys, consts, y_labels=None):
        """A new Scan node like ``node`` (same name, mode, truncation) from changed parts."""
        return make_scan(node.inputs[0], sequences, carries, ys, consts, self.name,
                         self.truncate_gradient, self.mode, y_labels)

    def input_groups(self, node):
        """The node's outer inputs by role, for printing and drawing."""
        n, seqs, inits, consts = self.split_inputs(node.inputs)
        return OrderedDict([("n_steps", [n]), ("sequences", list(seqs)),
                            ("carries", list(inits)), ("consts", list(consts))])

    # building ------------------------------------------------------------------------------
    def make_node(self, n_steps, *args):
        n_steps = T.as_tensor_variable(n_steps)
        if n_steps.ndim != 0 or np.dtype(n_steps.dtype).kind not in "iu":
            raise GraphError(f"{self}: n_steps must be an int scalar, got {n_steps.type}")
        n_steps = T.cast(n_steps, "int64")
        expected = self.n_seqs + self.n_carries + self.n_consts
        if len(args) != expected:
            raise GraphError(f"{self}: expected {expected} inputs after n_steps, got {len(args)}")
        args = [_as_input(a) for a in args]
        _, seqs, inits, consts = self.split_inputs([n_steps] + args)
        for s, ph in zip(seqs, self.seq_placeholders()):
            _check_input(self, s, TensorType(ph.type.dtype, shape=(None,) + ph.type.shape),
                         "sequence")
        for c, init in enumerate(inits):
            _check_input(self, init, self.init_type(c), f"initial value of {self.labels[c]}")
        for k, ph in zip(consts, self.const_placeholders()):
            _check_input(self, k, ph.type, "const")
        outputs = []
        for c in range(self.n_carries):
            st = self.state_type(c)
            if self.carry_keep[c]:
                outputs.append(TensorType(st.dtype, shape=(None,) + st.shape)())
            else:
                outputs.append(self.init_type(c)())
        for y in self.inner_outputs[self.n_carries:]:
            outputs.append(TensorType(y.type.dtype, shape=(None,) + y.type.shape)())
        return Apply(self, [n_steps] + args, outputs)

    def grad(self, inputs, outputs, output_grads):
        from .grad import scan_grad  # cycle: grad.py builds Scan nodes

        with quietly():  # the backward body reads fresh placeholders
            return scan_grad(self, inputs, outputs, output_grads)

    # running -------------------------------------------------------------------------------
    def compiled(self):
        """The inner graph compiled once: ``run(*inner inputs) -> (outputs, ())``."""
        if self._compiled is None:
            from minigraph.compile.function import function  # cycle: compile/mode.py imports scan

            fn = function(self.inner_inputs, self.inner_outputs, mode=self.mode,
                          on_unused_input="ignore", name=f"scan_inner_{self.name or id(self)}")
            self._compiled = fn
        return self._compiled

    def make_py_callable(self, node):
        from minigraph.codegen.scanloop import compiled_runner  # cycle: codegen reads scan ops

        run = compiled_runner(self, make_loop(self, self.compiled(), node.trace), node.trace)
        if len(node.outputs) == 1:
            return lambda *args: run(*args)[0]
        return run

    def perform(self, node, inputs, output_storage):
        outs = self.make_py_callable(node)(*inputs)
        if len(node.outputs) == 1:
            outs = (outs,)
        for cell, value in zip(output_storage, outs):
            cell[0] = value


def _as_input(x):

    return x if isinstance(x, Variable) else T.as_tensor_variable(x)


def _check_input(op, var, want, what):
    """dtype and rank must match; known sizes may not contradict."""
    if not isinstance(want, TensorType):
        if var.type != want:
            raise GraphError(f"{op}: {what} {var.describe()} has type {var.type}, expected "
                             f"{want}")
        return
    got = var.type
    ok = isinstance(got, TensorType) and got.dtype == want.dtype and got.ndim == want.ndim
    if ok:
        ok = all(a is None or b is None or a == b for a, b in zip(got.shape, want.shape))
    if not ok:
        short = got.short() if hasattr(got, "short") else got
        raise GraphError(f"{op}: {what} {var.describe()} has type {short}, expected "
                         f"{want.short()}")


class ScanUntil(Op):
    """A :class:`Scan` that stops after the first step where an inner condition is true
    (Theano's ``scan_module.until``); ``n_steps`` is then the largest number of steps.

    Outputs: the wrapped Scan's, cut to the steps run, then that number (int64). It is a
    separate op, not a Scan, so the scan rewrites (which assume every step runs) leave it
    alone. Its gradient is the gradient of a plain Scan run for the steps that ran.
    """

    def __init__(self, scan, condition):
        self.scan, self.condition = scan, condition
        self.name = scan.name
        self._compiled = None

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return f"ScanUntil{{{self.name}}}" if self.name else "ScanUntil"

    __repr__ = __str__

    @property
    def inner_inputs(self):
        return self.scan.inner_inputs

    @property
    def inner_outputs(self):
        return self.scan.inner_outputs + [self.condition]

    def input_groups(self, node):
        return self.scan.input_groups(node)

    def carry_placeholders(self):
        return self.scan.carry_placeholders()

    def make_node(self, n_steps, *args):
        with config.change_flags(compute_test_value="off"):  # a throwaway node: types only
            node = self.scan.make_node(n_steps, *args)
        outs = [o.type() for o in node.outputs] + [T.lscalar()]
        return Apply(self, node.inputs, outs)

    def grad(self, inputs, outputs, output_grads):
        from .grad import scan_grad  # cycle: grad.py builds Scan nodes

        # the loop that ran is a plain Scan of outputs[-1] steps: same values, same gradient;
        # its step values are recomputed (a storing twin would be a second forward loop, as
        # scan_merge_twin merges twins of Scan nodes only)
        with quietly():
            grads = scan_grad(self.scan, [outputs[-1]] + list(inputs[1:]), outputs[:-1],
                              output_grads[:-1], store=False)
        return [None] + list(grads[1:])

    def make_py_callable(self, node):
        if self._compiled is None:
            from minigraph.compile.function import function  # cycle: compile/mode.py imports scan

            self._compiled = function(self.inner_inputs, self.inner_outputs, mode=self.scan.mode,
                                      on_unused_input="ignore",
                                      name=f"scan_inner_{self.name or id(self)}")
        from minigraph.codegen.scanloop import compiled_runner  # cycle: codegen reads scan ops

        return compiled_runner(self, make_loop(self.scan, self._compiled, node.trace, until=True),
                               node.trace)


def make_scan(n_steps, sequences, carries, ys, consts, name=None, truncate_gradient=-1,
              mode=None, y_labels=None, until=None):
    """Build a Scan node from its canonical parts; return ``(carry outputs, y outputs)``.

    Parameters
    ----------
    n_steps : int or int scalar Variable
    sequences, consts : list of (inner placeholder, outer variable)
        Pairs whose placeholder the inner outputs do not use are dropped.
    carries : list of :data:`Carry`
    ys : list of inner Variable
    y_labels : list of str, optional
    until : inner scalar Variable, optional
        A stop condition: the node is then a :class:`ScanUntil`, whose last output (not
        returned here; ``outputs[0].owner.outputs[-1]``) is the number of steps run.
    """
    outs = [c.output for c in carries] + list(ys)
    used = set(ancestors(outs + ([until] if until is not None else [])))
    sequences = [(p, v) for p, v in sequences if p in used]
    consts = [(p, v) for p, v in consts if p in used]
    inner_in = [p for p, _ in sequences]
    for c in carries:
        inner_in.extend(c.placeholders)
    inner_in.extend(p for p, _ in consts)
    labels = [c.label for c in carries] + list(y_labels or [f"y {j}" for j in range(len(ys))])
    op = Scan(inner_in, outs, len(sequences), [c.taps for c in carries],
              [c.keep for c in carries], len(consts), labels, name, truncate_gradient, mode)
    if until is not None:
        op = ScanUntil(op, until)
    node = op.make_node(n_steps, *[v for _, v in sequences], *[c.init for c in carries],
                        *[v for _, v in consts])
    n_out = len(carries) + len(ys)
    return node.outputs[: len(carries)], node.outputs[len(carries): n_out]
