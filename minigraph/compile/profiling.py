"""``profile=True``: per-node run times, which rewrites fired, and what was compiled.

:func:`compile_state` says how a node runs: a fused elementwise region in a Numba kernel
or still as its NumPy composite (see ``FusionPolicy`` in
:mod:`minigraph.tensor.fused_kernels`), a scan loop with the state of its step's regions
and whether its gradient stores the step's values (``SAVE_STEP_VALUES`` in
:mod:`minigraph.scan.grad`). ``debugprint`` prints it after the node, the profile summary
lists it for every region and loop.
"""

import sys

import numpy as np


def _kernel_state(op, ndim):
    """``numba``, ``compiling`` or ``numpy: <why>`` for a fused region of rank ``ndim``."""
    from minigraph.tensor import fused_kernels as fk

    if not fk.POLICY.numba:
        return "numpy: numba off"
    # read only: printing must not create one. A node runs the plain kernel or, when its
    # destroyable input may be overwritten, the in-place variant (fused_kernels._kernel)
    variants = {None, getattr(op, "inplace", None)}
    kernels = [k for k in (fk._KERNELS.get((op.program, ndim, v)) for v in variants) if k]
    if any(k.funcs is not None for k in kernels):
        return "numba"
    calls = sum(k.calls for k in kernels)  # calls: of every node running this program
    if calls == 0:
        return "numpy: not run yet"
    if any(k.failed for k in kernels):
        return "numpy: numba failed"
    if any(k.pending is not None for k in kernels):
        return "compiling"
    return f"numpy: not hot yet, {calls} call{'s' if calls != 1 else ''}"


def _inner_function(op):
    """The compiled inner function of a Scan / ScanUntil op, None before its first run."""
    return getattr(op, "_compiled", None)


def _scan_state(op):
    from minigraph.codegen.scanloop import loop_state

    scan = getattr(op, "scan", op)  # ScanUntil wraps a Scan
    state = loop_state(op)
    if state == "compiled":
        parts = ["loop: compiled, one Numba function"]
    else:
        parts = [f"loop: Python per step ({state})" if state != "not run yet" else
                 "loop: not run yet"]
        inner = _inner_function(op)
        if inner is not None:
            states = [compile_state(n) for n in inner.fgraph.toposort()
                      if type(n.op).__name__ == "FusedElemwise"]
            numba = sum(s == "numba" for s in states)
            parts.append(f"step regions: {numba} numba, {len(states) - numba} not" if states
                         else "no fused step regions")
    saved = sum(label.startswith("saved ") for label in scan.labels)
    stored = sum((p.name or "").endswith("(stored)") for p in scan.inner_inputs)
    if saved:
        parts.append(f"stores {saved} step values for the gradient")
    elif (scan.name or "").startswith("grad_of"):  # what the forward loop kept, read back
        parts.append(f"gradient: reads {stored} stored values" if stored else
                     "gradient: recomputes the step")
    return "; ".join(parts)


def compile_state(node):
    """How ``node`` runs, as a short text, or None for a node that is neither a fused
    elementwise region nor a loop.

    ``numba`` (the region's kernel is compiled), ``compiling`` (in a background thread;
    NumPy serves meanwhile), ``numpy: ...`` (not hot yet, not run yet, numba off, or
    numba failed); for a scan, ``loop: ...`` with its step's regions and whether its
    gradient stores the step's values.

    Examples
    --------
    >>> import minigraph as theano, minigraph.tensor as T
    >>> x = T.dmatrix("x")
    >>> hs, _ = theano.scan(lambda x_t: T.exp(x_t) * 2 + 1, sequences=x)
    >>> f = theano.function([x], hs)
    >>> [s.split("; ")[:2] for s in map(compile_state, f.fgraph.toposort()) if s]
    [['loop: not run yet', 'step regions: 0 numba, 1 not']]
    """
    kind = type(node.op).__name__
    if kind == "FusedElemwise":
        return _kernel_state(node.op, node.outputs[0].ndim)
    if kind in ("Scan", "ScanUntil"):
        return _scan_state(node.op)
    if kind.startswith("GRU"):
        return "numba: hand-fused GRU"
    return None


class ProfileStats:
    """Collected by a function compiled with ``profile=True``; see :meth:`summary`."""

    def __init__(self, name, linked, rewrite_stats, rewrite_time, compile_time):
        self.name = name
        self.linked = linked
        self.rewrite_stats = rewrite_stats
        self.rewrite_time = rewrite_time
        self.compile_time = compile_time
        self.n_calls = 0
        self.call_time = 0.0

    def record_call(self, seconds):
        self.n_calls += 1
        self.call_time += seconds

    def node_times(self):
        """List of (seconds, node) over all calls, slowest first."""
        times = self.linked.profile
        return sorted(zip(times.tolist(), self.linked.order), key=lambda p: -p[0])

    def compiled_regions(self):
        """List of (seconds, node, state) of the fused regions and loops, slowest first
        (see :func:`compile_state`)."""
        return [(t, node, compile_state(node)) for t, node in self.node_times()
                if compile_state(node) is not None]

    def summary(self, file=None, n_nodes=15):
        """Print the summary (to ``file``, default stdout); also returns it as text."""
        lines = [f"Function profile: {self.name or '<unnamed>'}",
                 f"  compile: {self.compile_time * 1e3:.1f} ms "
                 f"(rewrites {self.rewrite_time * 1e3:.1f} ms)",
                 f"  calls: {self.n_calls}, total {self.call_time * 1e3:.2f} ms, "
                 f"{self.call_time / max(self.n_calls, 1) * 1e6:.1f} us/call"]
        total = float(np.sum(self.linked.profile)) or 1e-12
        lines.append(f"  nodes ({len(self.linked.order)}), slowest first:")
        lines.append(f"    {'time %':>7} {'seconds':>10}  op  (user line)")
        for t, node in self.node_times()[:n_nodes]:
            lines.append(f"    {100 * t / total:6.1f}% {t:10.6f}  {node.op}  ({node.trace})")
        regions = self.compiled_regions()
        lines.append(f"  fused regions and loops ({len(regions)}), how they run:")
        for t, node, state in regions:
            lines.append(f"    {100 * t / total:6.1f}% {t:10.6f}  {node.op}  [{state}]")
        fired = {k: v for k, v in self.rewrite_stats.items() if v[0]}
        lines.append("  rewrites that fired: " + (", ".join(
            f"{k} x{v[0]}" for k, v in sorted(fired.items())) or "none"))
        text = "\n".join(lines)
        print(text, file=file or sys.stdout)
        return text
