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


# Theano names added for programs that use them (issue 15); compositions where one exists
log2 = _make("log2")
log10 = _make("log10")
erf = _make("erf")
erfc = _make("erfc")
exp2 = _make("exp2")
tan = _make("tan")
arcsin = _make("arcsin")
arccos = _make("arccos")
arctan = _make("arctan")
arctan2 = _make("arctan2")
sinh = _make("sinh")
cosh = _make("cosh")
arcsinh = _make("arcsinh")
arccosh = _make("arccosh")
arctanh = _make("arctanh")
power = pow


def inv(x):
    """Elementwise reciprocal ``1 / x`` (Theano's ``T.inv``); integers give floats.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.inv(x).eval({x: np.array([2.0, -4.0])}).tolist()
    [0.5, -0.25]
    """
    return true_div(1.0, x)


def isnan(x):
    """Elementwise ``x != x``: true exactly at NaNs (false everywhere for integers).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.isnan(x).eval({x: np.array([1.0, np.nan])}).tolist()
    [False, True]
    """
    return neq(x, x)


def isinf(x):
    """Elementwise test for +inf or -inf (false everywhere for integers).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.isinf(x).eval({x: np.array([-np.inf, 1.0, np.nan])}).tolist()
    [True, False, False]
    """
    x = as_tensor_variable(x)
    if np.dtype(x.dtype).kind not in "fc":
        return neq(x, x)
    return eq(abs(x), np.inf)


def iround(x, mode=None):
    """Round to the nearest integer (ties to even) and cast to int64, as Theano's ``iround``."""
    return cast(round(x, mode or "half_to_even"), "int64")


def _fold(fn, args, what):
    if not args:
        raise GraphError(f"{what} needs at least one argument")
    out = args[0]
    for a in args[1:]:
        out = fn(out, a)
    return out


def largest(*args):
    """Elementwise maximum of any number of tensors (``largest(a, b, c)``).

    >>> import minigraph.tensor as T, numpy as np
    >>> T.largest(np.array([1, 5]), np.array([4, 2]), np.array([3, 3])).eval().tolist()
    [4, 5]
    """
    return _fold(maximum, args, "largest")


def smallest(*args):
    """Elementwise minimum of any number of tensors (``smallest(a, b, c)``)."""
    return _fold(minimum, args, "smallest")


def deg2rad(x):
    """Degrees to radians, ``x * (pi / 180)`` as NumPy computes it."""
    return x * (np.pi / 180.0)


def rad2deg(x):
    """Radians to degrees, ``x * (180 / pi)`` as NumPy computes it."""
    return x * (180.0 / np.pi)


def trunc(x):
    """Round towards zero (``numpy.trunc``): ``ceil`` below zero, ``floor`` above."""
    x = as_tensor_variable(x)
    return switch(lt(x, 0), ceil(x), floor(x))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (``numpy.isclose``): equal infinities are
    close, NaNs only with ``equal_nan``.

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dvector("a")
    >>> T.isclose(a, 1.0).eval({a: np.array([1.0, 1.0 + 1e-9, 1.1, np.inf])}).tolist()
    [True, True, False, False]
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    finite = and_(invert(isinf(a)), invert(isinf(b)))
    # infinities compare by equality; zeroing them first keeps inf - inf out of the difference
    fa, fb = switch(finite, a, zeros_like(a)), switch(finite, b, zeros_like(b))
    close = le(abs(fa - fb), atol + rtol * abs(fb))
    out = switch(finite, close, eq(a, b))
    if equal_nan:
        out = or_(out, and_(isnan(a), isnan(b)))
    return out


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every pair is :func:`isclose` (``numpy.allclose``), a bool scalar."""
    from .reduce import all as _all  # cycle: reduce.py imports this module

    return _all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
