"""Reductions: ``sum prod max min argmax argmin mean var std`` with ``axis`` and ``keepdims``.

One ``Reduce`` op covers sum/prod/max/min (its ``kind`` selects the NumPy function and the
gradient); ``Argmax``/``Argmin`` return int64 indices; mean, var and std are compositions.
"""

import builtins

import numpy as np

from minigraph.graph.basic import Apply, GraphError
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from . import math as M
from .basic import as_tensor_variable
from .elemwise import dimshuffle
from .math import cast, eq, gt, neq, sqr, sqrt, true_div


def _norm_axis(x, axis):
    if axis is None:
        return tuple(range(x.ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    try:
        if isinstance(axis, str) or builtins.any(isinstance(a, (str, bool)) for a in axis):
            raise TypeError(axis)
        axis = tuple(int(a) for a in axis)
    except (TypeError, ValueError):
        raise GraphError(f"axis must be an int, a tuple of ints or None, got {axis!r}") from None
    out = []
    for a in axis:
        if not -x.ndim <= a < builtins.max(x.ndim, 1) or (x.ndim == 0 and a not in (0, -1)):
            raise GraphError(f"axis {a} is out of range for the {x.ndim}-d {x.describe()}")
        out.append(a % x.ndim if x.ndim else 0)
    if len(set(out)) != len(out):
        raise GraphError(f"axis {axis} repeats a dimension")
    return tuple(sorted(out)) if x.ndim else ()


def _out_shape(x, axis, keepdims):
    if keepdims:
        return tuple(1 if d in axis else s for d, s in enumerate(x.type.shape))
    return tuple(s for d, s in enumerate(x.type.shape) if d not in axis)


_NP = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


class Reduce(Op):
    """Reduce ``x`` over ``axis`` (a sorted tuple) with sum, prod, max or min."""

    __props__ = ("kind", "axis", "keepdims", "dtype")

    def __init__(self, kind, axis, keepdims=False, dtype=None):
        self.kind, self.axis, self.keepdims, self.dtype = kind, tuple(axis), keepdims, dtype

    def __str__(self):
        ax = ",".join(map(str, self.axis))
        return f"{self.kind}{{{ax}{',keepdims' if self.keepdims else ''}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        dtype = self.dtype or _acc_dtype(self.kind, x.dtype)
        out = TensorType(dtype, shape=_out_shape(x, self.axis, self.keepdims))()
        return Apply(self, [x], [out])

    def make_py_callable(self, node):
        fn, axis, keep = _NP[self.kind], self.axis, self.keepdims
        dtype = np.dtype(node.outputs[0].dtype)
        if self.kind in ("sum", "prod"):
            # np.sum/np.prod of an ndarray is this ufunc's reduce, reached through a Python
            # wrapper that costs microseconds a call; other values (NumPy scalars) take it
            reduce = (np.add if self.kind == "sum" else np.multiply).reduce
            ndarray, asarray = np.ndarray, np.asarray

            def run(x):
                if type(x) is ndarray:
                    return asarray(reduce(x, axis=axis, dtype=dtype, keepdims=keep))
                return asarray(fn(x, axis=axis, keepdims=keep, dtype=dtype))
        else:
            def run(x):
                if x.size == 0:
                    raise ValueError(f"{self.kind} of an empty array (node created at "
                                     f"{node.trace})")
                return np.asarray(fn(x, axis=axis, keepdims=keep)).astype(dtype, copy=False)
        return run

    def grad(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if np.dtype(x.dtype).kind not in "fc":
            return [None]
        if not self.keepdims:
            gz = _restore_dims(gz, x.ndim, self.axis)
            out = _restore_dims(out, x.ndim, self.axis)
        if self.kind == "sum":
            g = M.second(x, gz)
        elif self.kind == "prod":
            g = gz * _prod_grad(x, out, self.axis)
        else:
            # the gradient goes to every position equal to the extreme value
            g = gz * M.eq(x, out)
        return [M.cast(g, x.dtype)]

    def infer_shape(self, node, input_shapes):
        s = input_shapes[0]
        if self.keepdims:
            return [tuple(1 if d in self.axis else n for d, n in enumerate(s))]
        return [tuple(n for d, n in enumerate(s) if d not in self.axis)]


def _prod_grad(x, out, axis):
    """d prod / d x_i = the product of the other entries, also where ``x`` has zeros.

    Away from zeros that is ``prod / x_i``; at a lone zero it is the product of the
    non-zero entries, and with two or more zeros in the group it is 0.
    """
    is_zero = M.eq(x, 0)
    safe_x = M.switch(is_zero, M.ones_like(x), x)
    nonzero_prod = Reduce("prod", axis, True)(safe_x)
    n_zeros = Reduce("sum", axis, True)(is_zero)
    at_zero = M.switch(M.eq(n_zeros, 1), nonzero_prod, M.zeros_like(nonzero_prod))
    return M.switch(is_zero, at_zero, out / safe_x)


def _restore_dims(v, ndim, axis):
    if v.ndim == ndim:
        return v
    kept = iter(range(v.ndim))
    return dimshuffle(v, tuple("x" if d in axis else next(kept) for d in range(ndim)))


def _acc_dtype(kind, dtype):
    if kind in ("sum", "prod"):
        if dtype == "bool" or np.dtype(dtype).kind in "iu":
            return "int64" if np.dtype(dtype).kind != "u" else "uint64"
    return dtype


def _reduce(kind, x, axis, keepdims, dtype=None):
    x = as_tensor_variable(x)
    axis = _norm_axis(x, axis)
    if dtype is not None:
        dtype = str(np.dtype(dtype))
    if not axis and (dtype is None or dtype == x.dtype):
        return x
    return Reduce(kind, axis, bool(keepdims), dtype)(x)


def sum(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over ``axis`` (int, tuple or None for all); ints accumulate in int64."""
    return _reduce("sum", x, axis, keepdims, dtype)


def prod(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Product over ``axis``."""
    return _reduce("prod", x, axis, keepdims, dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; the gradient goes to the maximal entries."""
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Minimum over ``axis``."""
    return _reduce("min", x, axis, keepdims)


def _count(x, axis):
    from .shape import shape  # cycle: shape.py imports this module

    n = None
    for d in axis:
        s = x.type.shape[d]
        term = s if s is not None else shape(x)[d]
        n = term if n is None else n * term
    return 1 if n is None else n


def mean(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Arithmetic mean over ``axis``; integer inputs give floatX-style floats."""
    x = as_tensor_variable(x)
    ax = _norm_axis(x, axis)
    s = sum(x, axis=ax, dtype=dtype, keepdims=keepdims)
    n = _count(x, ax)
    out = true_div(s, cast(n, s.dtype) if not isinstance(n, int) else n)
    if np.dtype(x.dtype).kind in "fc" and out.dtype != x.dtype and dtype is None:
        out = cast(out, x.dtype)
    return out


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over ``axis`` (``ddof=1`` or ``corrected=True`` for the unbiased estimate)."""
    x = as_tensor_variable(x)
    ax = _norm_axis(x, axis)
    ddof = 1 if corrected else ddof
    centred = x - mean(x, axis=ax, keepdims=True)
    ss = sum(sqr(centred), axis=ax, keepdims=keepdims)
    n = _count(x, ax)
    denom = n - ddof if isinstance(n, int) else cast(n - ddof, ss.dtype)
    return true_div(ss, denom)


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation over ``axis``."""
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected))


class Argmax(Op):
    """Index of the maximum (``kind='max'``) or minimum along one axis or all (flattened)."""

    __props__ = ("kind", "axis", "keepdims")

    def __init__(self, kind, axis, keepdims=False):
        self.kind, self.axis, self.keepdims = kind, axis, keepdims

    def __str__(self):
        return f"arg{self.kind}{{{self.axis}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if self.axis is None:
            shape = (1,) * x.ndim if self.keepdims else ()
        else:
            shape = _out_shape(x, (self.axis,), self.keepdims)
        return Apply(self, [x], [TensorType("int64", shape=shape)()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        fn = np.argmax if self.kind == "max" else np.argmin
        if x.size == 0:
            raise ValueError(f"arg{self.kind} of an empty array (node created at {node.trace})")
        r = fn(x, axis=self.axis, keepdims=self.keepdims)
        output_storage[0][0] = np.asarray(r, dtype="int64")

    def grad(self, inputs, outputs, output_grads):
        return [None]


def _argreduce(kind, x, axis, keepdims):
    x = as_tensor_variable(x)
    if axis is not None:
        ax = _norm_axis(x, axis)
        if len(ax) != 1:
            if len(ax) == x.ndim:
                axis = None
            else:
                raise GraphError(f"arg{kind} takes one axis or None, got {axis!r}")
        else:
            axis = ax[0]
    return Argmax(kind, axis, bool(keepdims))(x)


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum along ``axis`` (None: of the flattened array), int64."""
    return _argreduce("max", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the minimum along ``axis``, int64."""
    return _argreduce("min", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    """True where every entry along ``axis`` is non-zero (bool; ``True`` for empty input).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.imatrix("x")
    >>> T.all(x, axis=1).eval({x: np.array([[1, 2], [0, 3]], "int32")}).tolist()
    [True, False]
    """
    x = as_tensor_variable(x)
    return eq(sum(eq(x, 0), axis=axis, keepdims=keepdims), 0)


def any(x, axis=None, keepdims=False):
    """True where some entry along ``axis`` is non-zero (bool; ``False`` for empty input).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.imatrix("x")
    >>> T.any(x, axis=0).eval({x: np.array([[1, 0], [0, 0]], "int32")}).tolist()
    [True, False]
    """
    x = as_tensor_variable(x)
    return gt(sum(neq(x, 0), axis=axis, keepdims=keepdims), 0)


def max_and_argmax(a, axis=None, keepdims=False):
    """``[max(a, axis), argmax(a, axis)]``, as Theano's ``T.max_and_argmax``.

    ``axis`` is an int or None (the flattened array). The maximum is differentiable.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dmatrix("x")
    >>> m, i = T.max_and_argmax(x, axis=1)
    >>> [v.tolist() for v in (m.eval({x: np.eye(2)}), i.eval({x: np.eye(2)}))]
    [[1.0, 1.0], [0, 1]]
    """
    return [max(a, axis=axis, keepdims=keepdims), argmax(a, axis=axis, keepdims=keepdims)]
