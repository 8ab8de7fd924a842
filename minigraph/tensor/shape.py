"""Shape ops: ``shape reshape flatten transpose concatenate stack alloc zeros ones arange eye``.

Symbolic shapes are int64 vectors (``x.shape``) or lists mixing ints and int scalars, which
:func:`as_shape_vector` turns into one vector (Theano's ``MakeVector``).
"""

import numpy as np

from kernels.workspace import SHARED
from minigraph.config import config
from minigraph.graph.basic import Apply, Constant, GraphError, Variable
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable, constant, upcast
from .elemwise import dimshuffle
from .math import cast
from .reduce import sum as _sum
from .subtensor import getitem


class Shape(Op):
    """The run-time shape of ``x`` as an int64 vector of length ``x.ndim``."""

    schedule_early = True  # see FunctionGraph.toposort: don't keep x alive for its shape

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", shape=(x.ndim,))()])

    def make_py_callable(self, node):
        def run(x):
            return np.array(x.shape, dtype=np.int64)

        return run

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array(inputs[0].shape, dtype=np.int64)

    def grad(self, inputs, outputs, output_grads):
        return [None]

    def infer_shape(self, node, input_shapes):
        return [(node.inputs[0].ndim,)]


def shape(x):
    """``x.shape``: a symbolic int64 vector; ``x.shape[0]`` is a symbolic scalar."""
    return Shape()(as_tensor_variable(x))


class MakeVector(Op):
    """Stack scalars into a vector (used for symbolic shapes)."""

    __props__ = ("dtype",)

    def __init__(self, dtype="int64"):
        self.dtype = dtype

    def make_node(self, *scalars):
        scalars = [as_tensor_variable(s) for s in scalars]
        for s in scalars:
            if s.ndim != 0:
                raise GraphError(f"expected scalars, got {s.ndim}-d {s.describe()}")
        return Apply(self, scalars, [TensorType(self.dtype, shape=(len(scalars),))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array(inputs, dtype=self.dtype)

    def make_py_callable(self, node):
        dtype, array = np.dtype(self.dtype), np.array

        def run(*scalars):  # perform's result without the storage cells
            return array(scalars, dtype=dtype)

        return run

    def grad(self, inputs, outputs, output_grads):
        if np.dtype(self.dtype).kind not in "fc":
            return [None] * len(inputs)
        return [output_grads[0][i] for i in range(len(inputs))]


def as_shape_vector(shp):
    """A shape given as a vector variable, or a list/tuple of ints and int scalars."""
    if isinstance(shp, Variable):
        if shp.ndim == 0:
            shp = [shp]
        else:
            if shp.ndim != 1 or np.dtype(shp.dtype).kind not in "iu":
                raise GraphError(f"a shape must be an int vector, got {shp.type.short()}")
            return shp
    if isinstance(shp, (int, np.integer)):
        shp = [shp]
    parts = []
    for s in shp:
        if isinstance(s, Variable):
            if s.ndim != 0 or np.dtype(s.dtype).kind not in "iub":
                raise GraphError(f"shape entries must be int scalars, got {s.type.short()}")
            parts.append(s)
        else:
            parts.append(constant(int(s), dtype="int64"))
    if all(isinstance(p, Constant) for p in parts):
        return constant(np.array([int(p.data) for p in parts], dtype="int64"))
    return MakeVector("int64")(*[_as_int64(p) for p in parts])


def _as_int64(s):
    return s if s.dtype == "int64" else cast(s, "int64")


def static_shape_of(vec, n):
    """What is known statically of a shape vector of length ``n`` (ints or None)."""
    if isinstance(vec, Constant):
        return tuple(int(v) for v in vec.data)
    if vec.owner is not None and isinstance(vec.owner.op, MakeVector):
        return tuple(int(i.data) if isinstance(i, Constant) else None for i in vec.owner.inputs)
    return (None,) * n


def int_pair(value, what, caller):
    """``(a, b)`` from an int or a pair of ints: a 2-d op's static window, stride or padding.

    ``caller`` and ``what`` name the function and argument in the error for anything else
    (a symbolic value included: these fix the op, so they must be known when it is built).

    >>> int_pair(3, "ws", "pool_2d"), int_pair([2, 1], "stride", "pool_2d")
    ((3, 3), (2, 1))
    """
    if isinstance(value, Variable):
        raise GraphError(f"{caller}: {what} must be a pair of Python ints; symbolic {what} is "
                         f"not supported, got {value.describe()}")
    if isinstance(value, (int, np.integer)):
        value = (value, value)
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise GraphError(f"{caller}: {what} must be a pair of ints, got {value!r}") from None
    return a, b


class Reshape(Op):
    """Reshape ``x`` to the shape vector ``shp`` of static length ``ndim`` (-1 allowed once)."""

    __props__ = ("ndim",)
    view_map = {0: [0]}

    def __init__(self, ndim):
        self.ndim = ndim

    def make_node(self, x, shp):
        x = as_tensor_variable(x)
        static = static_shape_of(shp, self.ndim)
        if None not in static and -1 not in static and None not in x.type.shape:
            if int(np.prod(static)) != int(np.prod(x.type.shape)):
                raise GraphError(f"cannot reshape {x.describe()} of shape {x.type.shape} "
                                 f"to {static}")
        out_shape = tuple(None if s in (None, -1) else s for s in static)
        return Apply(self, [x, shp], [TensorType(x.dtype, shape=out_shape)()])

    def make_py_callable(self, node):
        trace = node.trace

        ndarray = np.ndarray

        def run(x, shp):
            try:  # a list of Python ints: quicker for reshape to read than NumPy ints
                shape = shp.tolist() if type(shp) is ndarray else tuple(shp)
                if type(x) is ndarray and not x.flags.c_contiguous and \
                        x.nbytes >= SHARED.min_bytes:
                    return _reshape_copy(x, shape)
                return x.reshape(shape)
            except ValueError:
                raise ValueError(f"cannot reshape an array of shape {x.shape} into "
                                 f"{tuple(int(s) for s in shp)} (node created at {trace})"
                                 ) from None

        return run

    def grad(self, inputs, outputs, output_grads):
        x, _ = inputs
        return [reshape(output_grads[0], shape(x), ndim=x.ndim), None]


def _reshape_copy(x, shape):
    """``x.reshape(shape)`` of a big array that is not C-contiguous: a view when one exists,
    else the copy goes into workspace memory (``kernels.workspace.SHARED``), whose pages
    stay mapped between calls; a fresh array faults them in on every call. The reversed
    (50, 64, 256) float32 states a weight gradient reads in a small char-RNN (a copy, 3.3 MB)
    took 2.3 ms per call as a fresh array (``benchmarks/custom_cell.py``'s tanh cell)."""
    try:
        return np.reshape(x, shape, copy=False)
    except ValueError:
        pass
    out = SHARED.empty((x.size,), x.dtype).reshape(shape)  # checks the shape, resolves -1
    np.copyto(out.reshape(x.shape), x)
    return out


def reshape(x, newshape, ndim=None):
    """Reshape ``x``; ``newshape`` is a tuple of ints/int scalars or an int vector."""
    x = as_tensor_variable(x)
    vec = as_shape_vector(newshape)
    n = vec.type.shape[0]
    if n is None:
        if ndim is None:
            raise GraphError("reshape with a symbolic shape of unknown length needs ndim=")
        n = ndim
    return Reshape(n)(x, vec)


def flatten(x, ndim=1, outdim=None):
    """Keep the first ``ndim - 1`` dimensions and merge the rest into one."""
    x = as_tensor_variable(x)
    ndim = outdim or ndim
    if not 1 <= ndim <= max(x.ndim, 1):
        raise GraphError(f"flatten(ndim={ndim}) of a {x.ndim}-d tensor")
    if ndim == x.ndim:
        return x
    sh = shape(x)
    lead = [x.type.shape[i] if x.type.shape[i] is not None else sh[i] for i in range(ndim - 1)]
    return reshape(x, lead + [-1])


def transpose(x, axes=None):
    """Permute dimensions (reverse them by default), as ``numpy.transpose``."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(range(x.ndim))[::-1]
    axes = tuple(int(a) % x.ndim for a in axes) if x.ndim else ()
    if sorted(axes) != list(range(x.ndim)):
        raise GraphError(f"transpose axes {axes} are not a permutation of {x.ndim} dims")
    return dimshuffle(x, axes)


class Join(Op):
    """Concatenate tensors along ``axis``."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, *tensors):
        tensors = [as_tensor_variable(t) for t in tensors]
        if not tensors:
            raise GraphError("concatenate needs at least one tensor")
        nd = tensors[0].ndim
        ax = self.axis
        for t in tensors:
            if t.ndim != nd:
                raise GraphError(f"concatenate: all inputs need {nd} dims; {t.describe()} has "
                                 f"{t.ndim}")
        shape = []
        for d in range(nd):
            sizes = [t.type.shape[d] for t in tensors]
            if d == ax:
                shape.append(None if None in sizes else int(np.sum(sizes)))
            else:
                known = {s for s in sizes if s is not None}
                if len(known) > 1:
                    raise GraphError(f"concatenate along axis {ax}: dimension {d} differs "
                                     f"({sizes})")
                shape.append(known.pop() if known else None)
        dtype = upcast(*[t.dtype for t in tensors])
        return Apply(self, tensors, [TensorType(dtype, shape=tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        try:
            r = np.concatenate(inputs, axis=self.axis)
        except ValueError as e:
            raise ValueError(f"concatenate: {e} (node created at {node.trace})") from None
        output_storage[0][0] = r.astype(node.outputs[0].dtype, copy=False)

    def grad(self, inputs, outputs, output_grads):
        gz = output_grads[0]
        grads, start = [], 0
        for t in inputs:
            n = t.type.shape[self.axis]
            size = n if n is not None else shape(t)[self.axis]
            idx = [slice(None)] * t.ndim
            idx[self.axis] = slice(start, start + size)
            g = getitem(gz, tuple(idx))
            grads.append(g if np.dtype(t.dtype).kind in "fc" else None)
            start = start + size
        return grads


def concatenate(tensor_list, axis=0):
    """Join tensors along an existing axis (``numpy.concatenate``)."""
    tensor_list = [as_tensor_variable(t) for t in tensor_list]
    if len(tensor_list) == 1:
        return tensor_list[0]
    nd = tensor_list[0].ndim
    if not -nd <= axis < nd:
        raise GraphError(f"concatenate: axis {axis} out of range for {nd}-d tensors")
    return Join(axis % nd)(*tensor_list)


def join(axis, *tensors):
    """Theano's argument order for :func:`concatenate`."""
    return concatenate(tensors, axis=axis)


def stack(tensors, axis=0):
    """Join tensors along a new axis (``numpy.stack``)."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise GraphError("stack needs at least one tensor")
    nd = tensors[0].ndim
    axis = axis % (nd + 1)
    if nd == 0 and all(np.dtype(t.dtype).kind in "iu" for t in tensors):
        return MakeVector(upcast(*[t.dtype for t in tensors]))(*tensors)
    pattern = tuple(range(axis)) + ("x",) + tuple(range(axis, nd))
    return Join(axis)(*[dimshuffle(t, pattern) for t in tensors])


class Alloc(Op):
    """An array of shape ``shape`` filled with (broadcast) ``value``."""

    def make_node(self, value, *dims):
        value = as_tensor_variable(value)
        if len(dims) == 1 and isinstance(dims[0], Variable) and dims[0].ndim == 1:
            vec = dims[0]  # the shape vector itself (how a node is rebuilt, e.g. by givens)
        else:
            vec = as_shape_vector(list(dims))
        n = vec.type.shape[0]
        if n is None:
            raise GraphError("alloc: the shape vector must have a known length")
        if value.ndim > n:
            raise GraphError(f"alloc: value has {value.ndim} dims but only {n} given")
        static = static_shape_of(vec, n)
        return Apply(self, [value, vec], [TensorType(value.dtype, shape=static)()])

    def make_py_callable(self, node):
        def run(value, shp):
            out = np.empty(tuple(shp), dtype=value.dtype)
            out[...] = value
            return out

        return run

    def grad(self, inputs, outputs, output_grads):
        value = inputs[0]
        gz = output_grads[0]
        lead = gz.ndim - value.ndim
        g = _sum(gz, axis=tuple(range(lead))) if lead else gz
        axes = tuple(d for d in range(value.ndim) if value.broadcastable[d])
        if axes:
            g = _sum(g, axis=axes, keepdims=True)
        return [g, None]


def alloc(value, *shape):
    """``value`` broadcast to ``shape`` (each entry an int or an int scalar)."""
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    return Alloc()(value, *shape)


def _shape_args(shape):
    if isinstance(shape, Variable) and shape.ndim == 1:
        n = shape.type.shape[0]
        if n is None:
            raise GraphError("zeros/ones with a symbolic shape vector of unknown length")
        return [shape[i] for i in range(n)]
    if isinstance(shape, (int, np.integer, Variable)):
        return [shape]
    return list(shape)


def zeros(shape, dtype=None):
    """An array of zeros (dtype defaults to floatX)."""
    return alloc(constant(0, dtype=dtype or config.floatX), *_shape_args(shape))


def ones(shape, dtype=None):
    """An array of ones (dtype defaults to floatX)."""
    return alloc(constant(1, dtype=dtype or config.floatX), *_shape_args(shape))


class ARange(Op):
    """``numpy.arange(start, stop, step)`` with symbolic bounds."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def make_node(self, start, stop, step):
        ins = [as_tensor_variable(v) for v in (start, stop, step)]
        for v in ins:
            if v.ndim != 0:
                raise GraphError(f"arange bounds must be scalars, got {v.type.short()}")
        n = None
        if all(isinstance(v, Constant) for v in ins):
            n = len(np.arange(*[v.data for v in ins]))
        return Apply(self, ins, [TensorType(self.dtype, shape=(n,))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.arange(*inputs, dtype=self.dtype)

    def grad(self, inputs, outputs, output_grads):
        return [None, None, None]


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in ``[start, stop)``; int64 for int bounds, else floatX."""
    if stop is None:
        start, stop = 0, start
    ins = [as_tensor_variable(v) for v in (start, stop, step)]
    if dtype is None:
        dtype = upcast(*[v.dtype for v in ins])
        if np.dtype(dtype).kind in "f":
            dtype = config.floatX
    return ARange(str(np.dtype(dtype)))(*ins)


class Eye(Op):
    """``numpy.eye(n, m, k)`` with symbolic sizes."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def make_node(self, n, m, k):
        ins = [as_tensor_variable(v) for v in (n, m, k)]
        static = [int(v.data) if isinstance(v, Constant) else None for v in ins[:2]]
        return Apply(self, ins, [TensorType(self.dtype, shape=tuple(static))()])

    def perform(self, node, inputs, output_storage):
        n, m, k = (int(v) for v in inputs)
        output_storage[0][0] = np.eye(n, m, k, dtype=self.dtype)

    def grad(self, inputs, outputs, output_grads):
        return [None, None, None]


def eye(n, m=None, k=0, dtype=None):
    """Identity-like matrix with ones on the ``k``-th diagonal."""
    return Eye(str(np.dtype(dtype or config.floatX)))(n, n if m is None else m, k)


def identity_like(x):
    """An identity matrix with the shape of the matrix ``x``."""
    x = as_tensor_variable(x)
    sh = shape(x)
    return eye(sh[0], sh[1], 0, dtype=x.dtype)


class SpecifyShape(Op):
    """Identity that gives ``x`` a more precise static shape, checked at run time."""

    __props__ = ("shape",)
    view_map = {0: [0]}

    def __init__(self, shape):
        self.shape = tuple(shape)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != len(self.shape):
            raise GraphError(f"specify_shape: {x.describe()} is {x.ndim}-d, shape {self.shape}")
        return Apply(self, [x], [TensorType(x.dtype, shape=self.shape)()])

    def make_py_callable(self, node):
        want, trace = self.shape, node.trace

        def run(x):
            for n, s in zip(x.shape, want):
                if s is not None and n != s:
                    raise ValueError(f"expected shape {want}, got {x.shape} (node created at "
                                     f"{trace})")
            return x

        return run

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0]]


def specify_shape(x, shape):
    """``x`` with the static shape ``shape`` (ints or None), checked when the function runs."""
    return SpecifyShape(shape)(x)


def specify_shape_like(x, ttype):
    """``x`` given exactly the static shape of the type ``ttype``."""
    return SpecifyShape(ttype.shape)(x)
