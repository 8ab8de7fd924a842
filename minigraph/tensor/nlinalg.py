"""``T.nlinalg``: diagonals, trace, inverse, determinant and ``eigh``, with gradients.

Theano's ``theano.tensor.nlinalg`` names: ``diag``, ``extract_diag``, ``alloc_diag``,
``trace``, ``matrix_inverse``, ``det``, ``eigh``, ``matrix_dot``, ``matrix_power``
(``T.diag``, ``T.diagonal`` and ``T.trace`` are the same functions). The ops call NumPy;
the gradients are the textbook ones: d inv(A) = -inv(A) dA inv(A), d det(A) = det(A)
tr(inv(A) dA), and for ``eigh`` the first-order perturbation of each eigenpair.
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable
from .blas import dot
from .math import cast, ge, gt, zeros_like
from .reduce import sum as _sum
from .shape import arange, eye
from .subtensor import set_subtensor


class ExtractDiag(Op):
    """``numpy.diagonal(x, offset, axis1, axis2)`` (a copy, as a new last dimension)."""

    __props__ = ("offset", "axis1", "axis2")

    def __init__(self, offset=0, axis1=0, axis2=1):
        self.offset, self.axis1, self.axis2 = int(offset), int(axis1), int(axis2)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim < 2:
            raise GraphError(f"diagonal needs at least a matrix, got {x.type.short()}{where(x)}")
        rest = [s for d, s in enumerate(x.type.shape) if d not in (self.axis1, self.axis2)]
        return Apply(self, [x], [TensorType(x.dtype, shape=tuple(rest) + (None,))()])

    def perform(self, node, inputs, output_storage):
        d = np.diagonal(inputs[0], self.offset, self.axis1, self.axis2)
        output_storage[0][0] = d.copy()

    def grad(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        if x.ndim != 2:  # the scatter back is written for matrices
            raise GraphError("the gradient of diagonal() is implemented for matrices only")
        n = gz.shape[0]
        rows = arange(n) + max(-self.offset, 0)
        cols = arange(n) + max(self.offset, 0)
        if (self.axis1, self.axis2) == (1, 0):
            rows, cols = cols, rows
        return [set_subtensor(zeros_like(x)[rows, cols], gz)]


class AllocDiag(Op):
    """A square matrix with the vector ``v`` on diagonal ``offset`` (``numpy.diag(v, k)``)."""

    __props__ = ("offset",)

    def __init__(self, offset=0):
        self.offset = int(offset)

    def make_node(self, v):
        v = as_tensor_variable(v)
        if v.ndim != 1:
            raise GraphError(f"alloc_diag needs a vector, got {v.type.short()}{where(v)}")
        return Apply(self, [v], [TensorType(v.dtype, shape=(None, None))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.diag(inputs[0], self.offset)

    def grad(self, inputs, outputs, output_grads):
        return [ExtractDiag(self.offset)(output_grads[0])]


def _axes(x, axis1, axis2):
    a1, a2 = axis1 % x.ndim, axis2 % x.ndim
    if a1 == a2:
        raise GraphError(f"diagonal: axis1 and axis2 are the same axis {axis1}{where(x)}")
    return a1, a2


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal ``offset`` of ``a`` over ``axis1`` and ``axis2`` (``numpy.diagonal``).

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> T.diagonal(a).eval({a: np.arange(4.0).reshape(2, 2)}).tolist()
    [0.0, 3.0]
    """
    a = as_tensor_variable(a)
    if a.ndim < 2:
        raise GraphError(f"diagonal needs at least a matrix, got {a.type.short()}{where(a)}")
    return ExtractDiag(offset, *_axes(a, axis1, axis2))(a)


extract_diag = diagonal


def alloc_diag(v, offset=0):
    """A square matrix with ``v`` on diagonal ``offset`` and zeros elsewhere."""
    return AllocDiag(offset)(v)


def diag(v, k=0):
    """``numpy.diag``: a vector gives a diagonal matrix, a matrix gives its diagonal ``k``.

    >>> import minigraph.tensor as T, numpy as np
    >>> v = T.dvector("v")
    >>> T.diag(v).eval({v: np.array([1.0, 2.0])}).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    v = as_tensor_variable(v)
    if v.ndim == 1:
        return AllocDiag(k)(v)
    if v.ndim == 2:
        return ExtractDiag(k)(v)
    raise GraphError(f"diag takes a vector or a matrix, got {v.type.short()}{where(v)}")


def trace(x):
    """Sum of the main diagonal of the matrix ``x``.

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> float(T.trace(a).eval({a: np.arange(4.0).reshape(2, 2)}))
    3.0
    """
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise GraphError(f"trace takes a matrix, got {x.type.short()}{where(x)}")
    return _sum(ExtractDiag()(x))


def _tri_mask(x, lower=True, strict=False):
    """A bool matrix selecting the lower (or upper) triangle of the square ``x``."""
    n = x.shape[0]
    rows, cols = arange(n).dimshuffle(0, "x"), arange(n).dimshuffle("x", 0)
    a, b = (rows, cols) if lower else (cols, rows)
    return gt(a, b) if strict else ge(a, b)


def _triangle(x, lower=True):
    """``x`` with the entries outside its lower (or upper) triangle set to zero."""
    return x * cast(_tri_mask(x, lower), x.dtype)


def _square(x, what):
    x = as_tensor_variable(x)
    if x.ndim != 2 or np.dtype(x.dtype).kind not in "fc":
        raise GraphError(f"{what} takes a float matrix, got {x.type.short()}{where(x)}")
    return x


class MatrixInverse(Op):
    """``numpy.linalg.inv`` of a square matrix."""

    def make_node(self, x):
        x = _square(x, "matrix_inverse")
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.linalg.inv(inputs[0]).astype(inputs[0].dtype, copy=False)

    def grad(self, inputs, outputs, output_grads):
        (xi,), (gz,) = outputs, output_grads
        return [-(xi.T.dot(gz).dot(xi.T))]  # d inv = -inv dA inv, transposed for the adjoint

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class Det(Op):
    """``numpy.linalg.det`` of a square matrix (a scalar)."""

    def make_node(self, x):
        x = _square(x, "det")
        return Apply(self, [x], [TensorType(x.dtype, shape=())()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(np.linalg.det(inputs[0]), dtype=inputs[0].dtype)

    def grad(self, inputs, outputs, output_grads):
        (x,), (d,), (gz,) = inputs, outputs, output_grads
        return [gz * d * MatrixInverse()(x).T]

    def infer_shape(self, node, input_shapes):
        return [()]


def matrix_inverse(x):
    """The inverse of the square matrix ``x`` (differentiable).

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> T.nlinalg.matrix_inverse(a).eval({a: np.diag([2.0, 4.0])}).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    return MatrixInverse()(x)


def det(x):
    """The determinant of the square matrix ``x`` (differentiable where ``x`` is invertible).

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> round(float(T.nlinalg.det(a).eval({a: np.diag([2.0, 4.0])})), 12)
    8.0
    """
    return Det()(x)


class Eigh(Op):
    """``numpy.linalg.eigh``: eigenvalues (ascending) and eigenvectors (columns) of the
    symmetric matrix given by the ``UPLO`` triangle of ``x``."""

    __props__ = ("UPLO",)

    def __init__(self, UPLO="L"):
        if UPLO not in ("L", "U"):
            raise GraphError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
        self.UPLO = UPLO

    def make_node(self, x):
        x = _square(x, "eigh")
        return Apply(self, [x], [TensorType(x.dtype, shape=(None,))(), x.type()])

    def perform(self, node, inputs, output_storage):
        w, v = np.linalg.eigh(inputs[0], UPLO=self.UPLO)
        output_storage[0][0] = w.astype(inputs[0].dtype, copy=False)
        output_storage[1][0] = v.astype(inputs[0].dtype, copy=False)

    def grad(self, inputs, outputs, output_grads):
        # S = V (diag(gw) + F * (V^T gV)) V^T with F_ij = 1 / (w_j - w_i) off the diagonal
        # (distinct eigenvalues); x_ij in the read triangle stands for x_ji too
        (x,), (w, v), (gw, gv) = inputs, outputs, output_grads
        gw = zeros_like(w) if gw is None else gw
        inner = diag(gw)
        if gv is not None:
            n = w.shape[0]
            ident = eye(n, dtype=x.dtype)
            gaps = w.dimshuffle("x", 0) - w.dimshuffle(0, "x") + ident
            inner = inner + (1 - ident) / gaps * v.T.dot(gv)
        S = v.dot(inner).dot(v.T)
        return [_triangle(S + S.T, lower=self.UPLO == "L") - diag(diag(S))]


def eigh(a, UPLO="L"):
    """Eigenvalues ``w`` (ascending) and eigenvectors ``v`` (columns) of a symmetric matrix.

    Only the ``UPLO`` triangle of ``a`` is read. The gradient assumes distinct eigenvalues.

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> w, v = T.nlinalg.eigh(a)
    >>> w.eval({a: np.diag([3.0, 1.0])}).tolist()
    [1.0, 3.0]
    """
    return Eigh(UPLO)(a)


def matrix_dot(*args):
    """``args[0] . args[1] . ...``: the product of several matrices, left to right."""
    if not args:
        raise GraphError("matrix_dot needs at least one matrix")
    out = as_tensor_variable(args[0])
    for a in args[1:]:
        out = dot(out, a)
    return out


def matrix_power(M, n):
    """``M`` multiplied by itself ``n`` times (``n`` a non-negative int), by squaring.

    >>> import minigraph.tensor as T, numpy as np
    >>> m = T.dmatrix("m")
    >>> T.nlinalg.matrix_power(m, 3).eval({m: np.array([[1.0, 1.0], [0.0, 1.0]])}).tolist()
    [[1.0, 3.0], [0.0, 1.0]]
    """
    M = as_tensor_variable(M)
    if int(n) != n or n < 0:
        raise GraphError(f"matrix_power: n must be a non-negative int, got {n!r}")
    result, base, n = None, M, int(n)
    while n:
        if n & 1:
            result = base if result is None else dot(result, base)
        n >>= 1
        if n:
            base = dot(base, base)
    return eye(M.shape[0], dtype=M.dtype) if result is None else result
