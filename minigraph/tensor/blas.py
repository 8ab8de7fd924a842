"""Linear algebra: ``dot`` (the NumPy cases), ``outer``, ``tensordot``, ``batched_dot``.

``DotAdd`` is ``dot(x, W) + b`` in one buffer; users never build it, the ``gemm`` rule of
``tensor/rewriting/blas.py`` does.

``Dot`` follows ``numpy.dot`` for 1-d and 2-d operands and ``numpy.matmul`` semantics
for stacks of matrices (``batched_dot``); ``tensordot`` is lowered to transposes, reshapes
and one 2-d ``Dot`` so it needs no gradient of its own.
"""

import numpy as np

from kernels.workspace import SHARED
from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable, upcast
from .elemwise import _fit_grad
from .math import add, cast
from .shape import reshape, shape


def pooled_dot(a, b, dtype):
    """``numpy.dot(a, b)`` of two matrices of ``dtype``, written into a workspace array.

    Big products (a layer's input projection or its gradient: 12-37 MB in Gorner's model)
    then take memory a finished node left (``kernels.workspace.SHARED``, shared with the GRU
    and fused kernels) instead of fresh pages; anything else is a plain ``numpy.dot``.

    An operand that is neither C- nor F-contiguous but has rows of unit stride (a column
    slice of a wider array: a layer's outputs in the LSTM's ``[h, c]`` state trace) goes to
    ``numpy.matmul``, which hands BLAS its row stride; ``numpy.dot`` copies it first or runs
    a loop of its own. Measured with OpenBLAS on 2 threads (float32, (512, 6000) columns of a
    (6000, 1024) array times (6000, 2048)): 92 ms through ``dot``, 68 through ``matmul``,
    69 for contiguous operands; times (6000, 98): 26 ms, 4.0 and 4.3.
    """
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2 \
            and a.dtype == dtype and b.dtype == dtype and a.shape[1] == b.shape[0]:
        fa, fb = a.flags, b.flags
        product = np.dot if (fa.c_contiguous or fa.f_contiguous) and \
            (fb.c_contiguous or fb.f_contiguous) else np.matmul
        if a.shape[0] * b.shape[1] * dtype.itemsize >= SHARED.min_bytes:
            return product(a, b, out=SHARED.empty((a.shape[0], b.shape[1]), dtype))
        return product(a, b)
    return np.dot(a, b)


class Dot(Op):
    """``numpy.dot`` for 0-2-d operands (vector.vector, matrix.vector, vector.matrix, ...)."""

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim == 0 or b.ndim == 0:
            raise GraphError("Dot needs 1-d or 2-d operands; use * for scalars")
        if a.ndim > 2 or b.ndim > 2:
            raise GraphError(f"Dot of {a.ndim}-d and {b.ndim}-d: use batched_dot or tensordot")
        ka = a.type.shape[-1]
        kb = b.type.shape[0]
        if ka is not None and kb is not None and ka != kb:
            raise GraphError(
                f"dot: shapes {a.type.short()} ({a.describe()}) and {b.type.short()} "
                f"({b.describe()}) are not aligned: {ka} != {kb}{where(a) or where(b)}"
            )
        shape = a.type.shape[:-1] + b.type.shape[1:]
        return Apply(self, [a, b], [TensorType(upcast(a.dtype, b.dtype), shape=shape)()])

    def make_py_callable(self, node):
        dtype = np.dtype(node.outputs[0].dtype)
        trace = node.trace

        def run(a, b):
            try:
                r = pooled_dot(a, b, dtype)
            except ValueError:
                raise ValueError(f"dot: shapes {a.shape} and {b.shape} are not aligned "
                                 f"(node created at {trace})") from None
            if type(r) is not np.ndarray or r.dtype != dtype:
                r = np.asarray(r, dtype=dtype)
            return r

        return run

    def grad(self, inputs, outputs, output_grads):
        a, b = inputs
        gz = output_grads[0]
        if a.ndim == 1 and b.ndim == 1:
            ga, gb = gz * b, gz * a
        elif a.ndim == 2 and b.ndim == 1:
            ga, gb = outer(gz, b), dot(a.T, gz)
        elif a.ndim == 1 and b.ndim == 2:
            ga, gb = dot(b, gz), outer(a, gz)
        else:
            ga, gb = dot(gz, b.T), dot(a.T, gz)
        return [_cast_like(ga, a), _cast_like(gb, b)]

    def infer_shape(self, node, input_shapes):
        sa, sb = input_shapes
        return [tuple(sa[:-1]) + tuple(sb[1:])]


class DotAdd(Op):
    """``dot(x, W) + b`` with ``b`` broadcastable to the product (a bias vector, typically),
    computed in one buffer.

    NumPy evaluates ``dot(x, W) + b`` into two fresh arrays; ``DotAdd`` computes the product
    once and adds the bias into that same buffer: one allocation and one pass less.
    """

    def make_node(self, x, W, b):
        x, W, b = (as_tensor_variable(v) for v in (x, W, b))
        # the type is exactly that of the expression it replaces
        return Apply(self, [x, W, b], [add(Dot()(x, W), b).type()])

    def make_py_callable(self, node):
        dtype = np.dtype(node.outputs[0].dtype)

        def run(x, W, b):
            r = pooled_dot(x, W, dtype)
            if r.dtype != dtype or type(r) is not np.ndarray:
                r = np.asarray(r, dtype=dtype)
            r += b
            return r

        return run

    def grad(self, inputs, outputs, output_grads):
        x, W, b = inputs
        gz = output_grads[0]
        return Dot().grad([x, W], [None], [gz]) + [_fit_grad(gz, b)]


def _cast_like(g, x):
    if np.dtype(x.dtype).kind not in "fc":
        return None
    return g if g.dtype == x.dtype else cast(g, x.dtype)


class BatchedDot(Op):
    """``numpy.matmul`` of two stacks of matrices with the same leading dimension."""

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim != 3 or b.ndim != 3:
            raise GraphError(f"batched_dot needs 3-d operands, got {a.ndim}-d and {b.ndim}-d")
        for what, da, db in (("batch sizes", 0, 0), ("inner dimensions", 2, 1)):
            na, nb = a.type.shape[da], b.type.shape[db]
            if na is not None and nb is not None and na != nb:
                raise GraphError(f"batched_dot: {what} differ: {a.type.short()} "
                                 f"({a.describe()}) and {b.type.short()} ({b.describe()})")
        n = a.type.shape[0] if a.type.shape[0] is not None else b.type.shape[0]
        shape = (n, a.type.shape[1], b.type.shape[2])
        return Apply(self, [a, b], [TensorType(upcast(a.dtype, b.dtype), shape=shape)()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
            raise ValueError(f"batched_dot: shapes {a.shape} and {b.shape} do not match "
                             f"(node created at {node.trace})")
        r = np.matmul(a, b)
        output_storage[0][0] = r.astype(node.outputs[0].dtype, copy=False)

    def grad(self, inputs, outputs, output_grads):
        a, b = inputs
        gz = output_grads[0]
        ga = batched_dot(gz, b.dimshuffle(0, 2, 1))
        gb = batched_dot(a.dimshuffle(0, 2, 1), gz)
        return [_cast_like(ga, a), _cast_like(gb, b)]


def batched_dot(a, b):
    """Matrix products of matching slices: ``out[i] = a[i] @ b[i]``."""
    return BatchedDot()(a, b)


def dot(a, b):
    """``numpy.dot`` semantics for 1-d/2-d operands; a scalar operand multiplies.

    Higher-rank operands follow ``numpy.dot`` too (lowered to :func:`tensordot`).

    >>> import minigraph.tensor as T, numpy as np
    >>> x, W = T.dvector("x"), T.dmatrix("W")
    >>> f = (T.dot(x, W)).eval({x: np.ones(2), W: np.eye(2)})
    >>> f.tolist()
    [1.0, 1.0]
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim <= 2 and b.ndim <= 2:
        return Dot()(a, b)
    return tensordot(a, b, axes=[[a.ndim - 1], [max(b.ndim - 2, 0)]])


def outer(x, y):
    """Outer product of two vectors."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if x.ndim != 1 or y.ndim != 1:
        raise GraphError(f"outer needs vectors, got {x.ndim}-d and {y.ndim}-d")
    return x.dimshuffle(0, "x") * y.dimshuffle("x", 0)


def tensordot(a, b, axes=2):
    """Sum products over the given axes (``numpy.tensordot`` semantics)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, (int, np.integer)):
        axes = [list(range(a.ndim - axes, a.ndim)), list(range(axes))]
    ax_a, ax_b = ([axes[0]] if isinstance(axes[0], int) else list(axes[0]),
                  [axes[1]] if isinstance(axes[1], int) else list(axes[1]))
    if len(ax_a) != len(ax_b):
        raise GraphError(f"tensordot: axes {axes} have different lengths")
    ax_a = [x % a.ndim for x in ax_a]
    ax_b = [x % b.ndim for x in ax_b]
    free_a = [d for d in range(a.ndim) if d not in ax_a]
    free_b = [d for d in range(b.ndim) if d not in ax_b]
    sa, sb = shape(a), shape(b)
    k = _prod_dims(a, sa, ax_a)
    m, n = _prod_dims(a, sa, free_a), _prod_dims(b, sb, free_b)
    # summed axes in front of a (behind b), in order: reshape, then a transposed view, which
    # Dot hands to BLAS as is; a transpose before the reshape would copy the whole operand.
    # A matrix operand (one summed axis, one free one) is its own 2-d form, and a product
    # of two such is the result: no reshape, nor the shape arithmetic feeding it, at run time
    mat_a, mat_b = len(ax_a) == len(free_a) == 1, len(ax_b) == len(free_b) == 1
    if ax_a == list(range(len(ax_a))):
        a2 = (a if mat_a else reshape(a, [k, m])).T
    else:
        a2 = a.transpose(free_a + ax_a)
        a2 = a2 if mat_a else reshape(a2, [m, k])
    if ax_b == list(range(b.ndim - len(ax_b), b.ndim)):
        b2 = (b if mat_b else reshape(b, [n, k])).T
    else:
        b2 = b.transpose(ax_b + free_b)
        b2 = b2 if mat_b else reshape(b2, [k, n])
    if mat_a and mat_b:
        return Dot()(a2, b2)
    out_shape = [sa[d] for d in free_a] + [sb[d] for d in free_b]
    return reshape(Dot()(a2, b2), out_shape) if out_shape else reshape(Dot()(a2, b2), [])


def _prod_dims(x, sh, dims):
    """Product of some of ``x``'s dimensions: an int when static, else a symbolic scalar."""
    out = None  # (not 1 * ...: a node multiplying by one at every call)
    for d in dims:
        s = x.type.shape[d]
        s = s if s is not None else sh[d]
        out = s if out is None else out * s
    return 1 if out is None else out
