"""``T.slinalg``: Cholesky factorisation, linear solves and ``kron``, with gradients.

Theano's ``theano.tensor.slinalg`` names. The ops call NumPy (SciPy's triangular solver when
SciPy is installed). Gradients are compositions of graph ops, so they are differentiable
again:

- ``cholesky``: with ``S = L^-T Phi(L^T dL) L^-1`` (``Phi`` keeps the lower triangle and
  halves the diagonal), the gradient is ``tril(S + S^T) - diag(S)``: the factorisation reads
  only the lower triangle of its input (the upper one for ``lower=False``).
- ``solve``: ``x = A^-1 b`` gives ``db = A^-T dx`` and ``dA = -db x^T``, kept to the triangle
  a triangular solve reads.
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable, upcast
from .blas import outer
from .nlinalg import MatrixInverse, _square, _triangle, diag
from .shape import reshape

_STRUCTURES = ("general", "symmetric", "lower_triangular", "upper_triangular")


class Cholesky(Op):
    """``numpy.linalg.cholesky``: ``L`` lower triangular with ``L L^T = A`` (or ``U^T U = A``
    with ``lower=False``)."""

    __props__ = ("lower",)

    def __init__(self, lower=True):
        self.lower = bool(lower)

    def make_node(self, x):
        x = _square(x, "cholesky")
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        a = inputs[0]
        try:
            factor = np.linalg.cholesky(a if self.lower else a.T)
        except np.linalg.LinAlgError:
            raise np.linalg.LinAlgError(f"cholesky: the matrix is not positive definite "
                                        f"(node created at {node.trace})") from None
        factor = factor if self.lower else factor.T
        output_storage[0][0] = factor.astype(a.dtype, copy=False)

    def grad(self, inputs, outputs, output_grads):
        _, (factor,), (gz,) = inputs, outputs, output_grads
        L, gL = (factor, gz) if self.lower else (factor.T, gz.T)
        inner = _triangle(L.T.dot(gL))
        inner = inner - diag(diag(inner)) * 0.5  # Phi: lower triangle, half diagonal
        L_inv = MatrixInverse()(L)
        S = L_inv.T.dot(inner).dot(L_inv)
        g = _triangle(S + S.T, lower=True) - diag(diag(S))
        return [g if self.lower else g.T]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def cholesky(x, lower=True):
    """The Cholesky factor of the symmetric positive-definite matrix ``x``.

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> T.slinalg.cholesky(a).eval({a: np.array([[4.0, 2.0], [2.0, 2.0]])}).tolist()
    [[2.0, 0.0], [1.0, 1.0]]
    """
    return Cholesky(lower)(x)


def _solve_np(structure, a, b):
    if structure in ("lower_triangular", "upper_triangular"):
        lower = structure == "lower_triangular"
        try:
            from scipy.linalg import solve_triangular  # optional: SciPy may be absent

            return solve_triangular(a, b, lower=lower)
        except ImportError:  # scipy is optional: a general solve of the same triangle
            return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)
    if structure == "symmetric":
        a = np.tril(a) + np.tril(a, -1).T  # the lower triangle is the matrix, as LAPACK
    return np.linalg.solve(a, b)


class Solve(Op):
    """``x`` with ``A x = b`` for a square ``A`` and a vector or matrix ``b``.

    ``A_structure`` ('general', 'symmetric', 'lower_triangular', 'upper_triangular') says
    which entries of ``A`` are read: a triangle for the triangular and symmetric cases.
    """

    __props__ = ("A_structure",)

    def __init__(self, A_structure="general"):
        if A_structure not in _STRUCTURES:
            raise GraphError(f"solve: A_structure must be one of {_STRUCTURES}, got "
                             f"{A_structure!r}")
        self.A_structure = A_structure

    def make_node(self, A, b):
        A, b = _square(A, "solve"), as_tensor_variable(b)
        if b.ndim not in (1, 2):
            raise GraphError(f"solve: b must be a vector or a matrix, got {b.type.short()}"
                             f"{where(b)}")
        dtype = upcast(A.dtype, b.dtype)
        return Apply(self, [A, b], [TensorType(dtype, shape=(None,) * b.ndim)()])

    def perform(self, node, inputs, output_storage):
        A, b = inputs
        x = _solve_np(self.A_structure, A, b)
        output_storage[0][0] = np.asarray(x, dtype=node.outputs[0].dtype)

    def grad(self, inputs, outputs, output_grads):
        (A, b), (x,), (gx,) = inputs, outputs, output_grads
        transposed = {"lower_triangular": "upper_triangular",
                      "upper_triangular": "lower_triangular"}.get(self.A_structure,
                                                                  self.A_structure)
        # the symmetric matrix is its own transpose, still given by A's lower triangle
        gb = Solve(transposed)(A if self.A_structure == "symmetric" else A.T, gx)
        gA = -(outer(gb, x) if b.ndim == 1 else gb.dot(x.T))
        if self.A_structure == "lower_triangular":
            gA = _triangle(gA, lower=True)
        elif self.A_structure == "upper_triangular":
            gA = _triangle(gA, lower=False)
        elif self.A_structure == "symmetric":  # A_ij for i > j stands for A_ji too
            gA = _triangle(gA + gA.T, lower=True) - diag(diag(gA))
        return [gA, gb]


def solve(a, b, A_structure="general"):
    """``x`` solving ``a x = b`` (``b`` a vector or a matrix of right-hand sides).

    >>> import minigraph.tensor as T, numpy as np
    >>> a, b = T.dmatrix("a"), T.dvector("b")
    >>> T.slinalg.solve(a, b).eval({a: np.diag([2.0, 4.0]), b: np.array([1.0, 1.0])}).tolist()
    [0.5, 0.25]
    """
    return Solve(A_structure)(a, b)


def solve_lower_triangular(a, b):
    """``solve`` reading only the lower triangle of ``a``."""
    return Solve("lower_triangular")(a, b)


def solve_upper_triangular(a, b):
    """``solve`` reading only the upper triangle of ``a``."""
    return Solve("upper_triangular")(a, b)


def solve_symmetric(a, b):
    """``solve`` for a symmetric ``a`` given by its lower triangle."""
    return Solve("symmetric")(a, b)


def kron(a, b):
    """Kronecker product of two matrices (``numpy.kron``), composed from broadcasting.

    >>> import minigraph.tensor as T, numpy as np
    >>> a, b = T.dmatrix("a"), T.dmatrix("b")
    >>> T.slinalg.kron(a, b).eval({a: np.eye(2), b: np.ones((1, 2))}).tolist()
    [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim != 2 or b.ndim != 2:
        raise GraphError(f"kron takes two matrices, got {a.type.short()} and "
                         f"{b.type.short()}{where(a)}")
    # (m, 1, n, 1) * (1, p, 1, q) -> (m, p, n, q) -> (m p, n q)
    prod = a.dimshuffle(0, "x", 1, "x") * b.dimshuffle("x", 0, "x", 1)
    return reshape(prod, (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]), ndim=2)
