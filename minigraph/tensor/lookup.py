"""Finding values and positions: ``Unique``, ``searchsorted``, ``compress``,
``ravel_multi_index`` and ``unravel_index`` (reached as ``T.extra_ops.*``, as in Theano).

Their outputs are indices or values picked by comparisons, so none is differentiable except
``compress``, which is composed from indexing and inherits its gradient.
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .arrange import nonzero, take
from .basic import as_tensor_variable


class Unique(Op):
    """``numpy.unique`` of the flattened input: the sorted distinct values and, on request,
    the index of each one's first occurrence, the inverse map and the counts (int64).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> vals, inverse = Unique(return_inverse=True)(x)
    >>> inverse.eval({x: np.array([3.0, 1.0, 3.0])}).tolist()
    [1, 0, 1]
    """

    __props__ = ("return_index", "return_inverse", "return_counts")

    def __init__(self, return_index=False, return_inverse=False, return_counts=False):
        self.return_index = bool(return_index)
        self.return_inverse = bool(return_inverse)
        self.return_counts = bool(return_counts)

    def make_node(self, x):
        x = as_tensor_variable(x)
        outs = [TensorType(x.dtype, shape=(None,))()]
        for wanted in (self.return_index, self.return_inverse, self.return_counts):
            if wanted:
                outs.append(TensorType("int64", shape=(None,))())
        return Apply(self, [x], outs)

    def perform(self, node, inputs, output_storage):
        result = np.unique(inputs[0], return_index=self.return_index,
                           return_inverse=self.return_inverse,
                           return_counts=self.return_counts)
        result = result if isinstance(result, tuple) else (result,)
        for cell, value, out in zip(output_storage, result, node.outputs):
            cell[0] = np.asarray(value, dtype=out.dtype).reshape(-1)

    def grad(self, inputs, outputs, output_grads):
        return [None]


class SearchsortedOp(Op):
    """``numpy.searchsorted(x, v, side, sorter)``: where ``v``'s entries go in sorted ``x``."""

    __props__ = ("side",)

    def __init__(self, side="left"):
        if side not in ("left", "right"):
            raise GraphError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        self.side = side

    def make_node(self, x, v, *sorter):
        x, v = as_tensor_variable(x), as_tensor_variable(v)
        if x.ndim != 1:
            raise GraphError(f"searchsorted: x must be a vector, got {x.type.short()}{where(x)}")
        ins = [x, v] + [as_tensor_variable(s) for s in sorter]
        return Apply(self, ins, [TensorType("int64", shape=v.type.shape)()])

    def perform(self, node, inputs, output_storage):
        x, v, *sorter = inputs
        r = np.searchsorted(x, v, side=self.side, sorter=sorter[0] if sorter else None)
        output_storage[0][0] = np.asarray(r, dtype="int64")

    def grad(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


def searchsorted(x, v, side="left", sorter=None):
    """Indices where the entries of ``v`` would be inserted to keep ``x`` sorted.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.extra_ops.searchsorted(x, [2.5, 0.0]).eval({x: np.array([1.0, 2.0, 3.0])}).tolist()
    [2, 0]
    """
    op = SearchsortedOp(side)
    return op(x, v) if sorter is None else op(x, v, sorter)


def compress(condition, x, axis=None):
    """The slices of ``x`` along ``axis`` where ``condition`` is true (``numpy.compress``;
    ``axis=None``: entries of the flattened ``x``). Differentiable in ``x``.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.extra_ops.compress([1, 0, 1], x).eval({x: np.array([4.0, 5.0, 6.0])}).tolist()
    [4.0, 6.0]
    """
    return take(x, nonzero(as_tensor_variable(condition))[0], axis=axis)


class RavelMultiIndex(Op):
    """``numpy.ravel_multi_index(indices, dims, mode, order)``."""

    __props__ = ("mode", "order")

    def __init__(self, mode="raise", order="C"):
        self.mode, self.order = mode, order

    def make_node(self, dims, *indices):
        dims = as_tensor_variable(dims)
        indices = [as_tensor_variable(i) for i in indices]
        return Apply(self, [dims] + indices,
                     [TensorType("int64", shape=indices[0].type.shape)()])

    def perform(self, node, inputs, output_storage):
        dims, *indices = inputs
        r = np.ravel_multi_index(tuple(indices), tuple(dims), mode=self.mode, order=self.order)
        output_storage[0][0] = np.asarray(r, dtype="int64")

    def grad(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """Flat indices of the coordinates in the tuple ``multi_index`` for an array of shape
    ``dims`` (``numpy.ravel_multi_index``)."""
    if not isinstance(multi_index, (tuple, list)) or not multi_index:
        raise GraphError("ravel_multi_index: multi_index must be a tuple of index arrays")
    return RavelMultiIndex(mode, order)(dims, *multi_index)


class UnravelIndex(Op):
    """``numpy.unravel_index(indices, dims, order)``: one int64 output per dimension."""

    __props__ = ("ndim", "order")

    def __init__(self, ndim, order="C"):
        self.ndim, self.order = int(ndim), order

    def make_node(self, indices, dims):
        indices, dims = as_tensor_variable(indices), as_tensor_variable(dims)
        return Apply(self, [indices, dims], [TensorType("int64", shape=indices.type.shape)()
                                             for _ in range(self.ndim)])

    def perform(self, node, inputs, output_storage):
        indices, dims = inputs
        for cell, r in zip(output_storage, np.unravel_index(indices, tuple(dims),
                                                            order=self.order)):
            cell[0] = np.asarray(r, dtype="int64")

    def grad(self, inputs, outputs, output_grads):
        return [None, None]


def unravel_index(indices, dims, order="C"):
    """The coordinates of the flat ``indices`` in an array of shape ``dims``, one int64
    tensor per dimension (``numpy.unravel_index``); ``dims`` must have a known length.

    >>> import minigraph.tensor as T
    >>> [int(c.eval()) for c in T.extra_ops.unravel_index(5, (2, 3))]
    [1, 2]
    """
    dims = as_tensor_variable(dims)
    if dims.ndim != 1 or dims.type.shape[0] is None:
        raise GraphError("unravel_index: dims must be a vector of known length")
    out = UnravelIndex(dims.type.shape[0], order)(indices, dims)
    return tuple(out) if isinstance(out, list) else (out,)
