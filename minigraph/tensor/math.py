"""Elementwise functions for users: ``T.exp``, ``T.maximum``, ``T.switch``, ``T.cast``, ...

Each is a thin constructor over ``Elemwise`` and a row of the scalar table.
"""

import numpy as np

from minigraph.config import config
from minigraph.graph.basic import GraphError

from .basic import as_tensor_variable, constant
from .elemwise import Elemwise
from .scalar import SCALAR_OPS, cast_op

_ELEMWISE = {name: Elemwise(op) for name, op in SCALAR_OPS.items()}


def _make(name):
    op = _ELEMWISE[name]

    def f(*args):
        return op(*args)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` with broadcasting (scalar op {name!r})."
    return f


add = _make("add")
sub = _make("sub")
mul = _make("mul")
true_div = _make("true_div")
int_div = _make("int_div")
mod = _make("mod")
pow = _make("pow")
maximum = _make("maximum")
minimum = _make("minimum")
neg = _make("neg")
abs = _make("abs")
abs_ = abs
sgn = _make("sgn")
sqr = _make("sqr")
sqrt = _make("sqrt")
exp = _make("exp")
log = _make("log")
log1p = _make("log1p")
expm1 = _make("expm1")
sin = _make("sin")
cos = _make("cos")
tanh = _make("tanh")
sigmoid = _make("sigmoid")
softplus = _make("softplus")
floor = _make("floor")
ceil = _make("ceil")
eq = _make("eq")
neq = _make("neq")
lt = _make("lt")
le = _make("le")
gt = _make("gt")
ge = _make("ge")
and_ = _make("and_")
or_ = _make("or_")
xor = _make("xor")
invert = _make("invert")
second = _make("second")
identity = _make("identity")
_switch = _make("switch")
_clip = _make("clip")
_round = _make("round")
divide = true_div
true_divide = true_div
floor_div = int_div
bitwise_and = and_
bitwise_or = or_
logical_not = invert


def switch(cond, ift, iff):
    """``ift`` where ``cond`` is true, else ``iff`` (elementwise, broadcasting)."""
    return _switch(cond, ift, iff)


where = switch


def clip(x, a_min, a_max):
    """Limit ``x`` to ``[a_min, a_max]``; the gradient flows to whichever bound applies."""
    return _clip(x, a_min, a_max)


def round(x, mode="half_to_even"):
    """Round to the nearest integer (ties to even, as NumPy)."""
    if mode != "half_to_even":
        raise ValueError(f"round: only mode='half_to_even' is supported, got {mode!r}")
    return _round(x)


def cast(x, dtype):
    """Convert ``x`` to ``dtype`` (``'floatX'`` means ``config.floatX``)."""
    if dtype == "floatX":
        dtype = config.floatX
    x = as_tensor_variable(x)
    dtype = str(np.dtype(dtype))
    if x.dtype == dtype:
        return x
    return Elemwise(cast_op(dtype))(x)


def zeros_like(x, dtype=None):
    """Zeros with the shape (and by default dtype) of ``x``."""
    x = as_tensor_variable(x)
    return second(x, constant(0, dtype=dtype or x.dtype))


def ones_like(x, dtype=None):
    """Ones with the shape (and by default dtype) of ``x``."""
    x = as_tensor_variable(x)
    return second(x, constant(1, dtype=dtype or x.dtype))


def fill(model, value):
    """``value`` broadcast to the shape of ``model``."""
    return second(model, value)


def prod_of_shape(x):
    """Number of elements of ``x`` as a symbolic int64 scalar."""
    from .reduce import prod  # cycle: reduce.py and shape.py import this module
    from .shape import shape  # cycle, as above

    return prod(shape(x))


def relu(x, alpha=0):
    """Rectifier ``max(x, 0)``, or the leaky version ``x if x > 0 else alpha * x``."""
    x = as_tensor_variable(x)
    if alpha == 0:
        return maximum(x, 0)
    return switch(gt(x, 0), x, alpha * x)


def check_same_ndim(a, b, what):
    if a.ndim != b.ndim:
        raise GraphError(f"{what}: {a.describe()} is {a.ndim}-d but {b.describe()} is {b.ndim}-d")
