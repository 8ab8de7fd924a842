"""``theano.compile.ops.as_op``: a Python function on NumPy arrays as an op.

``@as_op(itypes=[T.dmatrix], otypes=[T.dvector])`` turns the decorated function into an
`AsOp` instance: calling it on symbolic variables builds a node whose ``perform`` calls the
function. As in Theano the op has no gradient; ``infer_shape`` may be given.
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType
from minigraph.tensor.basic import as_tensor_variable


def _as_type(t):
    """A type from a ``TensorType`` or a constructor such as ``T.dmatrix``."""
    if isinstance(t, TensorType):
        return t
    if callable(t):
        made = t()
        if hasattr(made, "type"):
            return made.type
    raise GraphError(f"as_op: {t!r} is not a type (use T.dmatrix, T.fvector, ... or a "
                     f"TensorType)")


def _compatible(var, typ):
    return var.dtype == typ.dtype and var.ndim == typ.ndim


class AsOp(Op):
    """The op made by :func:`as_op` (equal when the function and types are)."""

    __props__ = ("fn", "itypes", "otypes", "infer_shape_fn")

    def __init__(self, fn, itypes, otypes, infer_shape=None):
        self.fn = fn
        self.itypes = tuple(_as_type(t) for t in itypes)
        self.otypes = tuple(_as_type(t) for t in otypes)
        self.infer_shape_fn = infer_shape
        self.__name__ = getattr(fn, "__name__", "as_op")
        self.__doc__ = getattr(fn, "__doc__", None)

    def __str__(self):
        return f"as_op({self.__name__})"

    def make_node(self, *inputs):
        if len(inputs) != len(self.itypes):
            raise GraphError(f"{self}: takes {len(self.itypes)} inputs, got {len(inputs)}")
        ins = []
        for i, (v, t) in enumerate(zip(inputs, self.itypes)):
            v = as_tensor_variable(v)
            if not _compatible(v, t):
                raise GraphError(f"{self}: input {i} must be {t.short()}, got "
                                 f"{v.type.short()} ({v.describe()}){where(v)}")
            ins.append(v)
        return Apply(self, ins, [t() for t in self.otypes])

    def perform(self, node, inputs, output_storage):
        result = self.fn(*inputs)
        if len(self.otypes) == 1:
            result = [result]
        if len(result) != len(self.otypes):
            raise ValueError(f"{self}: the function returned {len(result)} outputs, the op "
                             f"declares {len(self.otypes)} (node created at {node.trace})")
        for cell, value, t in zip(output_storage, result, self.otypes):
            cell[0] = np.asarray(value, dtype=t.dtype)

    def grad(self, inputs, outputs, output_grads):
        raise GraphError(f"{self} wraps a Python function and has no gradient (as in Theano)")

    def infer_shape(self, node, input_shapes):
        if self.infer_shape_fn is None:
            raise NotImplementedError
        return self.infer_shape_fn(node, input_shapes)


def as_op(itypes, otypes, infer_shape=None):
    """Decorator: a function on NumPy arrays becomes an op with those input/output types.

    Parameters
    ----------
    itypes, otypes : list of types
        ``T.dmatrix``-style constructors or ``TensorType`` instances, one per input/output.
    infer_shape : callable, optional
        ``infer_shape(node, input_shapes) -> list of output shapes``.

    Examples
    --------
    >>> import numpy as np, minigraph.tensor as T
    >>> @as_op(itypes=[T.dvector], otypes=[T.dvector])
    ... def reverse(v):
    ...     return v[::-1]
    >>> x = T.dvector("x")
    >>> reverse(x).eval({x: np.array([1.0, 2.0])}).tolist()
    [2.0, 1.0]
    """
    if not isinstance(itypes, (list, tuple)) or not isinstance(otypes, (list, tuple)):
        raise GraphError("as_op: itypes and otypes must be lists of types")

    def wrap(fn):
        return AsOp(fn, itypes, otypes, infer_shape)

    return wrap
