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


class Gemm(Op):
    """``beta * z + alpha * dot(x, y)`` of matrices, one BLAS ``gemm`` call: Theano's
    ``gemm(z, alpha, x, y, beta)``.

    Users never build it; the ``gemm`` rule of ``tensor/rewriting/blas.py`` does, from an
    update ``W - lr * dot(x.T, g)`` (every SGD step of a weight matrix) or any ``z +- a * dot``
    whose product has no other reader. NumPy evaluates that as a product into a new array,
    then a scaled subtraction into another; here the product is accumulated into ``z``'s
    values in one pass: into a copy of ``z`` (a shared variable's old value stays as it was
    until the call succeeds), or into ``z`` itself when the ``inplace`` pass finds that ``z``
    dies here (``inplace=True``). ``benchmarks/scan_overhead.py``'s fast.ai function updates
    three weight matrices so.

    ``alpha`` and ``beta`` are scalars (0-d) of the matrices' dtype. BLAS runs through
    :func:`minigraph.codegen.blas.gemm_kernel` (NumPy's OpenBLAS called from Numba); until
    that has compiled, and for other dtypes, NumPy computes the same expression.
    """

    inplace_inputs = (0,)

    def __init__(self, inplace=False):
        self.inplace = bool(inplace)
        self.destroy_map = {0: [0]} if inplace else {}

    def __eq__(self, other):
        return type(self) is type(other) and self.inplace == other.inplace

    def __hash__(self):
        return hash((type(self), self.inplace))

    def __str__(self):
        return "Gemm{inplace}" if self.inplace else "Gemm"

    def inplace_version(self):
        """This op, allowed to overwrite ``z`` (None when it already may)."""
        return None if self.inplace else Gemm(True)

    def make_node(self, z, alpha, x, y, beta):
        z, alpha, x, y, beta = (as_tensor_variable(v) for v in (z, alpha, x, y, beta))
        if z.ndim != 2 or x.ndim != 2 or y.ndim != 2 or alpha.ndim or beta.ndim:
            raise GraphError(f"gemm needs matrices z, x, y and scalars alpha, beta; got "
                             f"{z.type.short()}, {alpha.type.short()}, {x.type.short()}, "
                             f"{y.type.short()}, {beta.type.short()}")
        dtypes = {v.dtype for v in (z, alpha, x, y, beta)}
        if len(dtypes) != 1 or z.dtype not in ("float32", "float64"):
            raise GraphError(f"gemm needs one float dtype, got {sorted(dtypes)}")
        for what, a, b in (("x's columns and y's rows", x.type.shape[1], y.type.shape[0]),
                           ("z's rows and x's", z.type.shape[0], x.type.shape[0]),
                           ("z's columns and y's", z.type.shape[1], y.type.shape[1])):
            if a is not None and b is not None and a != b:
                raise GraphError(f"gemm: {what} differ ({a} != {b}){where(x) or where(z)}")
        return Apply(self, [z, alpha, x, y, beta], [z.type()])

    def make_py_callable(self, node):
        from minigraph.codegen.blas import gemm_kernel  # cycle: codegen reads tensor ops

        dtype = np.dtype(node.outputs[0].dtype)
        trace, inplace = node.trace, self.inplace

        def run(z, alpha, x, y, beta):
            m, n = z.shape
            if x.shape[0] != m or y.shape[1] != n or x.shape[1] != y.shape[0]:
                raise ValueError(f"gemm: z {z.shape}, x {x.shape} and y {y.shape} do not "
                                 f"fit z + x @ y (node created at {trace})")
            kernel = gemm_kernel(dtype)
            if inplace and z.flags.writeable and z.flags.c_contiguous:
                out = z  # the inplace pass found z dying here
            elif kernel is None:
                out = None
            else:
                out = np.array(z, dtype, order="C")
            if kernel is None or x.dtype != dtype or y.dtype != dtype or not m or not n \
                    or not x.shape[1]:
                product = np.dot(x, y)
                product *= alpha
                if out is None:
                    return product if beta == 0 else (z * beta + product).astype(dtype,
                                                                               copy=False)
                if beta == 0:
                    out[...] = product
                else:
                    if beta != 1:
                        out *= beta
                    out += product
                return out
            (xa, ta, lda), (ya, tb, ldb) = _blas_operand(x), _blas_operand(y)
            kernel(ta, tb, m, n, x.shape[1], dtype.type(alpha), xa, lda, ya, ldb,
                   dtype.type(beta), out, n)
            return out

        return run

    def grad(self, inputs, outputs, output_grads):
        z, alpha, x, y, beta = inputs
        g = output_grads[0]
        ga = alpha * g
        return [beta * g, (g * Dot()(x, y)).sum(), Dot()(ga, y.T), Dot()(x.T, ga),
                (g * z).sum()]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


def _blas_operand(a):
    """``(C-contiguous matrix, transposed, leading dimension)`` standing for matrix ``a`` in
    a row-major CBLAS call: ``a`` itself, the C-contiguous ``a.T`` of an F-contiguous ``a``
    (a transposed view, as weight gradients read their inputs), else a C-contiguous copy.
    The kernel sees one array layout, so it compiles once."""
    if a.flags.c_contiguous:
        return a, 0, max(a.shape[1], 1)
    if a.flags.f_contiguous:
        return a.T, 1, max(a.shape[0], 1)
    a = np.ascontiguousarray(a)
    return a, 0, max(a.shape[1], 1)


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
