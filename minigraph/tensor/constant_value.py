"""``T.get_scalar_constant_value``: the value of a scalar known when the graph is built.

Layer libraries ask it for sizes that may be constants (``x.shape[1]`` of a tensor whose
width is known, ``2 * 3``, a Python int). The variable's graph is evaluated when all its
leaves are constants, after each ``x.shape`` whose ``x`` has a fully known static shape is
replaced by that shape; anything depending on an input raises `NotScalarConstantError`.
"""

import numbers

import numpy as np

from minigraph.compile.sharedvalue import SharedVariable
from minigraph.graph.basic import Constant, GraphError, Variable, ancestors, clone_replace

from .basic import constant
from .shape import Shape
from .subtensor import Subtensor


class NotScalarConstantError(GraphError):
    """The variable's value is not a scalar known when the graph is built."""


def _static_dim(var):
    """The known length behind ``x.shape[i]`` (constant ``i``), else None."""
    node = var.owner
    if node is None or not isinstance(node.op, Subtensor) or len(node.op.entries) != 1:
        return None
    (i,), src = node.op.entries, node.inputs[0]
    if not isinstance(i, int) or src.owner is None or not isinstance(src.owner.op, Shape):
        return None
    return src.owner.inputs[0].type.shape[i]


def _known_shapes(v):
    """``v``'s graph with every ``x.shape`` or ``x.shape[i]`` known statically a constant."""
    replace = {}
    for a in ancestors([v]):
        node = a.owner
        if node is not None and isinstance(node.op, Shape):
            static = node.inputs[0].type.shape
            if all(s is not None for s in static):
                replace[a] = constant(np.array(static, dtype="int64"))
        elif _static_dim(a) is not None:
            replace[a] = constant(np.int64(_static_dim(a)))
    return clone_replace([v], replace)[0] if replace else v


def get_scalar_constant_value(v, elemwise=True, only_process_constants=False, max_recur=10):
    """The NumPy scalar ``v`` always has, or raise :class:`NotScalarConstantError`.

    ``v`` is a Python or NumPy number, a one-element array, or a variable whose graph has
    only constant leaves (static shapes count). ``only_process_constants=True`` accepts
    only constants themselves. ``elemwise`` and ``max_recur`` are accepted for Theano
    compatibility.

    >>> import minigraph.tensor as T
    >>> x = T.tensor("float64", (None, 3), name="x")
    >>> int(get_scalar_constant_value(x.shape[1] * 2))
    6
    """
    if isinstance(v, (numbers.Number, np.ndarray, np.generic)):
        data = np.asarray(v)
    elif isinstance(v, Constant):
        data = np.asarray(v.data)
    elif isinstance(v, Variable) and not only_process_constants:
        data = _evaluate(v)
    else:
        raise NotScalarConstantError(f"{v!r} is not a constant")
    if data.size != 1:
        raise NotScalarConstantError(f"{v!r} has {data.size} values, not one")
    return data.reshape(())[()]


def _evaluate(v):
    from minigraph.compile.function import function  # cycle: compile/function.py imports tensor

    v = _known_shapes(v)
    leaves = [a for a in ancestors([v]) if a.owner is None]
    if any(not isinstance(a, Constant) or isinstance(a, SharedVariable) for a in leaves):
        raise NotScalarConstantError(f"{v} depends on inputs or shared variables")
    if isinstance(v, Constant):
        return np.asarray(v.data)
    return np.asarray(function([], v, mode="FAST_COMPILE")())


def extract_constant(x, elemwise=True, only_process_constants=False):
    """``x``'s constant value as a constant variable when it has one, else ``x`` itself."""
    try:
        value = get_scalar_constant_value(x, elemwise, only_process_constants)
    except NotScalarConstantError:
        return x
    return constant(value) if isinstance(x, Variable) else value
