"""``Elemwise`` (one op for every scalar-table row, with broadcasting) and ``DimShuffle``.

``Elemwise`` aligns its inputs' ranks by inserting broadcastable dimensions on the left
(as Theano did), checks static shapes at build time, and computes with the table's NumPy
function. Its gradient comes from the table row, summed back over broadcast dimensions
by :func:`unbroadcast`.
"""

import numpy as np

from kernels.workspace import FRESH_MIN_BYTES, fresh_empty

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable, as_tensors_for_elemwise


class Elemwise(Op):
    """Apply ``scalar_op`` elementwise with broadcasting.

    ``inplace`` is the index of an input whose buffer the output may reuse (set only by the
    in-place rewrite, never by users).
    """

    __props__ = ("scalar_op", "inplace")

    def __init__(self, scalar_op, inplace=None):
        self.scalar_op = scalar_op
        self.inplace = inplace
        self.destroy_map = {0: [inplace]} if inplace is not None else {}

    def __str__(self):
        name = self.scalar_op.name
        return name + ("{inplace}" if self.inplace is not None else "")

    @property
    def pattern_key(self):
        """How rewrite patterns name this op: ``P("log", ...)`` (``graph/rewriting.py``);
        an in-place op is not matched: a rewrite would drop its write."""
        return self.scalar_op.name if self.inplace is None else None

    def make_node(self, *inputs):
        if len(inputs) != self.scalar_op.nin:
            raise GraphError(f"{self.scalar_op.name} takes {self.scalar_op.nin} inputs, "
                             f"got {len(inputs)}")
        arithmetic = self.scalar_op.dtype_rule in ("upcast", "float")
        inputs = as_tensors_for_elemwise(inputs, arithmetic)
        ndim = max(x.ndim for x in inputs)
        inputs = [_pad_left(x, ndim) for x in inputs]
        shape = _broadcast_shapes(self.scalar_op.name, inputs)
        dtype = self.scalar_op.out_dtype([x.dtype for x in inputs])
        return Apply(self, inputs, [TensorType(dtype, shape=shape)()])

    def make_py_callable(self, node):
        fn = _np_fn(self.scalar_op, node)
        dtype = np.dtype(node.outputs[0].type.dtype)
        check = _runtime_check(node)
        asarray, ndarray = np.asarray, np.ndarray
        # the check only fails on an input's non-broadcastable dimension: inputs that are
        # broadcastable in every dimension (a scalar filled or added to a matrix) skip it
        checked = [i for i, x in enumerate(node.inputs) if not all(x.broadcastable)]
        # a big result goes into fresh_empty's memory (a call's memory plan serves it,
        # kernels/memplan.py) rather than NumPy's own: inputs of this many elements or more
        big = FRESH_MIN_BYTES // dtype.itemsize if type(fn) is np.ufunc and fn.nout == 1 \
            else None

        def finish(r, args):
            if type(r) is not ndarray or r.dtype != dtype:
                r = asarray(r, dtype=dtype)
            shape = r.shape
            for i in checked:
                if args[i].shape != shape:
                    check(args, r)
                    break
            return r

        def run_plain(*args):
            try:
                r = None
                if big is not None and any(type(a) is ndarray and a.size >= big for a in args):
                    r = _into_fresh(fn, args, dtype)
                if r is None:
                    r = fn(*args)
            except ValueError:
                check.mismatch(args)
                raise
            return finish(r, args)

        if self.inplace is not None and fn is not np.where and fn is not np.clip:
            k = self.inplace

            def run_inplace(*args):
                # the in-place rewrite only picks inputs of the output's own shape and dtype
                try:
                    r = fn(*args, out=args[k])
                except (ValueError, TypeError):
                    return run_plain(*args)
                return finish(r, args)

            return run_inplace
        if len(node.inputs) == 2:
            # the common case without *args packing: a measurable share of per-node overhead
            check_a, check_b = 0 in checked, 1 in checked

            def run2(a, b):
                try:
                    r = None
                    if big is not None and ((type(a) is ndarray and a.size >= big) or
                                            (type(b) is ndarray and b.size >= big)):
                        r = _into_fresh(fn, (a, b), dtype)
                    if r is None:
                        r = fn(a, b)
                except ValueError:
                    check.mismatch((a, b))
                    raise
                if type(r) is not ndarray or r.dtype != dtype:
                    r = asarray(r, dtype=dtype)
                if (check_a and a.shape != r.shape) or (check_b and b.shape != r.shape):
                    check((a, b), r)
                return r

            return run2
        return run_plain

    def grad(self, inputs, outputs, output_grads):
        gz = output_grads[0]
        grads = self.scalar_op.grad(inputs, outputs[0], gz)
        return [None if g is None else _fit_grad(g, x) for g, x in zip(grads, inputs)]

    def infer_shape(self, node, input_shapes):
        out = []
        for d in range(node.outputs[0].ndim):
            dims = [s[d] for s, x in zip(input_shapes, node.inputs) if not x.broadcastable[d]]
            out.append(dims[0] if dims else 1)
        return [tuple(out)]


def _into_fresh(fn, args, dtype):
    """``fn(*args)`` written into a `fresh_empty` array of ``dtype``, or None when NumPy
    would not write it there (shapes that do not broadcast, a cast it refuses): the caller
    then computes it as usual, and raises its usual error."""
    try:
        out = fresh_empty(np.broadcast_shapes(*[np.shape(a) for a in args]), dtype)
        return fn(*args, out=out)
    except (ValueError, TypeError):
        return None


def _np_fn(scalar_op, node):
    """The NumPy function, computing in the output dtype when ints become floats.

    NumPy would compute ``exp`` of an int8 in float16 and lose digits before the cast to the
    float32 result; casting the integer inputs first keeps full float32 precision.
    """
    fn = scalar_op.np_fn
    if scalar_op.dtype_rule != "float":
        return fn
    dtype = np.dtype(node.outputs[0].type.dtype)
    ints = [np.dtype(x.dtype).kind in "biu" for x in node.inputs]
    if not any(ints):
        return fn

    def cast_first(*args):
        return fn(*[a.astype(dtype) if is_int else a for a, is_int in zip(args, ints)])

    return cast_first


def _pad_left(x, ndim):
    if x.ndim == ndim:
        return x
    return dimshuffle(x, ("x",) * (ndim - x.ndim) + tuple(range(x.ndim)))


def _broadcast_shapes(name, inputs):
    shape = []
    for d in range(inputs[0].ndim):
        sizes = {x.type.shape[d] for x in inputs}
        known = {s for s in sizes if s not in (None, 1)}
        if len(known) > 1:
            detail = ", ".join(f"{x.describe()} {x.type.short()}" for x in inputs)
            raise GraphError(
                f"{name}: shapes do not broadcast in dimension {d}: {detail}"
                f"{where(inputs[0]) or ''}"
            )
        if known:
            shape.append(known.pop())
        elif None in sizes:
            shape.append(None)
        else:
            shape.append(1)
    return tuple(shape)


class _RuntimeCheck:
    """Raises a clear error when run-time shapes disagree (Theano's broadcast rules)."""

    def __init__(self, node):
        self.node = node

    def __call__(self, args, result):
        node = self.node
        for x, a in zip(node.inputs, args):
            for d, (n, m) in enumerate(zip(a.shape, result.shape)):
                if n != m and not x.broadcastable[d]:
                    raise ValueError(
                        f"{node.op}: input {x.describe()} has shape {a.shape} but the result "
                        f"has {result.shape}: dimension {d} is not broadcastable in its type "
                        f"({x.type.short()}); make it broadcastable with "
                        f"dimshuffle/addbroadcast or fix the shapes "
                        f"(node created at {node.trace})"
                    )


    def mismatch(self, args):
        """Raise a clear error when the run-time shapes of ``args`` do not broadcast."""
        try:
            np.broadcast_shapes(*[np.shape(a) for a in args])
        except ValueError:
            node = self.node
            detail = ", ".join(f"{x.describe()} {np.shape(a)}" for x, a in zip(node.inputs, args))
            raise ValueError(f"{node.op}: input shapes do not broadcast: {detail} "
                             f"(node created at {node.trace})") from None


def _runtime_check(node):
    return _RuntimeCheck(node)


def unbroadcast(g, x):
    """Sum ``g`` over the dimensions in which ``x`` was broadcast (keeping them)."""
    axes = tuple(
        d for d, (bx, bg) in enumerate(zip(x.broadcastable, g.broadcastable)) if bx and not bg
    )
    if not axes:
        return g
    from .reduce import sum as _sum  # cycle: reduce.py imports this module

    return _sum(g, axis=axes, keepdims=True)


def _fit_grad(g, x):
    g = as_tensor_variable(g)
    if g.ndim > x.ndim:
        from .reduce import sum as _sum  # cycle: reduce.py imports this module

        g = _sum(g, axis=tuple(range(g.ndim - x.ndim)))
    g = unbroadcast(g, x)
    if g.dtype != x.dtype and np.dtype(x.dtype).kind in "fc":
        from .math import cast  # cycle: math.py imports this module

        g = cast(g, x.dtype)
    return g


class DimShuffle(Op):
    """Reorder dimensions, drop broadcastable ones and insert new ones (``'x'``).

    ``x.dimshuffle('x', 0, 1)`` adds a leading broadcastable dimension;
    ``x.dimshuffle(1, 0)`` transposes a matrix. Returns a view.
    """

    __props__ = ("input_ndim", "new_order")
    view_map = {0: [0]}

    def __init__(self, input_ndim, new_order):
        self.input_ndim = input_ndim
        self.new_order = tuple(new_order)
        kept = [d for d in self.new_order if d != "x"]
        self.transposition = tuple(kept) + tuple(d for d in range(input_ndim) if d not in kept)
        self.dropped = tuple(d for d in range(input_ndim) if d not in kept)

    def __str__(self):
        return "DimShuffle{" + ",".join(map(str, self.new_order)) + "}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise GraphError(f"dimshuffle{self.new_order} expects a {self.input_ndim}-d input, "
                             f"got {x.ndim}-d {x.describe()}")
        for d in self.dropped:
            if x.type.shape[d] not in (1,):
                raise GraphError(
                    f"dimshuffle{self.new_order} drops dimension {d} of {x.describe()} "
                    f"({x.type.short()}), which is not broadcastable"
                )
        shape = tuple(1 if d == "x" else x.type.shape[d] for d in self.new_order)
        return Apply(self, [x], [TensorType(x.dtype, shape=shape)()])

    def make_py_callable(self, node):
        perm = self.transposition
        identity = perm == tuple(range(self.input_ndim))
        order = self.new_order

        # output dimension -> the transposed input's dimension it is, or -1 for an 'x'
        src, k = [], 0  # (not `where`: the module's name for the user-line helper)
        for d in order:
            src.append(-1 if d == "x" else k)
            k += d != "x"
        if not self.dropped and "x" not in order and not identity:
            return lambda x: x.transpose(perm)  # a transpose only: already a new view

        def run(x):
            y = x if identity else x.transpose(perm)
            s = y.shape
            return y.reshape([1 if k < 0 else s[k] for k in src])

        return run

    def grad(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        kept = [d for d in self.new_order if d != "x"]
        # drop the inserted dims (sum them first if they were broadcast to a size > 1)
        new_axes = tuple(i for i, d in enumerate(self.new_order) if d == "x")
        if new_axes:
            from .reduce import sum as _sum  # cycle: reduce.py imports this module

            gz = _sum(gz, axis=new_axes)
        # now gz has the kept dims in `kept` order; put them back and re-insert dropped ones
        back = []
        for d in range(self.input_ndim):
            back.append(kept.index(d) if d in kept else "x")
        g = dimshuffle(gz, tuple(back))
        return [_fit_grad(g, x)]

    def infer_shape(self, node, input_shapes):
        s = input_shapes[0]
        return [tuple(1 if d == "x" else s[d] for d in self.new_order)]


def dimshuffle(x, pattern):
    """``x.dimshuffle(*pattern)`` as a function."""
    x = as_tensor_variable(x)
    pattern = tuple(pattern)
    for p in pattern:
        if p != "x" and not (isinstance(p, (int, np.integer)) and 0 <= p < x.ndim):
            raise GraphError(f"dimshuffle pattern {pattern}: {p!r} is not 'x' or a dimension "
                             f"of the {x.ndim}-d input {x.describe()}")
    if len([p for p in pattern if p != "x"]) != len({p for p in pattern if p != "x"}):
        raise GraphError(f"dimshuffle pattern {pattern} repeats a dimension")
    if pattern == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.ndim, pattern)(x)
