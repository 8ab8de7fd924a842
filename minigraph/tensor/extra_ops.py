"""``T.extra_ops``: helpers Theano kept outside the main namespace.

``cumsum cumprod repeat bincount squeeze diff fill_diagonal fill_diagonal_offset bartlett
to_one_hot``, with NumPy's meaning (and, from ``lookup.py``, ``Unique searchsorted compress
ravel_multi_index unravel_index``). ``CumOp``, ``Repeat``, ``BinCount``, ``FillDiagonal``,
``FillDiagonalOffset`` and ``Bartlett`` are ops (NumPy does the work); ``squeeze`` and ``diff``
are compositions of shape and indexing ops. ``repeat``'s gradient is a scatter-add composed
from ``inc_subtensor``.
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable
from .math import cast, ones_like, zeros_like
from .nnet.basic import to_one_hot  # noqa: F401
from .reduce import sum as _sum
from .shape import arange, flatten, specify_shape  # noqa: F401
from .subtensor import inc_subtensor
# found in T.extra_ops in Theano; they live in lookup.py (values and positions)
from .lookup import (SearchsortedOp, Unique, compress, ravel_multi_index,  # noqa: F401
                     searchsorted, unravel_index)


def _check_axis(x, axis, what):
    if not -x.ndim <= axis < max(x.ndim, 1):
        raise GraphError(f"{what}: axis {axis} is out of range for the {x.ndim}-d "
                         f"{x.describe()}{where(x)}")
    return axis % max(x.ndim, 1)


def _flip(x, axis):
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


class CumOp(Op):
    """Cumulative sum (``mode='add'``) or product (``mode='mul'``) along ``axis``."""

    __props__ = ("axis", "mode")

    def __init__(self, axis, mode="add"):
        if mode not in ("add", "mul"):
            raise ValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        self.axis, self.mode = axis, mode

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        fn = np.cumsum if self.mode == "add" else np.cumprod
        x = inputs[0]
        output_storage[0][0] = fn(x, axis=self.axis, dtype=x.dtype)

    def grad(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if np.dtype(x.dtype).kind not in "fc":
            return [None]
        ax = self.axis
        if self.mode == "add":  # each x_i feeds every later sum: a reversed cumsum
            return [_flip(CumOp(ax, "add")(_flip(gz, ax)), ax)]
        # d out_j / d x_i = out_j / x_i for j >= i (as Theano: x must have no zeros)
        return [_flip(CumOp(ax, "add")(_flip(gz * out, ax)), ax) / x]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def _cum(x, axis, mode):
    x = as_tensor_variable(x)
    if axis is None:
        return CumOp(0, mode)(flatten(x))
    return CumOp(_check_axis(x, axis, f"cum{'sum' if mode == 'add' else 'prod'}"), mode)(x)


def cumsum(x, axis=None):
    """Cumulative sum along ``axis`` (``None``: of the flattened array), ``numpy.cumsum``.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dmatrix("x")
    >>> T.cumsum(x, axis=1).eval({x: np.array([[1.0, 2.0], [3.0, 4.0]])}).tolist()
    [[1.0, 3.0], [3.0, 7.0]]
    """
    return _cum(x, axis, "add")


def cumprod(x, axis=None):
    """Cumulative product along ``axis`` (``None``: flattened), ``numpy.cumprod``.

    The gradient divides by ``x`` (as Theano's), so it needs ``x`` free of zeros.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.cumprod(x).eval({x: np.array([1.0, 2.0, 3.0])}).tolist()
    [1.0, 2.0, 6.0]
    """
    return _cum(x, axis, "mul")


class Repeat(Op):
    """``numpy.repeat(x, repeats, axis)``; ``repeats`` an int scalar or int vector."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, x, repeats):
        x, repeats = as_tensor_variable(x), as_tensor_variable(repeats)
        if repeats.ndim > 1 or np.dtype(repeats.dtype).kind not in "iu":
            raise GraphError(f"repeat: repeats must be an int scalar or int vector, got "
                             f"{repeats.type.short()}{where(repeats)}")
        shape = list(x.type.shape)
        shape[self.axis] = None
        return Apply(self, [x, repeats], [TensorType(x.dtype, shape=tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        x, repeats = inputs
        output_storage[0][0] = np.repeat(x, repeats, axis=self.axis)

    def grad(self, inputs, outputs, output_grads):
        (x, repeats), (gz,) = inputs, output_grads
        if np.dtype(x.dtype).kind not in "fc":
            return [None, None]
        # output row k came from input row source[k]: add the gradients of its copies
        source = Repeat(0)(arange(x.shape[self.axis]), repeats)
        head = (slice(None),) * self.axis
        return [inc_subtensor(zeros_like(x)[head + (source,)], gz), None]


def repeat(x, repeats, axis=None):
    """Each entry of ``x`` repeated ``repeats`` times along ``axis`` (``numpy.repeat``).

    ``repeats`` is an int (or int scalar) or one count per entry along ``axis``;
    ``axis=None`` repeats the flattened array.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.extra_ops.repeat(x, [1, 2], axis=0).eval({x: np.array([5.0, 7.0])}).tolist()
    [5.0, 7.0, 7.0]
    """
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x), 0
    return Repeat(_check_axis(x, axis, "repeat"))(x, repeats)


class BinCount(Op):
    """``numpy.bincount(x, weights, minlength)`` for a non-negative int vector ``x``."""

    __props__ = ("minlength",)

    def __init__(self, minlength=0):
        self.minlength = int(minlength or 0)

    def make_node(self, x, *weights):
        x = as_tensor_variable(x)
        if x.ndim != 1 or np.dtype(x.dtype).kind not in "iu":
            raise GraphError(f"bincount needs an int vector, got {x.type.short()}{where(x)}")
        weights = [as_tensor_variable(w) for w in weights]
        dtype = weights[0].dtype if weights else "int64"
        return Apply(self, [x] + weights, [TensorType(dtype, shape=(None,))()])

    def perform(self, node, inputs, output_storage):
        x, w = inputs[0], (inputs[1] if len(inputs) > 1 else None)
        if x.size and x.min() < 0:
            raise ValueError(f"bincount: negative entry {int(x.min())} (node created at "
                             f"{node.trace})")
        out = np.bincount(x, weights=w, minlength=self.minlength)
        output_storage[0][0] = out.astype(node.outputs[0].dtype, copy=False)

    def grad(self, inputs, outputs, output_grads):
        if len(inputs) == 1:
            return [None]
        return [None, output_grads[0][inputs[0]]]  # each weight lands in bin x_i


def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """Count of each value in the non-negative int vector ``x`` (``numpy.bincount``).

    With ``weights`` each occurrence adds its weight (differentiable in ``weights``).
    The length is ``max(x) + 1`` or ``minlength`` when larger.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.ivector("x")
    >>> T.extra_ops.bincount(x).eval({x: np.array([0, 2, 2], "int32")}).tolist()
    [1, 0, 2]
    """
    op = BinCount(minlength)
    return op(x) if weights is None else op(x, weights)


def squeeze(x, axis=None):
    """``x`` without its length-1 dimensions (``axis``: only those, checked at run time).

    With ``axis=None`` the dimensions known to have length 1 are removed, as Theano removes
    the broadcastable ones.

    >>> import minigraph.tensor as T
    >>> T.extra_ops.squeeze(T.dcol("x")).type.shape
    (None,)
    """
    x = as_tensor_variable(x)
    if axis is None:
        drop = [d for d, s in enumerate(x.type.shape) if s == 1]
    else:
        axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
        drop = sorted({_check_axis(x, a, "squeeze") for a in axes})
        x = specify_shape(x, [1 if d in drop else s for d, s in enumerate(x.type.shape)])
    return x.dimshuffle(*[d for d in range(x.ndim) if d not in drop])


def diff(x, n=1, axis=-1):
    """The ``n``-th discrete difference along ``axis`` (``numpy.diff``).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.extra_ops.diff(x).eval({x: np.array([1.0, 4.0, 9.0])}).tolist()
    [3.0, 5.0]
    """
    x = as_tensor_variable(x)
    axis = _check_axis(x, axis, "diff")
    head = (slice(None),) * axis
    for _ in range(n):
        x = x[head + (slice(1, None),)] - x[head + (slice(None, -1),)]
    return x


class FillDiagonal(Op):
    """``a`` with its main diagonal set to the scalar ``val`` (``numpy.fill_diagonal``)."""

    def make_node(self, a, val):
        a, val = as_tensor_variable(a), as_tensor_variable(val)
        if a.ndim < 2 or val.ndim != 0:
            raise GraphError(f"fill_diagonal needs an array of 2 or more dimensions and a "
                             f"scalar, got {a.type.short()} and {val.type.short()}{where(a)}")
        if a.dtype != val.dtype:
            val = cast(val, a.dtype)
        return Apply(self, [a, val], [a.type()])

    def perform(self, node, inputs, output_storage):
        a, val = inputs
        if a.ndim > 2 and len(set(a.shape)) != 1:
            raise ValueError(f"fill_diagonal: all dimensions must be equal beyond 2-d, got "
                             f"shape {a.shape} (node created at {node.trace})")
        out = a.copy()
        np.fill_diagonal(out, val)
        output_storage[0][0] = out

    def grad(self, inputs, outputs, output_grads):
        (_, val), (gz,) = inputs, output_grads
        g_a = FillDiagonal()(gz, zeros_like(val))
        on_diag = FillDiagonal()(zeros_like(gz), ones_like(val))
        return [g_a, _sum(gz * on_diag)]


def fill_diagonal(a, val):
    """A copy of ``a`` whose main diagonal is the scalar ``val``.

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> T.extra_ops.fill_diagonal(a, 5.0).eval({a: np.zeros((2, 3))}).tolist()
    [[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]]
    """
    return FillDiagonal()(a, val)


class FillDiagonalOffset(Op):
    """``a`` with the diagonal ``offset`` (above the main one when positive) set to ``val``."""

    def make_node(self, a, val, offset):
        a, val, offset = (as_tensor_variable(v) for v in (a, val, offset))
        if a.ndim != 2 or val.ndim != 0 or offset.ndim != 0:
            raise GraphError(f"fill_diagonal_offset needs a matrix, a scalar and an int "
                             f"offset, got {a.type.short()}, {val.type.short()} and "
                             f"{offset.type.short()}{where(a)}")
        val = val if val.dtype == a.dtype else cast(val, a.dtype)
        return Apply(self, [a, val, offset], [a.type()])

    def perform(self, node, inputs, output_storage):
        a, val, offset = inputs
        out = a.copy()
        k = int(offset)
        rows = np.arange(max(-k, 0), a.shape[0])
        cols = rows + k
        keep = cols < a.shape[1]
        out[rows[keep], cols[keep]] = val
        output_storage[0][0] = out

    def grad(self, inputs, outputs, output_grads):
        (_, val, offset), (gz,) = inputs, output_grads
        g_a = FillDiagonalOffset()(gz, zeros_like(val), offset)
        on_diag = FillDiagonalOffset()(zeros_like(gz), ones_like(val), offset)
        return [g_a, _sum(gz * on_diag), None]


def fill_diagonal_offset(a, val, offset):
    """A copy of the matrix ``a`` whose diagonal ``offset`` is the scalar ``val``.

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> T.extra_ops.fill_diagonal_offset(a, 1.0, 1).eval({a: np.zeros((2, 3))}).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    return FillDiagonalOffset()(a, val, offset)


class Bartlett(Op):
    """``numpy.bartlett(M)``: the triangular window of ``M`` points, as float64."""

    def make_node(self, M):
        M = as_tensor_variable(M)
        if M.ndim != 0 or np.dtype(M.dtype).kind not in "iu":
            raise GraphError(f"bartlett needs an int scalar, got {M.type.short()}{where(M)}")
        return Apply(self, [M], [TensorType("float64", shape=(None,))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.bartlett(int(inputs[0]))

    def grad(self, inputs, outputs, output_grads):
        return [None]


def bartlett(M):
    """The Bartlett (triangular) window of ``M`` points, float64 (``numpy.bartlett``)."""
    return Bartlett()(M)
