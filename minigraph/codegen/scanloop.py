"""Compiled scan loops: a whole ``Scan`` (every step, every node) as one Numba function.

The interpreted loop (``minigraph/scan/loop.py``) calls the step's compiled Python function
once per step, and that function calls one Python callable per node. Here the step's
optimised graph (the scan's inner function, after fusion) is written out as Numba source
instead, node by node through :mod:`minigraph.codegen.templates`, inside one ``for t`` loop
that reads the sequences' rows and the carries' taps, and writes the traces and per-step
outputs into arrays; products call BLAS by symbol, elementwise regions are inlined loops.
No Python runs between steps, and buffers are reused from step to step.

When it runs (``POLICY``): a scan's loop is generated on its first call; if every node has a
template, it compiles (in a background thread, while the interpreted loop serves) once the
loop has been called ``compile_after_calls`` times; the compiled module is cached on disk
like fused kernels, so a later process loads it. A loop with a node that has no template,
a ``ScanUntil``, or a Numba failure keeps running interpreted; ``loop_state(op)`` says which
and why, and ``debugprint`` / ``profile`` show it.

Errors: the compiled code checks every size it relies on and raises with a short message;
the call is then run again by the interpreted loop, which raises the full error (naming the
step and the user's line). The compiled loop writes only into arrays it made, so the rerun
starts from the same inputs.
"""

import atexit
import collections
import os
import sys
import threading
import warnings

import numpy as np

from kernels.workspace import SHARED as WORKSPACE
from kernels.workspace import fresh_empty
from minigraph.graph.basic import Constant

from .emitter import Emitter, Unsupported, Val, assign, check_same, np_dtype


class LoopPolicy:
    """When scan loops are compiled (``scanloop.POLICY``).

    Parameters
    ----------
    enabled : bool
        False runs every loop interpreted.
    compile_after_calls : int
        Calls of a loop made interpreted before it is compiled (0: compile at the first).
    background : bool
        Compile in a background thread while the interpreted loop serves (False: at the
        call that makes it hot, the tests' deterministic switch).
    row_fusion : bool
        Merge consecutive loop nests of a step over the same rows into one pass
        (``codegen/rows.py``). Off: measured on this 2-core machine, the merged loops ran
        slower than the separate nests (the small LSTM char-RNN's gradient loop 52 ms
        against 38 ms on one thread; Gorner's within noise, prange or not: docs/codegen.md,
        "Row fusion"). On for experiments and its tests.
    parallel_min_elements : int or None
        With ``row_fusion``, a loop runs its passes over rows as ``numba.prange`` loops
        when Numba has more than one thread and a sequence's step or a carry holds at least
        this many elements at the call that generates it. 0: always, on any thread count
        (tests); None: never.
    """

    def __init__(self, enabled=True, compile_after_calls=2, background=True,
                 row_fusion=False, parallel_min_elements=1 << 17):
        self.enabled = enabled
        self.compile_after_calls = compile_after_calls
        self.background = background
        self.row_fusion = row_fusion
        self.parallel_min_elements = parallel_min_elements


def _policy_from_env():
    """``$MINIGRAPH_COMPILE_LOOPS``: ``off`` (never), ``eager`` (every loop at its first
    call, in the calling thread: to run a test suite through compiled loops), else the
    defaults."""
    mode = os.environ.get("MINIGRAPH_COMPILE_LOOPS", "auto")
    if mode == "off":
        return LoopPolicy(enabled=False)
    if mode == "eager":
        return LoopPolicy(compile_after_calls=0, background=False)
    return LoopPolicy()


POLICY = _policy_from_env()


def _dtype_ok(t):
    return getattr(t, "dtype", None) in ("bool", "int8", "int16", "int32", "int64", "uint8",
                                         "uint16", "uint32", "uint64", "float32", "float64")


def loop_source(op, fgraph, until=False, rows=False, parallel=False):
    """``(source, constants)``: the Numba source of ``op``'s loop (a function
    ``scan_loop(T, sequences..., carries..., consts..., constants...)``, where each sequence
    is an array with the index of the row of step 0 and the direction, +1 or -1: a reversed
    view, as a backward loop reads its forward loop's values, is read in place) for its step graph
    ``fgraph``, and the inner graph's constants it takes as arguments; Unsupported when a
    node has no template. With ``until``, the step's last output is a stop condition: the
    loop ends after the first step where it is true and returns its outputs cut to the steps
    run, then that number (as ``ScanUntil``). With ``rows``, consecutive loop nests over the
    same rows are merged (``codegen/rows.py``), as ``numba.prange`` loops with ``parallel``."""
    from .rows import fuse_rows
    from .templates import emit_node

    ns, nc, nk = op.n_seqs, op.n_carries, op.n_consts
    for v in fgraph.inputs + fgraph.outputs:
        if not _dtype_ok(v.type):
            raise Unsupported(f"a value of type {v.type}")
    em = Emitter(indent=2)
    vals = {}
    ph = fgraph.inputs  # the step's placeholders, in the op's order
    if len(ph) != len(op.inner_inputs):
        raise Unsupported("a step function whose inputs are not the scan's placeholders")
    outputs = fgraph.outputs[:-1] if until else fgraph.outputs
    _destinations(em, op, fgraph, outputs)
    for i in range(ns):  # row t of each sequence: o{i} + d{i} * t of its array
        em.line(f"r{i} = o{i} + d{i} * t")
        vals[ph[i]] = _row(em, f"s{i}", f"r{i}", ph[i])
    k, head = ns, []
    for c, (taps, keep) in enumerate(zip(op.carry_taps, op.carry_keep)):
        L, st = op.windows[c], op.state_type(c)
        if not keep and taps != (-1,):
            raise Unsupported("a carry with several taps that keeps no trace")
        for tap in taps:
            if keep:
                vals[ph[k]] = _row(em, f"c{c}", f"t + {L + tap}", ph[k])
            elif st.ndim:
                vals[ph[k]] = Val.array(f"w{c}", st.ndim, st.dtype)
            else:
                vals[ph[k]] = Val.scalar(f"w{c}", st.dtype)
            k += 1
        if not keep:
            head.append(f"    w{c} = c{c}")
            if st.ndim:
                head.append(f"    w{c}n = np.empty_like(c{c})")
    for i in range(nk):
        v = ph[k + i]
        vals[v] = Val.array(f"k{i}", v.ndim, v.dtype) if v.ndim else Val.scalar(f"k{i}", v.dtype)
    constants = []
    for node in fgraph.toposort():
        for v in node.inputs:
            if v not in vals:
                if not isinstance(v, Constant) or not _dtype_ok(v.type):
                    raise Unsupported(f"an input {v} of the step that is not a constant")
                name = f"q{len(constants)}"
                constants.append(v)
                vals[v] = Val.array(name, v.ndim, v.dtype) if v.ndim else Val.scalar(name,
                                                                                     v.dtype)
        outs = emit_node(em, node, [vals[v] for v in node.inputs])
        vals.update(zip(node.outputs, outs))
    for v in fgraph.outputs:
        if v not in vals:  # an output that is a constant the step never read
            if not isinstance(v, Constant):
                raise Unsupported(f"an output {v} of the step that is not computed")
            name = f"q{len(constants)}"
            constants.append(v)
            vals[v] = Val.array(name, v.ndim, v.dtype) if v.ndim else Val.scalar(name, v.dtype)
    _write_outputs(em, op, [vals[v] for v in outputs], outputs)
    finals = [f"c{c}" if op.carry_keep[c] else f"w{c}" for c in range(nc)] + \
        [f"y{j}" for j in range(op.n_ys)]
    if until:
        stop = vals[fgraph.outputs[-1]]
        if not stop.is_scalar:
            raise Unsupported("a stop condition held in an array")
        em.pre.append("R = T")  # the steps run
        em.lines([f"if {stop.name}:", "    R = t + 1", "    break"])
        finals = [f"{f}[:{op.windows[c]} + R]" if c < nc and op.carry_keep[c] else
                  f if c < nc else f"{f}[:R]" for c, f in enumerate(finals)] + ["R"]
    passes = len(em.nests)
    if rows:
        em.body, passes = fuse_rows(em.body, em.nests, parallel)
    for j in range(op.n_ys):
        t = op.inner_outputs[nc + j].type
        em.pre.append(f"y{j} = np.empty(({'0, ' * (t.ndim + 1)}), {np_dtype(t.dtype)})")
    args = ["T"] + [f"{p}{i}" for i in range(ns) for p in "sod"] + \
        [f"c{c}" for c in range(nc)] + \
        [f"k{i}" for i in range(nk)] + [f"q{j}" for j in range(len(constants))] + \
        [f"m{j}" for j in range(op.n_ys)] + ["mz", "zs"]
    src = [f"# minigraph scan loop {op.name or ''}",
           f"# row fusion (codegen/rows.py): {len(em.nests)} loop nests in {passes} passes"
           if rows else f"# row fusion (codegen/rows.py): off, {len(em.nests)} loop nests",
           "import numba", "import numpy as np",
           "from minigraph.codegen import blas as _blas",
           "from minigraph.codegen import runtime as _rt"] + list(em.prelude)
    src += ["", "", f"def scan_loop({', '.join(args)}):"] + head
    src += ["    " + p for p in em.pre]
    src += ["    for t in range(T):"] + em.body
    src += [f"    return ({', '.join(finals)},)"]
    return "\n".join(src) + "\n", constants


def _destinations(em, op, fgraph, outputs):
    """Let the nodes computing a carry's new value or a per-step output write it straight
    into the loop's storage (``Emitter.output``): the trace row ``c{c}[t + L]``, the next
    buffer ``w{c}n`` of a carry without trace, or row ``t`` of ``y{j}``."""
    from .templates_shape import IDENTITIES

    produced = {o for node in fgraph.toposort() for o in node.outputs}
    nc = op.n_carries
    for k, var in enumerate(outputs):
        # through identities (the SpecifyShape a gradient puts on its output): the node
        # computing their input writes the storage, and they return that view
        while var.owner is not None and isinstance(var.owner.op, IDENTITIES) and \
                var.owner.inputs[0] in produced and var.owner.inputs[0] not in outputs:
            var = var.owner.inputs[0]
        if var not in produced or var in em.dests or var.ndim == 0:
            continue
        if k < nc:
            st, L = op.state_type(k), op.windows[k]
            row = Val.row(f"c{k}", f"t + {L}", st.ndim, st.dtype) if op.carry_keep[k] \
                else Val.array(f"w{k}n", st.ndim, st.dtype)
            em.dests[var] = _carry_dest(op, k, row)
        else:
            em.dests[var] = _y_dest(op, k - nc)
        em.dest_of[var] = k


def _carry_dest(op, c, row):
    def dest(em, shape):
        for d, n in enumerate(shape):
            check_same(em, n, row.shape[d], f"scan: {op.labels[c]} changed shape")
        return row
    return dest


def _y_dest(op, j):
    def dest(em, shape):
        _alloc_y(em, op, j, shape)
        t = op.inner_outputs[op.n_carries + j].type
        return Val.row(f"y{j}", "t", t.ndim, t.dtype)
    return dest


def _row(em, name, index, ph):
    if ph.ndim == 0:
        s = em.fresh("s")
        em.line(f"{s} = {name}[{index}]")
        return Val.scalar(s, ph.dtype)
    return Val.row(name, index, ph.ndim, ph.dtype)


def _write_outputs(em, op, outs, vars_):
    """Store each per-step output and each carry's new value of step ``t``. Every value is
    read before any carry is replaced (an output may be a carry's old value, and carries
    may swap), so the new values go to ``w{c}n`` first and are swapped in at the end."""
    nc = op.n_carries
    written = {em.dest_of[v] for v in em.claimed}  # outputs their nodes wrote in place
    for j in range(op.n_ys):
        if nc + j not in written:
            _write_y(em, op, j, outs[nc + j])
    swaps = []
    for c in range(nc):
        v, st, L = outs[c], op.state_type(c), op.windows[c]
        if c in written:
            if not op.carry_keep[c]:
                swaps.append(f"w{c}, w{c}n = w{c}n, w{c}")
            continue
        if not op.carry_keep[c] and st.ndim == 0:
            em.line(f"w{c}n = {_scalar(em, v, st.dtype)}")
            swaps.append(f"w{c} = w{c}n")
            continue
        if v.is_scalar:  # a rank-0 state kept as a trace
            em.line(f"c{c}[t + {L}] = {v.name}")
            continue
        dst = Val.row(f"c{c}", f"t + {L}", st.ndim, st.dtype) if op.carry_keep[c] else \
            Val.array(f"w{c}n", st.ndim, st.dtype)
        for d in range(st.ndim):
            check_same(em, v.shape[d], dst.shape[d], f"scan: {op.labels[c]} changed shape")
        assign(em, dst, v)
        if not op.carry_keep[c]:
            swaps.append(f"w{c}, w{c}n = w{c}n, w{c}")
    em.lines(swaps)


def _write_y(em, op, j, v):
    t = op.inner_outputs[op.n_carries + j].type
    shape = [] if v.is_scalar else em.sizes(v.shape)
    _alloc_y(em, op, j, shape)
    if t.ndim == 0:
        em.line(f"y{j}[t] = {_scalar(em, v, t.dtype)}")
    else:
        assign(em, Val.row(f"y{j}", "t", t.ndim, t.dtype), v)


def _alloc_y(em, op, j, shape):
    """Lines making ``y{j}`` at step 0 from the first step's shape, and checking it at the
    others (declared before the loop: ``loop_source``)."""
    t = op.inner_outputs[op.n_carries + j].type
    tup = "(T, " + "".join(f"{s}, " for s in shape) + ")"
    size = em.fresh("nb")
    dt = np_dtype(t.dtype)
    # in the call's memory block m{j} when it is large enough (CompiledLoop.run): its pages
    # are mapped from an earlier call, where a fresh array faults on each first touch
    em.lines(["if t == 0:",
              f"    {size} = T * {' * '.join(str(s) for s in shape) or '1'} * "
              f"{np.dtype(t.dtype).itemsize}",
              f"    if m{j}.size >= {size}:",
              f"        y{j} = m{j}[:{size}].view({dt}).reshape({tup})",
              "    else:",
              f"        y{j} = np.empty({tup}, {dt})"])
    for d, s in enumerate(shape):
        check_same(em, s, f"y{j}.shape[{d + 1}]", f"scan: {op.labels[op.n_carries + j]} "
                                                  "changed shape")


def _scalar(em, v, dtype):
    if not v.is_scalar:
        raise Unsupported("a rank-0 value held in an array")
    return f"{np_dtype(dtype)}({v.name})"


# ---- compiling and running --------------------------------------------------------------


class CompiledLoop:
    """The compiled form of one Scan op: its state, and the Numba function once ready."""

    def __init__(self, op):
        self._state = None
        self.until = getattr(op, "scan", op) is not op  # a ScanUntil: op.scan is its loop
        self.op, self.calls, self.fn, self.source = getattr(op, "scan", op), 0, None, None
        self.owner = op
        self.state, self.constants, self.pending = "not run yet", [], None
        self.failed, self._types = False, None
        self.y_bytes = [0] * self.op.n_ys  # each y's size at the last call (run)
        self.z_bytes = 0  # the step's buffers' bytes at the last call (run)

    @property
    def state(self):
        return self._state

    @state.setter
    def state(self, value):  # counted for loop_report, over every loop of the process
        if self._state is not None:
            _STATES[self._state] -= 1
        _STATES[value] += 1
        self._state = value

    def prepare(self, args=()):
        """Generate the source (once, from the first call's ``args``: the Scan node's
        inputs after the step count, whose sizes choose ``parallel``); False when the loop
        cannot be compiled."""
        if self.failed:
            return False
        if self.source is not None:
            return True
        from . import blas

        try:
            if not blas.available():
                raise Unsupported("no CBLAS symbols in NumPy's BLAS")
            inner = self.owner._compiled if self.until else self.op.compiled()
            self.source, consts = loop_source(self.op, inner.fgraph, self.until,
                                              POLICY.row_fusion, _parallel(self.op, args))
            self.constants = [_argument(c.data, c.type) for c in consts]
            self.state = "interpreted: not hot yet"
            return True
        except Unsupported as e:
            self.state, self.failed = f"interpreted: {e}", True
            return False
        except Exception as e:  # a template's bug: the loop still runs, interpreted
            self.failed = True
            self.state = f"interpreted: generating it failed ({type(e).__name__})"
            warnings.warn(f"scan {self.op.name or ''}: generating its loop failed "
                          f"({type(e).__name__}: {str(e)[:300]}); it runs interpreted",
                          RuntimeWarning, stacklevel=2)
            return False

    def hot(self, args=()):
        """True when the compiled function should run (starting its compile if due);
        ``args``: the call's inputs after the step count (:meth:`prepare`)."""
        if not POLICY.enabled:  # checked first: turning loops off also stops compiled ones
            return False
        if self.fn is not None:
            return True
        if self.pending is not None or not self.prepare(args):
            return False
        self.calls += 1
        if self.calls <= POLICY.compile_after_calls:
            return False
        if POLICY.background:
            self.state = "compiling"
            self.pending = threading.Thread(target=self._build, daemon=True,
                                            name=f"minigraph-compile scan {self.op.name}")
            from minigraph.tensor.fused_kernels import _BACKGROUND

            _BACKGROUND.append(self.pending)
            self.pending.start()
            return False
        self._build()
        return self.fn is not None

    def _build(self):
        try:
            from .cache import load

            fn = load(self.source, "minigraph_loop", "scan_loop",
                      parallel="numba.prange(" in self.source)
            # Numba's SSA pass recurses once per block along a dominator chain: a long loop
            # body raised RecursionError under a deep caller (pytest), so allow more frames
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 20000))
            try:
                fn.compile(self.signature())
            finally:
                sys.setrecursionlimit(old)
            self.fn = fn
            self.state = "compiled"
        except Exception as e:  # Numba could not type or lower it: stay interpreted
            self.failed = True
            self.state = f"interpreted: Numba failed ({type(e).__name__})"
            warnings.warn(f"scan {self.op.name or ''}: compiling its loop failed "
                          f"({type(e).__name__}: {str(e)[:300]}); it runs interpreted",
                          RuntimeWarning, stacklevel=2)
        finally:
            self.pending = None

    def signature(self):
        """The Numba argument types of every call (C-contiguous arrays, scalars)."""
        import numba

        op = self.op
        types = [numba.int64]
        for ph in op.seq_placeholders():
            types += [numba.types.Array(numba.from_dtype(np.dtype(ph.dtype)), ph.ndim + 1,
                                        "C"), numba.int64, numba.int64]
        for c in range(op.n_carries):
            st = op.state_type(c)
            nd = st.ndim + (1 if op.carry_keep[c] else 0)
            dt = numba.from_dtype(np.dtype(st.dtype))
            types.append(numba.types.Array(dt, nd, "C") if nd else dt)
        for v in op.const_placeholders():
            dt = numba.from_dtype(np.dtype(v.dtype))
            types.append(numba.types.Array(dt, v.ndim, "C") if v.ndim else dt)
        for c in self.constants:
            types.append(numba.typeof(c))
        types += [numba.types.Array(numba.uint8, 1, "C")] * op.n_ys  # memory for the ys
        # the step's buffers' scratch memory, and its [handed out, asked for] (runtime.scratch)
        types += [numba.types.Array(numba.uint8, 1, "C"), numba.types.Array(numba.int64, 1, "C")]
        return tuple(types)

    def disagreed(self, e):
        """The compiled loop raised ``e`` where the interpreted one ran: a bug of the
        generator. The loop runs interpreted from now on (rather than twice per call, with
        its state still saying ``compiled``), and says why."""
        self.fn, self.failed = None, True
        self.state = f"interpreted: the compiled loop raised {type(e).__name__} where the " \
            "interpreted one ran"
        warnings.warn(f"scan {self.op.name or ''}: its compiled loop raised "
                      f"{type(e).__name__}: {str(e)[:300]}, the interpreted loop did not; it "
                      "runs interpreted", RuntimeWarning, stacklevel=3)

    def run(self, ctx, n, seqs, inits, consts):
        """The loop's outputs, as the interpreted loop returns them."""
        if self._types is None:  # looked up once: a small loop's call is microseconds
            op = self.op
            seq_types = [ph.type for ph in op.seq_placeholders()]
            carry_types = [(op.carry_keep[c], op.state_type(c), op.carry_taps[c] == (-1,))
                           for c in range(op.n_carries)]
            const_types = [ph.type for ph in op.const_placeholders()]
            self._types = ([(t, np.dtype(t.dtype)) for t in seq_types],
                           [(keep, st, np.dtype(st.dtype), one_tap)
                            for keep, st, one_tap in carry_types],
                           [(t, np.dtype(t.dtype), t.ndim == 0) for t in const_types],
                           any(not keep and not st.ndim for keep, st, _ in carry_types))
        seq_types, carry_types, const_types, rank0_finals = self._types
        ndarray = np.ndarray
        small = WORKSPACE.min_bytes  # below it the workspace gives np.empty: asked directly
        args = [n]
        # arrays the loop can take as they are (see _argument, _sequence) skip those helpers:
        # the same tests, without their per-call type lookups
        for s, (t, dt) in zip(seqs, seq_types):
            if type(s) is ndarray and s.dtype == dt and s.ndim and len(s):
                back = s.strides[0] < 0  # a reversed view, read backwards in place
                r = s[::-1] if back else s
                fl = r.flags
                if fl.c_contiguous and fl.writeable and fl.aligned:
                    args += (r, len(s) - 1, -1) if back else (s, 0, 1)
                    continue
            args += _sequence(s, t)
        for c, (init, (keep, st, dt, one_tap)) in enumerate(zip(inits, carry_types)):
            if keep and one_tap:  # ctx.trace_buffer's common case: one row, then n
                init = np.asarray(init)
                shape = (1 + n,) + init.shape
                size = init.nbytes * (1 + n)
                buf = WORKSPACE.empty(shape, dt) if small <= size <= KEPT_MAX_BYTES \
                    else fresh_empty(shape, dt)
                buf[:1] = init[None]
                args.append(buf)
            else:
                args.append(ctx.trace_buffer(init, c, n) if keep else
                            _argument(init, st, copy=True))
        for k, (t, dt, scalar) in zip(consts, const_types):
            if not scalar and type(k) is ndarray and k.dtype == dt:
                fl = k.flags
                if fl.c_contiguous and fl.writeable and fl.aligned:
                    args.append(k)
                    continue
            args.append(_argument(k, t))
        # the ys' memory, as large as last call's ys: blocks of the shared workspace
        # (kernels/workspace.py), free again once the caller dropped those (views included),
        # or bigger fresh ones on transparent huge pages (kernels/workspace.py's fresh_empty:
        # one fault per 2 MB instead of per 4 kB; Numba's own np.empty does not ask)
        # and the step's buffers, in one scratch block as large as last call's
        # (runtime.scratch; zs: its bytes handed out and asked for)
        sizes, zs = self.y_bytes, np.zeros(2, np.int64)
        outs = self.fn(*args, *self.constants, *[_block(b, small) for b in sizes],
                       _block(self.z_bytes, small), zs)
        self.z_bytes = int(zs[1])
        ys = outs[self.op.n_carries:self.op.n_carries + len(sizes)]
        self.y_bytes = [y.nbytes if isinstance(y, np.ndarray) else 0 for y in ys]
        if rank0_finals:
            outs = tuple(np.asarray(o, dtype=carry_types[c][1].dtype)
                         if c < len(carry_types) and not isinstance(o, np.ndarray) else o
                         for c, o in enumerate(outs))
        if self.until:  # the number of steps run, as the interpreted loop returns it
            outs = outs[:-1] + (np.array(outs[-1], np.int64),)
        return outs


_NO_BYTES = np.empty(0, np.uint8)  # a y's memory block at its loop's first call: none


def _block(nbytes, small):
    """``nbytes`` of uint8 for a loop's ys or scratch: none, plain below the workspace's
    smallest (`small`), a workspace block up to `KEPT_MAX_BYTES`, else fresh huge pages (a
    call's memory plan serves the last two inside a function call, kernels/memplan.py)."""
    if not nbytes:
        return _NO_BYTES
    if nbytes < small:
        return np.empty(nbytes, np.uint8)
    if nbytes <= KEPT_MAX_BYTES:
        return WORKSPACE.empty((nbytes,), np.uint8)
    return fresh_empty((nbytes,), np.uint8)

# Traces and ys of 1 MB (the workspace's smallest) up to this size live in the shared
# workspace's blocks, whose pages stay mapped between calls; bigger ones are fresh arrays,
# whose pages fault on first touch each call (models/charrnn/cli.py's tune_malloc returns
# freed big arrays to the system). Measured on the LSTM char-RNN, 2 threads, against the
# same code with fresh arrays (benchmarks/charrnn.py --baseline): the small model 1.11x
# (peak 235 -> 233 MB), Gorner's 1.02x (779 -> 782 MB); with 16 MB they were 1.23x and
# 1.08x, but Gorner's peak grew to 864 MB (blocks idle between phases of the step).
KEPT_MAX_BYTES = 8 << 20
# Bigger ys get a fresh block from NumPy, which asks for transparent huge pages from 4 MB:
# a 13 MB block faulted in 0.9 ms against 6.8 ms allocated by Numba (with tune_malloc). An
# earlier cap at 32 MB (after one run of Gorner's LSTM char-RNN at 0.83x with it at 64 MB)
# left the gradient loops' biggest outputs to Numba's np.empty; without it, captured
# arguments, GEMMs removed, medians: the LSTM char-RNN's Gorner gradient loop 53 -> 39 ms
# (with its GEMMs 139 -> 121 ms), the plain-ops GRU's at B200/H512 41.5 -> 20.6 ms, the
# peephole cell's 36 -> 21 ms; whole steps (benchmarks/custom_cell.py's models, alternated
# in one run): GRU 0.90x, peephole 0.95x the time. Gorner's LSTM char-RNN did not resolve
# from the noise: 0.97x and 0.88x the speed of the capped code in two runs of
# benchmarks/charrnn.py --baseline, 1.03x and 1.10x its median time alternated in one process.


def _parallel(op, args):
    """Whether the loop of ``op`` is generated with ``numba.prange`` passes
    (``LoopPolicy.parallel_min_elements``), from a call's inputs after the step count: the
    largest step of a sequence, or carry kept as a trace (the batch's state; the gradient
    loop's weight sums are carries too, but not per row of the batch)."""
    least = POLICY.parallel_min_elements
    if least is None or not POLICY.row_fusion:
        return False
    if least == 0:
        return True
    import numba

    if numba.get_num_threads() < 2:
        return False
    ns = op.n_seqs
    sizes = [np.size(s) // max(len(s), 1) for s in args[:ns] if np.ndim(s)]
    sizes += [np.size(c) for c, keep in zip(args[ns:ns + op.n_carries], op.carry_keep) if keep]
    return max(sizes, default=0) >= least


def _argument(x, t, rows=False, copy=False):
    """``x`` as the compiled loop takes it: a writeable C-contiguous array of the type's
    dtype, or a scalar of it for a rank-0 value."""
    dtype = t.numpy_dtype if hasattr(t, "numpy_dtype") else np.dtype(t.dtype)
    if not rows and t.ndim == 0:
        return dtype.type(np.asarray(x).reshape(())[()])
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    flags = x.flags
    if copy or not (flags.c_contiguous and flags.writeable and flags.aligned) or \
            x.dtype != dtype:
        x = np.array(x, dtype=dtype, order="C", copy=True)
    return x


def _sequence(s, t):
    """``(array, row of step 0, direction)`` of a sequence: a reversed view of a
    C-contiguous array is read backwards in place, anything else not C-contiguous is
    copied."""
    s = np.asarray(s)
    if s.ndim and s.strides[0] < 0 and len(s):
        r = s[::-1]
        if r.flags.c_contiguous and r.flags.writeable and r.flags.aligned and \
                r.dtype == np.dtype(t.dtype):
            return [r, len(s) - 1, -1]
    return [_argument(s, t, rows=True), 0, 1]


_STATES = collections.Counter()  # state -> loops in it, over the whole process


def loop_report():
    """``{state: count}`` over the scan loops this process has made, alive or not (see
    :func:`loop_state`).

    Examples
    --------
    >>> isinstance(loop_report(), dict)
    True
    """
    return {k: n for k, n in _STATES.items() if n > 0}


@atexit.register
def _report_at_exit():
    if os.environ.get("MINIGRAPH_LOOP_REPORT"):  # which loops compiled, over a whole run
        for state, n in sorted(loop_report().items()):
            print(f"minigraph loops: {n:5d} {state}", file=sys.stderr)


def loop_state(op):
    """How the loop of Scan ``op`` runs: ``compiled``, ``compiling``, ``interpreted: <why>``
    or ``not run yet``.

    Examples
    --------
    >>> import minigraph as theano, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> s, _ = theano.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0))
    >>> loop_state(s.owner.op)
    'not run yet'
    """
    loop = getattr(op, "_codegen", None)
    if loop is None:
        return "not run yet"
    if loop.state == "compiled" and not POLICY.enabled:  # compiled, but not used
        return "interpreted: compiled loops are off (POLICY)"
    return loop.state


def compiled_runner(op, interpreted, trace):
    """The callable a Scan node runs: the compiled loop when it is ready, else
    ``interpreted`` (the generated Python loop of ``minigraph/scan/loop.py``)."""
    from minigraph.scan.loop import _Context

    if getattr(op, "_codegen", None) is None:
        op._codegen = CompiledLoop(op)
    loop = op._codegen
    ctx = _Context(loop.op, None, trace)
    ns, nc = loop.op.n_seqs, loop.op.n_carries

    def run(n_steps, *args):
        if not loop.hot(args):
            return interpreted(n_steps, *args)
        seqs, inits, consts = args[:ns], args[ns:ns + nc], args[ns + nc:]
        try:
            n = ctx.n_steps(n_steps)
            for i, s in enumerate(seqs):
                if len(s) < n:
                    ctx.check_seq(s, n, i)  # raises
            if n:
                return loop.run(ctx, n, seqs, inits, consts)
        except Exception as e:  # the interpreted loop raises the full error...
            out = interpreted(n_steps, *args)
            loop.disagreed(e)  # ...or runs: then the compiled loop is wrong
            return out
        return interpreted(n_steps, *args)  # no step: it learns the ys' row shapes

    return run
