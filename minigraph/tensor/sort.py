"""``T.sort`` and ``T.argsort`` (Theano's ``theano.tensor.sort``).

``Sort`` is differentiable: sorting permutes the entries, so the gradient sends each output
gradient back to the position its entry came from (`UnsortAlong`, the inverse gather).
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable
from .shape import flatten

_KINDS = ("quicksort", "mergesort", "heapsort", "stable")


def _axis(a, axis, what):
    if not -a.ndim <= axis < a.ndim:
        raise GraphError(f"{what}: axis {axis} is out of range for the {a.ndim}-d "
                         f"{a.describe()}{where(a)}")
    return axis % a.ndim


class Sort(Op):
    """``numpy.sort(a, axis, kind)``."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="quicksort"):
        self.axis, self.kind = axis, kind

    def make_node(self, a):
        a = as_tensor_variable(a)
        return Apply(self, [a], [a.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.sort(inputs[0], axis=self.axis, kind=self.kind)

    def grad(self, inputs, outputs, output_grads):
        (a,), (gz,) = inputs, output_grads
        if np.dtype(a.dtype).kind not in "fc":
            return [None]
        order = ArgSort(self.axis, self.kind)(a)
        return [UnsortAlong(self.axis)(gz, order)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class ArgSort(Op):
    """``numpy.argsort(a, axis, kind)`` as int64."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="quicksort"):
        self.axis, self.kind = axis, kind

    def make_node(self, a):
        a = as_tensor_variable(a)
        return Apply(self, [a], [TensorType("int64", shape=a.type.shape)()])

    def perform(self, node, inputs, output_storage):
        r = np.argsort(inputs[0], axis=self.axis, kind=self.kind)
        output_storage[0][0] = r.astype("int64", copy=False)

    def grad(self, inputs, outputs, output_grads):
        return [None]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class UnsortAlong(Op):
    """``out`` with ``out[..., order[..., j], ...] = g[..., j, ...]`` along ``axis``.

    ``order`` is a permutation along ``axis`` (from ``argsort``), so this undoes the gather
    ``take_along_axis(x, order)``; its own gradient is that gather (`SortAlong`).
    """

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, g, order):
        g, order = as_tensor_variable(g), as_tensor_variable(order)
        return Apply(self, [g, order], [g.type()])

    def perform(self, node, inputs, output_storage):
        g, order = inputs
        out = np.empty_like(g)
        np.put_along_axis(out, order, g, axis=self.axis)
        output_storage[0][0] = out

    def grad(self, inputs, outputs, output_grads):
        return [SortAlong(self.axis)(output_grads[0], inputs[1]), None]


class SortAlong(Op):
    """``take_along_axis(x, order, axis)``: ``x`` permuted by ``order`` along ``axis``."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, x, order):
        x, order = as_tensor_variable(x), as_tensor_variable(order)
        return Apply(self, [x, order], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, order = inputs
        output_storage[0][0] = np.take_along_axis(x, order, axis=self.axis)

    def grad(self, inputs, outputs, output_grads):
        return [UnsortAlong(self.axis)(output_grads[0], inputs[1]), None]


def _prepare(a, axis, kind, order, what):
    a = as_tensor_variable(a)
    if order is not None:
        raise GraphError(f"{what}: order= (structured arrays) is not supported")
    if kind not in _KINDS:
        raise GraphError(f"{what}: kind must be one of {_KINDS}, got {kind!r}")
    if axis is None:
        return flatten(a), 0
    if a.ndim == 0:
        raise GraphError(f"{what}: cannot sort a scalar along axis {axis}{where(a)}")
    return a, _axis(a, axis, what)


def sort(a, axis=-1, kind="quicksort", order=None):
    """``a`` sorted along ``axis`` (``None``: the flattened array), as ``numpy.sort``.

    The gradient routes each output gradient back to the entry that landed there.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.sort(x).eval({x: np.array([3.0, 1.0, 2.0])}).tolist()
    [1.0, 2.0, 3.0]
    """
    a, axis = _prepare(a, axis, kind, order, "sort")
    return Sort(axis, kind)(a)


def argsort(a, axis=-1, kind="quicksort", order=None):
    """Indices that sort ``a`` along ``axis`` (``None``: flattened), int64 (``numpy.argsort``).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.argsort(x).eval({x: np.array([3.0, 1.0, 2.0])}).tolist()
    [1, 2, 0]
    """
    a, axis = _prepare(a, axis, kind, order, "argsort")
    return ArgSort(axis, kind)(a)
