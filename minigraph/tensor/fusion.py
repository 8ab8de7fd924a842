"""Elementwise fusion: a chain of ``Elemwise`` nodes becomes one ``FusedElemwise`` node.

The ``fusion`` pass groups connected elementwise nodes (convex groups only: no path leaves a
group and comes back) and replaces each group by one node whose *program* is the group's
scalar graph. The node runs in one of two ways, chosen per call:

* the NumPy composite (``perform``): the table's NumPy functions step by step, bitwise equal
  to the unfused graph. Cold kernels and small workloads run here, so tests and one-off
  evaluations never pay Numba's compile time (~0.2 s a kernel, ~0.8 s for Numba's start-up);
* one Numba loop generated from the scalar table's code templates, once the kernel is hot
  (``POLICY.compile_after`` element-operations or ``POLICY.compile_after_calls`` calls done
  in NumPy, summed over every node sharing the kernel); it compiles in a background thread
  while the composite serves, and large outputs run it split across Numba's threads.
  Kernels are cached in-process by program and on disk
  (``~/.cache/minigraph/fusion``, or ``$MINIGRAPH_CACHE_DIR``): the generated source is
  written once and compiled with ``njit(cache=True)``, so a later process loads it in ~5 ms.
  The generator, both caches and ``POLICY`` live in :mod:`.fused_kernels` (re-exported here:
  ``fusion.POLICY``, ``kernel_source``, ``cache_dir``, ``kernel_cache_info``).

float32 ``sin``/``cos`` are left out of groups: Numba calls scalar libm for them, 6-7x
slower than NumPy's SIMD loops (measured, 1M elements), which fusion cannot win back;
``exp``, ``log``, ``tanh``, ``sigmoid``... run the vectorisable ``kernels/vecmath.py``.
The in-place and buffer-reuse passes that run after fusion live in :mod:`.inplace`.
"""

import heapq
import math

import numpy as np

from minigraph.gradient import grad
from minigraph.graph.basic import Apply, GraphError
from minigraph.graph.op import Op
from minigraph.graph.rewriting import GraphPass
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable
from .buffers import claim_buffer
from .elemwise import Elemwise, _broadcast_shapes
from .fused_kernels import (  # noqa: F401  (re-exported: fusion.POLICY, fusion._load, ...)
    _KERNELS, POLICY, FusionPolicy, _kernel, _load, cache_dir, flat_ok, kernel_cache_info,
    kernel_source, parallel_threads, run_split, wait_for_compiles)

_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float32", "float64"}
# (op, output dtype) kept out of groups: float32 sin/cos (see above); round of bools,
# which Numba's np.round does not type
_NOT_FUSED = {("sin", "float32"), ("cos", "float32"), ("round", "bool")}


def _ufunc_result(fn, dtypes):
    """The dtype NumPy's ufunc ``fn`` computes for arrays of ``dtypes`` (None if no ufunc)."""
    if not isinstance(fn, np.ufunc):
        return None
    try:
        return fn.resolve_dtypes(tuple(np.dtype(d) for d in dtypes) + (None,))[-1].name
    except (TypeError, ValueError):
        return None


class Program:
    """A scalar graph: ``in_types`` ((dtype, broadcastable) per input), ``steps``
    ((scalar_op, argument indices, dtype) each; index ``i < n_in`` is input ``i``, larger
    ones are earlier steps) and ``outputs`` (the value indices returned)."""

    def __init__(self, in_types, steps, outputs):
        self.in_types, self.steps, self.outputs = tuple(in_types), tuple(steps), tuple(outputs)
        self._key = (self.in_types, self.steps, self.outputs)
        self._hash = hash(self._key)
        n_in, last = len(self.in_types), {}
        dtypes = [d for d, _ in self.in_types] + [d for _, _, d in self.steps]
        for s, (_, refs, _) in enumerate(self.steps):
            last.update((i, s) for i in refs)
        self.dead_after = [[] for _ in self.steps]  # values the NumPy path can drop ...
        self.write_into = [None] * len(self.steps)  # ... or write the step's result into
        for i, s in sorted(last.items()):
            if i not in self.outputs:
                self.dead_after[s].append(i)
                op, refs, dtype = self.steps[s]
                if i >= n_in and dtypes[i] == dtype and self.write_into[s] is None and \
                        _ufunc_result(op.np_fn, [dtypes[j] for j in refs]) == dtype:
                    self.write_into[s] = i  # every step value has the loop's full shape

    def __eq__(self, other):
        return isinstance(other, Program) and other._key == self._key

    def __hash__(self):
        return self._hash

    def out_dtypes(self):
        n_in = len(self.in_types)
        return [self.steps[i - n_in][2] for i in self.outputs]

    def names(self):
        return [op.name for op, _, _ in self.steps]

    def __repr__(self):
        return "Program(" + ",".join(self.names()) + ")"


class FusedElemwise(Op):
    """Several elementwise ops run as one loop (see the module docstring).

    Parameters
    ----------
    program : Program
        The scalar graph; ``fused_names`` lists its ops (for printouts and pictures).
    inplace : int or None
        Index of an input, dead after this node, that output 0 may overwrite.
    reuse : bool
        Outputs keep their buffers between calls when nothing else holds them.
        ``inplace`` and ``reuse`` are set by the passes in :mod:`.inplace`.
    """

    __props__ = ("program", "inplace", "reuse")

    def __init__(self, program, inplace=None, reuse=False):
        self.program, self.inplace, self.reuse = program, inplace, reuse
        self.destroy_map = {0: [inplace]} if inplace is not None else {}
        self.fused_names = program.names()

    def __str__(self):
        names = self.fused_names
        text = ",".join(names if len(names) <= 8 else names[:6] + [f"+{len(names) - 6}"])
        return f"Fused{{{text}}}" + ("{inplace}" if self.inplace is not None else "")

    def make_node(self, *inputs):
        prog = self.program
        if len(inputs) != len(prog.in_types):
            raise GraphError(f"{self}: takes {len(prog.in_types)} inputs, got {len(inputs)}")
        inputs = [as_tensor_variable(x) for x in inputs]
        for i, (x, (dtype, bcast)) in enumerate(zip(inputs, prog.in_types)):
            if x.dtype != dtype or x.broadcastable != bcast:
                raise GraphError(f"{self}: input {i} ({x.describe()}) is {x.type.short()}, "
                                 f"the fused program needs {dtype} with broadcastable {bcast}")
        shape = _broadcast_shapes(str(self), inputs)
        outs = [TensorType(dt, shape=shape)() for dt in prog.out_dtypes()]
        return Apply(self, inputs, outs)

    def perform(self, node, inputs, output_storage):
        for cell, value in zip(output_storage, _composite(self.program, inputs)):
            cell[0] = value

    def make_py_callable(self, node):
        return _make_runner(self, node)

    def expand(self, inputs):
        """The program rebuilt from ``Elemwise`` ops on ``inputs`` (its output variables)."""
        values = list(inputs)
        for scalar_op, refs, _ in self.program.steps:
            values.append(Elemwise(scalar_op)(*[values[i] for i in refs]))
        return [values[i] for i in self.program.outputs]

    def grad(self, inputs, outputs, output_grads):
        outs = self.expand(inputs)
        known = {o: g for o, g in zip(outs, output_grads) if g is not None}
        grads = grad(None, list(inputs), known_grads=known, disconnected_inputs="ignore",
                     return_disconnected="none")
        return [g if np.dtype(x.dtype).kind in "fc" else None for g, x in zip(grads, inputs)]

    def infer_shape(self, node, input_shapes):
        return Elemwise.infer_shape(self, node, input_shapes) * len(node.outputs)


def _composite(program, args):
    """Run the program with the table's NumPy functions (the reference, and the cold path)."""
    values = list(args)
    asarray, ndarray = np.asarray, np.ndarray
    for (op, refs, dtype), dead, into in zip(program.steps, program.dead_after,
                                             program.write_into):
        if into is not None:  # the same ufunc loop, its result cast as asarray would
            r = op.np_fn(*[values[i] for i in refs], out=values[into])
        else:
            r = op.np_fn(*[values[i] for i in refs])
            if type(r) is not ndarray or r.dtype != dtype:
                r = asarray(r, dtype=dtype)
        values.append(r)
        for i in dead:  # free temporaries early, as the linker does between nodes
            values[i] = None
    return [values[i] for i in program.outputs]


# ---- the pass ---------------------------------------------------------------------------


def _fusable(node):
    op = node.op
    if not isinstance(op, Elemwise) or op.inplace is not None:
        return False
    if getattr(op.scalar_op, "code", None) is None or len(node.outputs) != 1:
        return False
    out = node.outputs[0]
    if not all(getattr(v.type, "dtype", None) in _DTYPES for v in node.inputs + [out]):
        return False
    return (op.scalar_op.name, out.dtype) not in _NOT_FUSED


def _grow(root, clients, pos, taken):
    """The group fused with ``root``: its fusable ancestors whose outputs are read only in
    the group or by nodes after ``root`` in the schedule (so the group stays convex)."""
    group, bcast, outer = {root}, root.outputs[0].broadcastable, set(root.inputs)
    heap = [(-pos[v.owner], id(v.owner), v.owner) for v in root.inputs if v.owner is not None]
    heapq.heapify(heap)
    while heap:  # latest producer first: a node is only tried after all its group readers
        _, _, node = heapq.heappop(heap)
        if node in group or node in taken or not _fusable(node):
            continue
        if node.outputs[0].broadcastable != bcast:
            continue  # a smaller value broadcast into the loop would be recomputed per element
        readers = clients.get(node.outputs[0], [])
        if not all(c == "output" or c in group or pos[c] > pos[root] for c, _ in readers):
            continue
        grown = (outer - {node.outputs[0]}) | set(node.inputs)  # distinct: x read 9 times
        if len(grown) > POLICY.max_inputs:  # is one input of the kernel
            continue
        group.add(node)
        outer = grown
        for v in node.inputs:
            if v.owner is not None and v.owner not in group:
                heapq.heappush(heap, (-pos[v.owner], id(v.owner), v.owner))
    return group


def _program_of(nodes, root, clients):
    """(Program, outer inputs, replaced outer outputs) of a group given in schedule order."""
    group = set(nodes)
    inputs, index, in_types, steps = [], {}, [], []
    for node in nodes:
        for v in node.inputs:
            if v.owner not in group and v not in index:
                index[v] = len(inputs)
                inputs.append(v)
                in_types.append((v.dtype, v.broadcastable))
    for node in nodes:
        refs = tuple(index[v] for v in node.inputs)
        steps.append((node.op.scalar_op, refs, node.outputs[0].dtype))
        index[node.outputs[0]] = len(inputs) + len(steps) - 1
    outs = [root.outputs[0]] + [
        n.outputs[0] for n in nodes if n is not root
        and any(c == "output" or c not in group for c, _ in clients.get(n.outputs[0], []))]
    return Program(in_types, steps, [index[o] for o in outs]), inputs, outs


def fuse_elemwise(fgraph):
    """Replace every convex group of >= 2 fusable ``Elemwise`` nodes by a ``FusedElemwise``.

    Groups are found on the unchanged graph, latest root first; each group's position in
    the schedule is its root's, which keeps the contracted graph acyclic.

    Returns
    -------
    int
        The number of fused nodes made (the ``fusion`` entry of ``profile`` stats).

    Examples
    --------
    >>> import minigraph as theano, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> f = theano.function([x], T.exp(x * 2) + 1)
    >>> [str(n.op) for n in f.fgraph.toposort()]
    ['Fused{mul,exp,add}']
    """
    fgraph.prune()  # exact client lists: a stale reader would look like an outside one
    order = fgraph.toposort()
    pos = {node: i for i, node in enumerate(order)}
    clients, taken, plans = fgraph.clients, set(), []
    for root in reversed(order):
        if root in taken or not _fusable(root):
            continue
        group = _grow(root, clients, pos, taken)
        if len(group) < 2:
            continue
        nodes = sorted(group, key=pos.__getitem__)
        prog, inputs, outs = _program_of(nodes, root, clients)
        if len(outs) > POLICY.max_outputs:
            continue
        taken.update(group)
        plans.append((prog, inputs, outs, root.trace))
    for prog, inputs, outs, trace in plans:
        node = FusedElemwise(prog).make_node(*inputs)
        node.trace = trace
        for old, new in zip(outs, node.outputs):
            new.name = old.name
            fgraph.replace(old, new, reason="fusion")
    if plans:
        fgraph.prune()
    return len(plans)


FUSION = GraphPass("fusion", fuse_elemwise)


# ---- the run-time callable --------------------------------------------------------------


def _shape_rule(node):
    """``shape_of(args)``: the output shape, with Theano's check that non-broadcastable
    dimensions agree (the unfused ops would have raised the same error)."""
    ndim = node.outputs[0].ndim
    pats = [x.broadcastable for x in node.inputs]
    full = [i for i, p in enumerate(pats) if not any(p)]
    partial = [(i, [d for d in range(ndim) if not p[d]]) for i, p in enumerate(pats)
               if any(p) and not all(p)]

    if not full and not partial:  # every input is one element
        return lambda args, shape=(1,) * ndim: shape

    def shape_of(args):
        shape = args[full[0]].shape if full else (None,) * ndim
        for i in full[1:]:  # the common case: whole-shape inputs, one tuple comparison each
            if args[i].shape != shape:
                _mismatch(node, i, args[i].shape, shape)
        if not partial:
            return shape
        shape = list(shape)
        for i, dims in partial:
            s = args[i].shape
            for d in dims:
                if shape[d] is None:
                    shape[d] = s[d]
                elif s[d] != shape[d]:
                    _mismatch(node, i, s, shape)
        return tuple(1 if n is None else n for n in shape)

    return shape_of


def _mismatch(node, i, got, want):
    x = node.inputs[i]
    want = tuple("?" if n is None else n for n in want)
    raise ValueError(f"{node.op}: input {x.describe()} has shape {tuple(got)} but the result "
                     f"has {want}, and its non-broadcastable dimensions "
                     f"({x.type.short()}) must match; fix the shapes or make the dimension "
                     f"broadcastable (node created at {node.trace})")


def _make_runner(op, node):
    prog, shape_of = op.program, _shape_rule(node)
    n_in, ndim = len(prog.in_types), node.outputs[0].ndim
    kernel = _kernel(prog, ndim)
    # the in-place variant (output 0 is input op.inplace itself, one parameter: see
    # kernel_source), for the calls where that input may be overwritten (_destroyable)
    into = op.inplace if op.inplace is not None and not all(prog.in_types[op.inplace][1]) \
        else None
    kernel_ip = None if into is None else _kernel(prog, ndim, into)
    scalar = [i for i, (_, b) in enumerate(prog.in_types) if all(b)]
    arrays = [i for i, (_, b) in enumerate(prog.in_types) if not all(b)]
    # what does not change from call to call, worked out once (a call on small arrays is
    # mostly this Python wrapper): each one-element input's first-element index (the
    # kernel takes it as a scalar), the inputs whose memory may alias the in-place target
    # (one-element inputs are read into scalars before the loop runs: they cannot), the
    # output dtypes of each variant, the positions of the 1-d views in the kernel's
    # arguments (inputs, then outputs)
    scalar_at = [(i, (0,) * len(prog.in_types[i][1])) for i in scalar]
    others = [i for i in arrays if i != into]
    flat = flat_ok(prog)  # no partly broadcast input
    dtypes = [np.dtype(d) for d in prog.out_dtypes()]
    single = len(dtypes) == 1
    out_dtypes, out_dtypes_ip = tuple(dtypes), tuple(dtypes[1:])
    split_at = {k: arrays + list(range(n_in, n_in + k)) for k in (len(dtypes), len(dtypes) - 1)}
    one_d = ndim == 1  # 1-d arrays are their own flat views
    dtype0, ndarray, may_share = dtypes[0], np.ndarray, np.may_share_memory

    def run(*args):
        shape = shape_of(args)
        dst, kern = None, kernel
        if into is not None:  # _destroyable(args, into, shape, dtype0, others), inline
            a = args[into]
            if a.shape == shape and a.dtype == dtype0 and a.flags.writeable:
                for i in others:
                    b = args[i]
                    if b is not a and isinstance(b, ndarray) and may_share(a, b):
                        break
                else:
                    dst, kern = a, kernel_ip
        funcs = kern.funcs
        if funcs is None or not POLICY.numba:
            if not kern.hot(math.prod(shape), _load):  # _load read now: replaceable
                outs = _composite(prog, args)
                return outs[0] if single else tuple(outs)
            funcs = kern.funcs
        reuse = op.reuse
        # claim_buffer's arrays are new or whole workspace blocks: C-contiguous
        outs = [claim_buffer(reuse, shape, dt) for dt in
                (out_dtypes if dst is None else out_dtypes_ip)]
        kargs = list(args)
        for i, first in scalar_at:
            kargs[i] = args[i][first]
        contiguous = flat
        if flat:
            for i in arrays:
                if not args[i].flags.c_contiguous:
                    contiguous = False
                    break
        if contiguous:
            if one_d:
                kargs += outs
            else:
                for i in arrays:
                    kargs[i] = args[i].reshape(-1)  # a view: the in-place store reaches args[i]
                kargs += [o.reshape(-1) for o in outs]
            fn = funcs[0]
            size = math.prod(shape)
            threads = parallel_threads(size) if size >= POLICY.parallel_min_elements else 0
        else:
            fn, threads = funcs[1], 0
            kargs += outs
        try:
            if threads:
                run_split(fn, kargs, split_at[len(outs)], size, threads)
            else:
                fn(*kargs)
        except Exception as e:  # a typing error on a new signature: fall back, say so once
            kern.fail(e)  # (raised before the loop runs: no input is half overwritten)
            return run(*args)
        if dst is not None:
            if single:
                return dst
            outs.insert(0, dst)
        return outs[0] if single else tuple(outs)

    if not flat or not arrays or n_in > 32:
        return run
    return _fast_runner(run, kernel, kernel_ip, n_in, arrays, scalar_at, into, others,
                        out_dtypes, op.reuse, one_d)


def _fast_runner(slow, kernel, kernel_ip, n_in, arrays, scalar_at, into, others, dtypes,
                 reuse, one_d):
    """``slow`` (the runner above) behind a path of its own for the calls that make up
    most of a small model's: the loops compiled, every array input C-contiguous and of the
    same shape, fewer elements than a parallel split wants. It is Python source generated
    for this node's inputs (one parameter each, no argument list built, no loop over the
    inputs), as ``compile/linker.py`` generates the function itself: a (8, 86) float32
    ``log(a) * b`` took 4.7 us through ``slow`` against 1.0 us for the Numba loop alone and
    1.7 us for NumPy's two ufuncs. Anything else (a first call, a broadcast or strided input,
    a big array, an input the in-place variant may not overwrite) goes to ``slow``."""
    params = [f"a{i}" for i in range(n_in)]
    call = ", ".join(params)
    first, rest = arrays[0], arrays[1:]
    flat_in = {i: f"a{i}" if one_d else f"a{i}.reshape(-1)" for i in arrays}
    flat_in.update({i: f"a{i}[{idx}]" for i, idx in scalar_at})
    lines = [f"def run({call}):",
             f"    shape = a{first}.shape"]
    if rest:
        lines.append(f"    if {' or '.join(f'a{i}.shape != shape' for i in rest)}:")
        lines.append(f"        return slow({call})")
    lines += [f"    if not ({' and '.join(f'a{i}.flags.c_contiguous' for i in arrays)}):",
              f"        return slow({call})",
              "    size = " + ("shape[0]" if one_d else "prod(shape)"),
              "    if size >= POLICY.parallel_min_elements or not POLICY.numba:",
              f"        return slow({call})"]

    def body(indent, funcs, outs, into_var):
        pad = " " * indent
        names = [f"o{k}" for k in range(len(outs))]
        text = [f"{pad}{n} = claim(reuse, shape, dt{k})" for k, n in zip(outs, names)]
        flat_out = names if one_d else [f"{n}.reshape(-1)" for n in names]
        text += [f"{pad}try:",
                 f"{pad}    {funcs}[0]({', '.join([flat_in[i] for i in range(n_in)] + flat_out)})",
                 f"{pad}except Exception:",  # a typing error on a new signature: slow says so
                 f"{pad}    return slow({call})"]
        results = ([into_var] if into_var else []) + names
        text.append(f"{pad}return " + (results[0] if len(results) == 1
                                        else "(" + ", ".join(results) + ",)"))
        return text

    if into is not None:  # the in-place variant, when a{into} may be overwritten
        clash = " or ".join(f"(a{i} is not d and may_share(d, a{i}))" for i in others)
        lines += [f"    d = a{into}",
                  "    funcs = kernel_ip.funcs",
                  "    if funcs is not None and d.dtype == dt0 and d.flags.writeable" +
                  (f" and not ({clash})" if clash else "") + ":"]
        lines += body(8, "funcs", range(1, len(dtypes)), "d")
    lines += ["    funcs = kernel.funcs",
              "    if funcs is None:",
              f"        return slow({call})"]
    lines += body(4, "funcs", range(len(dtypes)), None)
    scope = {"slow": slow, "kernel": kernel, "kernel_ip": kernel_ip, "POLICY": POLICY,
             "prod": math.prod, "claim": claim_buffer, "reuse": reuse,
             "may_share": np.may_share_memory}
    scope.update({f"dt{k}": dt for k, dt in enumerate(dtypes)})
    exec(compile("\n".join(lines), "<minigraph fused runner>", "exec"), scope)
    return scope["run"]


def _destroyable(args, k, shape, dtype, others=None):
    """``args[k]`` if the kernel may write into it (else None): same shape and dtype,
    writeable, and sharing no memory with the other inputs (read at other positions;
    ``others``: those positions, default all)."""
    a = args[k]
    if a.shape != shape or a.dtype != dtype or not a.flags.writeable:
        return None
    for b in (args if others is None else [args[i] for i in others]):
        if b is not a and isinstance(b, np.ndarray) and np.may_share_memory(a, b):
            return None
    return a
