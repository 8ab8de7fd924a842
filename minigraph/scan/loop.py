"""The loop a Scan node runs: generated Python code around the compiled inner function.

For each Scan op one small function is written out, with one local name per sequence,
carry buffer and per-step output, so a step costs one call of the inner function plus a
few indexing operations, with no per-step dispatch on the op's structure. For a scan with
one sequence, one carry and one per-step output it reads::

    def scan_loop(n_steps, s0, c0, k0):
        T = _ctx.n_steps(n_steps)
        _ctx.check_seq(s0, T, 0)
        b0 = _ctx.trace_buffer(c0, 0, T)
        sh0 = b0.shape[1:]
        y0 = ysh0 = None
        for t in range(T):
            try:
                (n0, m0), _ = _inner(s0[t], b0[t + 0], k0)
            except Exception as e:
                raise _ctx.step_error(e, t) from e
            if n0.shape != sh0:
                _ctx.shape_error(0, n0, sh0, t)
            b0[t + 1] = n0
            ...

A loop that runs no step still returns per-step outputs of the right row shapes: one
step is run on copies of a first step's inputs to learn them (``_Context.empty_ys``).

Errors raised at run time name the scan, the step and the user's line of the ``scan``
call (and, for a failing inner node, the line in ``fn`` that created it).
"""

import copy

import numpy as np

from minigraph.compile.linker import failing_node
from minigraph.graph.type import TensorType


class _Context:
    """Run-time helpers of one Scan node's loop (buffers and error messages)."""

    def __init__(self, op, linked, trace):
        self.op, self.linked, self.trace = op, linked, trace

    def _where(self):
        name = f"scan {self.op.name!r}" if self.op.name else "scan"
        return f"{name} (created at {self.trace})"

    def n_steps(self, n):
        n = int(n)
        if n < 0:
            raise ValueError(f"{self._where()}: n_steps is {n}; it must be >= 0")
        return n

    def check_seq(self, seq, n, i):
        if len(seq) < n:
            raise ValueError(f"{self._where()}: sequence {i} has {len(seq)} rows but the scan "
                             f"runs {n} steps")

    def _window(self, init, c):
        op = self.op
        if op.carry_taps[c] == (-1,):
            return init[None]
        L = op.windows[c]
        if init.shape[0] != L:
            raise ValueError(f"{self._where()}: {op.labels[c]} reads taps {op.carry_taps[c]}, "
                             f"so its initial value needs {L} rows, got shape {init.shape}")
        return init

    def trace_buffer(self, init, c, n):
        """``(window + n, ...)`` buffer with the initial window in its first rows."""
        window = self._window(np.asarray(init), c)
        dtype = self.op.state_type(c).dtype
        buf = np.empty((len(window) + n,) + window.shape[1:], dtype=dtype)
        buf[: len(window)] = window
        return buf

    def window(self, init, c):
        """The initial window of a carry that keeps no trace, as a list of values."""
        return list(self._window(np.asarray(init), c))

    def final(self, value):
        return value.copy() if isinstance(value, np.ndarray) else value

    def stack(self, values):
        return np.stack(values)

    def alloc_y(self, j, value, n):
        dtype = self.op.inner_outputs[self.op.n_carries + j].type.dtype
        return np.empty((n,) + np.shape(value), dtype=dtype)

    def seq_row(self, seq):
        """A row of ``seq`` for :meth:`empty_ys`: its first; for an empty view of a
        sequence of such rows (the traces and stored values a backward loop reads, which
        :meth:`empty_ys` keeps one probed row behind), a row of that; else zeros."""
        seq = np.asarray(seq)
        if len(seq):
            return seq[0]
        base = seq.base
        if isinstance(base, np.ndarray) and base.ndim == seq.ndim and len(base) \
                and base.shape[1:] == seq.shape[1:] and base.dtype == seq.dtype:
            return base[0]
        return np.zeros(seq.shape[1:], dtype=seq.dtype)

    def empty_ys(self, reads):
        """The per-step outputs of a loop that ran no step: ``(0, ...)`` arrays whose row
        shapes are those one step would give.

        No step gives them, and the static types seldom know every size (a gradient's
        per-step output ``(0, 0)`` instead of ``(0, 3)`` would break what sums it over the
        steps), so the step runs once, on copies of the inputs of a first step (``reads``:
        see :meth:`seq_row` for the sequences). Its results are not returned; each stays
        only as the row behind its empty output, for a loop that reads that output (the
        backward loop reading a stored shape: zeros would give it a wrong one). Where the
        probe step fails, the sizes the types do not know are 0.
        """
        op = self.op
        types = [o.type for o in op.inner_outputs[op.n_carries: op.n_carries + op.n_ys]]
        shapes = [tuple(s or 0 for s in t.shape) for t in types]
        try:
            with np.errstate(all="ignore"):
                outs, _ = self.linked.run(*[copy.deepcopy(r) for r in reads])
        except Exception:  # the probe step's values may be invalid (an index, an assert)
            return [np.empty((0,) + s, dtype=t.dtype) for s, t in zip(shapes, types)]
        ys = []
        for m, t in zip(outs[op.n_carries: op.n_carries + op.n_ys], types):
            row = np.empty((1,) + np.shape(m), dtype=t.dtype)  # the probed row kept behind
            row[0] = m
            ys.append(row[:0])
        return ys

    def shape_error(self, k, value, expected, t):
        label = self.op.labels[k]
        fed = "it is fed back, so it must keep the shape of its initial value" \
            if k < self.op.n_carries else "every step must return the same shape"
        raise ValueError(f"{self._where()}, step {t}: {label} has shape {np.shape(value)} "
                         f"but {tuple(expected)} is expected ({fed})")

    def step_error(self, e, t):
        node = failing_node(self.linked, e.__traceback__)
        inner = ""
        if node is not None and node.trace not in str(e):
            inner = f"; in {node.op} created at {node.trace}"
        msg = f"{self._where()}, step {t}: {e}{inner}"
        try:
            new = type(e)(msg)
        except Exception:
            new = RuntimeError(msg)
        return new


def _is_tensor(op, c):
    return isinstance(op.state_type(c), TensorType)


def loop_source(op, until=False):
    """The source of the loop function for ``op`` (see the module docstring).

    With ``until``, the inner function returns one more value, the stop condition: the
    loop ends after the first step where it is true, and returns its outputs cut to the
    steps run, followed by that number of steps.
    """
    ns, nc, nk = op.n_seqs, op.n_carries, op.n_consts
    args = ["n_steps"] + [f"s{i}" for i in range(ns)] + [f"c{c}" for c in range(nc)] + \
        [f"k{i}" for i in range(nk)]
    head = ["    T = _ctx.n_steps(n_steps)"]
    head += [f"    _ctx.check_seq(s{i}, T, {i})" for i in range(ns)]
    reads = [f"s{i}[t]" for i in range(ns)]
    writes, finals = [], []
    for c, (taps, keep, L) in enumerate(zip(op.carry_taps, op.carry_keep, op.windows)):
        tensor = _is_tensor(op, c)
        if keep:
            head += [f"    b{c} = _ctx.trace_buffer(c{c}, {c}, T)", f"    sh{c} = b{c}.shape[1:]"]
            reads += [f"b{c}[t + {L + k}]" for k in taps]
            writes.append(f"        b{c}[t + {L}] = n{c}")
            finals.append(f"b{c}")
        elif taps == (-1,):
            head.append(f"    w{c} = c{c}")
            if tensor:
                head.append(f"    sh{c} = np.shape(c{c})")
            reads.append(f"w{c}")
            writes.append(f"        w{c} = n{c}")
            finals.append(f"_ctx.final(w{c})")
        else:
            head += [f"    w{c} = _ctx.window(c{c}, {c})", f"    sh{c} = np.shape(w{c}[0])"]
            reads += [f"w{c}[{L + k}]" for k in taps]
            writes.append(f"        w{c}.append(n{c}); del w{c}[0]")
            finals.append(f"_ctx.stack(w{c})")
        if tensor:
            writes.insert(len(writes) - 1, f"        if n{c}.shape != sh{c}:\n"
                                           f"            _ctx.shape_error({c}, n{c}, sh{c}, t)")
    reads += [f"k{i}" for i in range(nk)]
    for j in range(op.n_ys):
        head.append(f"    y{j} = ysh{j} = None")
        writes += [f"        if y{j} is None:",
                   f"            y{j} = _ctx.alloc_y({j}, m{j}, T)",
                   f"            ysh{j} = m{j}.shape",
                   f"        elif m{j}.shape != ysh{j}:",
                   f"            _ctx.shape_error({nc + j}, m{j}, ysh{j}, t)",
                   f"        y{j}[t] = m{j}"]
        finals.append(f"y{j}")
    outs = [f"n{c}" for c in range(nc)] + [f"m{j}" for j in range(op.n_ys)]
    if until:
        outs.append("stop")
        head.append("    R = T")  # the steps run
        writes += ["        if stop:", "            R = t + 1", "            break"]
        finals = [_cut(f, c, op) for c, f in enumerate(finals)] + ["np.array(R, np.int64)"]
    body = ["    for t in range(T):", "        try:",
            f"            ({', '.join(outs)},), _ = _inner({', '.join(reads)})",
            "        except Exception as e:",
            "            raise _ctx.step_error(e, t) from e"] + writes
    tail = []
    if op.n_ys:  # no step ran (T == 0; with until, R >= 1 once a step runs)
        probe = [f"_ctx.seq_row(s{i})" for i in range(ns)] + reads[ns:]
        ys = "".join(f"y{j}, " for j in range(op.n_ys))
        tail.append(f"    if y0 is None:\n        t = 0\n"
                    f"        {ys}= _ctx.empty_ys([{', '.join(probe)}])")
    tail.append(f"    return ({', '.join(finals)},)")
    return f"def scan_loop({', '.join(args)}):\n" + "\n".join(head + body + tail) + "\n"


def _cut(final, k, op):
    """A final value cut to the ``R`` steps run: traces keep their initial window."""
    if k < op.n_carries:
        return f"{final}[:{op.windows[k]} + R]" if op.carry_keep[k] else final
    return f"{final}[:R]"


def make_loop(op, fn, trace, until=False):
    """The callable running ``op``'s loop with the compiled inner function ``fn`` (which
    returns the stop condition last when ``until``)."""
    attr = "_loop_code_until" if until else "_loop_code"
    code = getattr(op, attr, None)
    if code is None:
        code = compile(loop_source(op, until), f"<scan loop {op.name or id(op)}>", "exec")
        setattr(op, attr, code)
    linked = fn._linked
    env = {"np": np, "_inner": linked.run, "_ctx": _Context(op, linked, trace)}
    exec(code, env)
    return env["scan_loop"]
