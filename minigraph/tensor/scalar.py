"""The scalar-op table: one row per elementwise operation.

Each row gives the name, the arity, the NumPy function (the reference), the dtype rule, the
gradient (written with tensor ops, receiving the inputs, the output and the output gradient),
and a scalar expression template that Numba compiles when elementwise ops are fused. Adding
an elementwise op is adding one row here (and one row in the op test table).
"""

import math

import numpy as np


class ScalarOp:
    """One elementwise operation. Equal when the names are equal."""

    def __init__(self, name, nin, np_fn, dtype_rule, grad, code, doc=""):
        self.name = name
        self.nin = nin
        self.np_fn = np_fn
        self.dtype_rule = dtype_rule
        self.grad = grad
        self.code = code
        self.__doc__ = doc

    def __eq__(self, other):
        return isinstance(other, ScalarOp) and other.name == self.name

    def __hash__(self):
        return hash(("ScalarOp", self.name))

    def __str__(self):
        return self.name

    __repr__ = __str__

    params = None

    def out_dtype(self, in_dtypes):
        return DTYPE_RULES[self.dtype_rule](in_dtypes, self.params)


def _upcast(dts, params=None):
    return np.result_type(*[np.dtype(d) for d in dts]).name


def _float(dts, params=None):
    """Theano's upgrade_to_float: small ints -> float32, larger ints -> float64."""
    out = _upcast(dts)
    if np.dtype(out).kind in "fc":
        return out
    return "float32" if out in ("bool", "int8", "uint8", "int16", "uint16") else "float64"


def _bool(dts, params=None):
    return "bool"


def _same_first(dts, params=None):
    return dts[0]


def _cast(dts, params):
    return params


DTYPE_RULES = {"upcast": _upcast, "float": _float, "bool": _bool, "first": _same_first,
               "cast": _cast}


def _M():
    from . import math as M  # cycle: math.py builds its ops from this table

    return M


# gradient helpers: each returns one entry per input (None = no gradient)
def _g_add(i, o, gz):
    return [gz] * len(i)


def _g_sub(i, o, gz):
    return [gz, -gz]


def _g_mul(i, o, gz):
    return [gz * i[1], gz * i[0]]


def _g_div(i, o, gz):
    x, y = i
    return [gz / y, -gz * x / (y * y)]


def _g_mod(i, o, gz):
    # x % y = x - y * floor(x / y): the floor is locally constant
    x, y = i
    return [gz, -gz * _M().int_div(x, y)]


def _g_pow(i, o, gz):
    M = _M()
    x, y = i
    # d/dy x**y = x**y log x; guarded so that x == 0 gives 0 instead of nan * 0
    safe_log = M.log(M.switch(M.eq(x, 0), M.ones_like(x), x))
    return [gz * y * x ** (y - 1), gz * o * safe_log]


def _g_none(i, o, gz):
    return [None] * len(i)


def _g_zero(i, o, gz):
    M = _M()
    return [M.zeros_like(x) for x in i]


def _g_maximum(i, o, gz):
    return _g_extreme(i, o, gz, "gt")


def _g_minimum(i, o, gz):
    return _g_extreme(i, o, gz, "lt")


def _g_extreme(i, o, gz, beyond):
    """The gradient of ``maximum`` (``beyond="gt"``) or ``minimum`` (``"lt"``): the input the
    output equals gets ``gz``.

    Against a constant bound ``c`` (``relu``'s ``maximum(x, 0)``), it reads the output only:
    ``x`` gets ``gz`` where the output is strictly beyond ``c``, as PyTorch's ``relu`` does. So
    the backward pass needs no pre-activation: a scan whose step ends in a ReLU stores none
    for its gradient (its carry is the output), and an MLP can free each one after its layer.
    At a tie (``x == c`` exactly) ``x`` gets 0, where the general rule gives it ``gz``: both
    are subgradients."""
    M = _M()
    x, y = i
    if _constant(y) and not _constant(x):
        return [gz * getattr(M, beyond)(o, y), None]
    if _constant(x) and not _constant(y):
        return [None, gz * getattr(M, beyond)(o, x)]
    return [gz * M.eq(o, x), gz * M.neq(o, x)]


def _constant(v):
    """Whether ``v`` is a constant of one value, or one broadcast by a ``DimShuffle``."""
    from minigraph.tensor.rewriting.utils import const_value

    return const_value(v) is not None


def _g_switch(i, o, gz):
    M = _M()
    c, a, b = i
    zero = M.zeros_like(gz)
    return [None, M.switch(c, gz, zero), M.switch(c, zero, gz)]


def _g_clip(i, o, gz):
    M = _M()
    x, lo, hi = i
    inside = M.and_(M.ge(x, lo), M.le(x, hi))
    return [gz * inside, gz * M.lt(x, lo), gz * M.gt(x, hi)]


def _sigmoid(x):
    # exp of a non-positive number only: no overflow warning for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.result_type(x, np.float32),
                                                             copy=False)


def _softplus(x):
    return np.logaddexp(0, x)


def _second(x, y):
    # fill: y broadcast to the shapes of x and y, a fresh C-ordered array of y's dtype. The
    # common cases (same shapes; y one element of no higher rank) skip np.broadcast_shapes,
    # a few microseconds a call on small arrays
    if type(x) is np.ndarray and type(y) is np.ndarray:
        xs, ys = x.shape, y.shape
        if ys == xs:
            return y.copy()
        if y.size == 1 and len(ys) <= len(xs):
            r = np.empty(xs, y.dtype)
            r[...] = y
            return r
    return np.broadcast_to(y, np.broadcast_shapes(np.shape(x), np.shape(y))).copy()


def _ufunc(name):
    """SciPy's ufunc ``name`` when SciPy is installed, else ``math.name`` on each element."""
    try:
        import scipy.special  # optional: SciPy may be absent

        return getattr(scipy.special, name)
    except ImportError:  # scipy is optional: the loop is slow but exact
        fn = np.vectorize(getattr(math, name), otypes=["float64"])
        return lambda x: fn(x).astype(np.result_type(x, np.float32), copy=False)


def _g_erf(sign):
    # d/dx erf(x) = 2/sqrt(pi) exp(-x**2); erfc = 1 - erf
    def g(i, o, gz):
        return [gz * (sign * 2 / math.sqrt(math.pi)) * _M().exp(-_M().sqr(i[0]))]

    return g


def _g_arctan2(i, o, gz):
    # atan2(y, x): d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2)
    y, x = i
    r2 = x * x + y * y
    return [gz * x / r2, -gz * y / r2]


def _rows():
    M = _M
    S = ScalarOp
    return [
        S("add", 2, np.add, "upcast", _g_add, "({0} + {1})"),
        S("sub", 2, np.subtract, "upcast", _g_sub, "({0} - {1})"),
        S("mul", 2, np.multiply, "upcast", _g_mul, "({0} * {1})"),
        S("true_div", 2, np.true_divide, "float", _g_div, "({0} / {1})"),
        S("int_div", 2, np.floor_divide, "upcast", _g_zero, "({0} // {1})"),
        S("mod", 2, np.mod, "upcast", _g_mod, "({0} % {1})"),
        S("pow", 2, np.power, "upcast", _g_pow, "({0} ** {1})"),
        S("maximum", 2, np.maximum, "upcast", _g_maximum, "max({0}, {1})"),
        S("minimum", 2, np.minimum, "upcast", _g_minimum, "min({0}, {1})"),
        S("neg", 1, np.negative, "first", lambda i, o, gz: [-gz], "(-{0})"),
        S("abs", 1, np.abs, "first", lambda i, o, gz: [gz * M().sgn(i[0])], "abs({0})"),
        S("sgn", 1, np.sign, "first", _g_zero, "(({0} > 0) - ({0} < 0))"),
        S("sqr", 1, np.square, "first", lambda i, o, gz: [gz * 2 * i[0]], "({0} * {0})"),
        S("sqrt", 1, np.sqrt, "float", lambda i, o, gz: [gz * 0.5 / o], "math.sqrt({0})"),
        S("exp", 1, np.exp, "float", lambda i, o, gz: [gz * o], "math.exp({0})"),
        S("log", 1, np.log, "float", lambda i, o, gz: [gz / i[0]], "math.log({0})"),
        S("log1p", 1, np.log1p, "float", lambda i, o, gz: [gz / (1 + i[0])], "math.log1p({0})"),
        S("expm1", 1, np.expm1, "float", lambda i, o, gz: [gz * (o + 1)], "math.expm1({0})"),
        S("sin", 1, np.sin, "float", lambda i, o, gz: [gz * M().cos(i[0])], "math.sin({0})"),
        S("cos", 1, np.cos, "float", lambda i, o, gz: [-gz * M().sin(i[0])], "math.cos({0})"),
        S("tanh", 1, np.tanh, "float", lambda i, o, gz: [gz * (1 - o * o)], "math.tanh({0})"),
        S("sigmoid", 1, _sigmoid, "float", lambda i, o, gz: [gz * o * (1 - o)],
          "(1.0 / (1.0 + math.exp(-{0})))"),
        S("softplus", 1, _softplus, "float", lambda i, o, gz: [gz * M().sigmoid(i[0])],
          "(max({0}, 0.0) + math.log1p(math.exp(-abs({0}))))"),
        S("floor", 1, np.floor, "first", _g_zero, "math.floor({0})"),
        S("ceil", 1, np.ceil, "first", _g_zero, "math.ceil({0})"),
        S("round", 1, np.round, "first", _g_zero, "round({0})"),
        S("eq", 2, np.equal, "bool", _g_none, "({0} == {1})"),
        S("neq", 2, np.not_equal, "bool", _g_none, "({0} != {1})"),
        S("lt", 2, np.less, "bool", _g_none, "({0} < {1})"),
        S("le", 2, np.less_equal, "bool", _g_none, "({0} <= {1})"),
        S("gt", 2, np.greater, "bool", _g_none, "({0} > {1})"),
        S("ge", 2, np.greater_equal, "bool", _g_none, "({0} >= {1})"),
        S("and_", 2, np.logical_and, "bool", _g_none, "({0} and {1})"),
        S("or_", 2, np.logical_or, "bool", _g_none, "({0} or {1})"),
        S("xor", 2, np.logical_xor, "bool", _g_none, "({0} != {1})"),
        S("invert", 1, np.logical_not, "bool", _g_none, "(not {0})"),
        S("switch", 3, np.where, "switch", _g_switch, "({1} if {0} else {2})"),
        S("clip", 3, np.clip, "first", _g_clip, "min(max({0}, {1}), {2})"),
        S("second", 2, _second, "second", lambda i, o, gz: [None, gz], "{1}"),
        S("identity", 1, lambda x: x.copy(), "first", lambda i, o, gz: [gz], "{0}"),
        S("log2", 1, np.log2, "float", lambda i, o, gz: [gz / (i[0] * math.log(2))],
          "math.log2({0})"),
        S("log10", 1, np.log10, "float", lambda i, o, gz: [gz / (i[0] * math.log(10))],
          "math.log10({0})"),
        S("erf", 1, _ufunc("erf"), "float", _g_erf(1), "math.erf({0})"),
        S("erfc", 1, _ufunc("erfc"), "float", _g_erf(-1), "math.erfc({0})"),
        S("exp2", 1, np.exp2, "float", lambda i, o, gz: [gz * o * math.log(2)],
          "(2.0 ** {0})"),
        S("tan", 1, np.tan, "float", lambda i, o, gz: [gz * (1 + o * o)], "math.tan({0})"),
        S("arcsin", 1, np.arcsin, "float", lambda i, o, gz: [gz / M().sqrt(1 - i[0] * i[0])],
          "math.asin({0})"),
        S("arccos", 1, np.arccos, "float", lambda i, o, gz: [-gz / M().sqrt(1 - i[0] * i[0])],
          "math.acos({0})"),
        S("arctan", 1, np.arctan, "float", lambda i, o, gz: [gz / (1 + i[0] * i[0])],
          "math.atan({0})"),
        S("arctan2", 2, np.arctan2, "float", _g_arctan2, "math.atan2({0}, {1})"),
        S("sinh", 1, np.sinh, "float", lambda i, o, gz: [gz * M().cosh(i[0])], "math.sinh({0})"),
        S("cosh", 1, np.cosh, "float", lambda i, o, gz: [gz * M().sinh(i[0])], "math.cosh({0})"),
        S("arcsinh", 1, np.arcsinh, "float", lambda i, o, gz: [gz / M().sqrt(i[0] * i[0] + 1)],
          "math.asinh({0})"),
        S("arccosh", 1, np.arccosh, "float", lambda i, o, gz: [gz / M().sqrt(i[0] * i[0] - 1)],
          "math.acosh({0})"),
        S("arctanh", 1, np.arctanh, "float", lambda i, o, gz: [gz / (1 - i[0] * i[0])],
          "math.atanh({0})"),
    ]


DTYPE_RULES["switch"] = lambda dts, params=None: _upcast(dts[1:])
DTYPE_RULES["second"] = lambda dts, params=None: dts[1]
SCALAR_OPS = {row.name: row for row in _rows()}
_CASTS = {}


def cast_op(dtype):
    """The scalar op converting to ``dtype`` (one row per target dtype, made on demand)."""
    dtype = str(np.dtype(dtype))
    if dtype not in _CASTS:
        def grad(i, o, gz):
            if np.dtype(i[0].dtype).kind not in "fc":
                return [None]
            return [_M().cast(gz, i[0].dtype)]

        _CASTS[dtype] = ScalarOp(
            f"cast_{dtype}", 1, lambda x: np.asarray(x).astype(dtype), "cast", grad,
            f"{_NUMBA_CASTS.get(dtype, 'float')}({{0}})",
        )
        _CASTS[dtype].params = dtype
    return _CASTS[dtype]


_NUMBA_CASTS = {"bool": "bool", "float32": "np.float32", "float64": "np.float64",
                "int8": "np.int8", "int16": "np.int16", "int32": "np.int32",
                "int64": "np.int64", "uint8": "np.uint8"}

# math is imported for the code templates' namespace when fused loops are compiled
CODE_NAMESPACE = {"math": math, "np": np}
