"""Vectorisable float32 / float64 math for Numba CPU loops: exp, expm1, log, log1p, tanh,
sigmoid, softplus.

Numba turns ``math.exp`` / ``math.tanh`` into scalar libm calls, which stop LLVM from
vectorising the loop around them (no SVML here); NumPy's own AVX2 loops then beat a naive
``@njit`` loop several times over (``docs/kernels.md``).  Everything here is arithmetic, selects
and bit casts only (``kernels/llvm_ops.py``), so a loop calling these functions compiles to
SIMD code.  Two users: the GRU epilogues (``kernels/gru_cpu.py``, through ``make_fast_exp``
of ``kernels/fastexp.py``, re-exported here) and every generated elementwise kernel
(``minigraph/tensor/fused_kernels.py``, through ``source``: one call of ``F32.tanh``... per
op).

* ``exp``: ``x = k ln2 + r``, ``|r| <= ln2 / 2`` (``k`` rounded by adding ``1.5 2^23``, whose
  low mantissa bits then hold ``k``, ``ln2`` split so that ``k * ln2_hi`` is exact), a
  polynomial for ``e^r`` (float32: a degree-6 minimax fit, 0.03 ulp; float64: Taylor to
  degree 13), and ``2^k`` written into the exponent bits as two halves ``2^h 2^(k-h)``: both
  are normal numbers, so the result rounds once, also into overflow and the subnormal range.
* ``sigmoid``: ``1 / (1 + e)`` or ``e / (1 + e)`` (one division of a selected numerator),
  ``e = exp(-|x|)``: no step overflows, both ends saturate exactly, and ``e`` needs only
  one scale, ``2^(k+64) 2^-64``, as ``k <= 0``.
* ``tanh``: ``m / (m + 2)``, ``m = e^(2|x|) - 1`` from exp's steps as ``2^k (e^r - 1) +
  (2^k - 1)`` (no cancellation anywhere, one division; ``|x|`` clamped at 10 / 20, where
  tanh is 1 to the last bit).
* ``log``: ``x = m 2^e`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` (subnormals scaled up
  first), ``log m = 2 atanh(s)``, ``s = (m - 1) / (m + 1)``, an odd series in ``s``.
* ``expm1``: a Taylor polynomial where ``|x| < ln2`` (no cancellation), ``exp(x) - 1``
  elsewhere; ``log1p``: ``log(u) * x / (u - 1)`` with ``u = 1 + x`` (Goldberg's correction
  of the rounding of ``u``); ``softplus`` from ``exp(-|x|)`` and ``log1p``.

Polynomials are evaluated with ``fma`` (LLVM's ``fmuladd``: one fused multiply-add where
the CPU has one), which halves their instructions; a generated kernel's own arithmetic is
not contracted, so it stays bitwise NumPy's.  Clamps are written ``x < lo ? lo : x``, which
lets a NaN through, so NaN propagates through every step without a select of its own.

Each function takes and returns one dtype (every constant is bound in it: Numba types float
literals as float64, which would silently widen float32 code); NaN propagates, ``+-inf`` and
zero give the limits.  The accuracy bounds, measured against long-double NumPy over the
whole range, are stated and tested in ``tests/kernels/test_vecmath.py``.  The functions are
compiled with ``forceinline`` (LLVM's ``alwaysinline``): a kernel calling them types one
call per op, and LLVM inlines the body before it vectorises the loop: a 50-op chain
compiles in about half the time it took with the statements pasted into the loop (Numba's
typing and lowering of them was most of it), and runs as fast.
"""

import math
from types import SimpleNamespace

import numba
import numpy as np

from kernels.fastexp import fast_exp32, fast_exp64, float_type, make_fast_exp, split_ln2
from kernels.llvm_ops import copysign as _copysign
from kernels.llvm_ops import exponent_bits as _exponent_bits
from kernels.llvm_ops import float_bits_as_int as _float_bits_as_int
from kernels.llvm_ops import fma as _fma
from kernels.llvm_ops import int_bits_as_float as _int_bits_as_float
from kernels.llvm_ops import select as _select

__all__ = ["make_vecmath", "source", "statements", "prelude", "SNIPPETS", "make_fast_exp",
           "fast_exp32", "fast_exp64", "F32", "F64", "exp32", "exp64", "expm1_32",
           "expm1_64", "log32", "log64", "log1p32", "log1p64", "tanh32", "tanh64",
           "sigmoid32", "sigmoid64", "softplus32", "softplus64"]

_FORCEINLINE = dict(forceinline=True, error_model="numpy")  # LLVM's alwaysinline


# ---- the functions as source lines ---------------------------------------------------
# Each function is a few statements (``statements``) that ``make_vecmath`` wraps in a
# function of its own; generated kernels call those functions (``source``).

# float32 e^r = 1 + r Q(r) on |r| <= ln2/2: a minimax fit of the relative error to degree
# 6 (2e-9; ``minimax``, with the arguments tests/kernels/test_vecmath.py uses to check
# these digits), where Taylor needs degree 7
_EXP32 = ("0x1p+0", "0x1.fffffcp-2", "0x1.555418p-3", "0x1.555824p-5", "0x1.1267d8p-7",
          "0x1.6ae6ep-10")


def minimax(f, weight, lo, hi, n, points=4001, iterations=400):
    """Coefficients ``c`` of the polynomial ``p(x) = sum c_j x^j`` (``n`` terms) that
    minimises ``max |weight(x) (p(x) - f(x))|`` over ``[lo, hi]`` (Lawson's iteratively
    reweighted least squares on Chebyshev points, in float64; 0 is left out, where a
    quotient like ``(e^x - 1) / x`` is undefined), and that maximum.

    Examples
    --------
    >>> import numpy as np
    >>> c, err = minimax(np.exp, np.ones_like, -0.5, 0.5, 4)
    >>> bool(err < 1e-3), bool(abs(c[0] - 1) < 1e-3)
    (True, True)
    """
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.linspace(0, np.pi, points))
    x = x[x != 0]
    a = np.vander(x, n, increasing=True) * weight(x)[:, None]
    b = f(x) * weight(x)
    w = np.full(len(b), 1.0 / len(b))
    for _ in range(iterations):
        c = np.linalg.lstsq(a * np.sqrt(w)[:, None], b * np.sqrt(w), rcond=None)[0]
        err = np.abs(a @ c - b)
        w = w * err / np.sum(w * err)
    return c, float(err.max())


def _constants(dtype):
    """Name -> value of every constant the snippets use, in ``dtype`` (ints for bit fields)."""
    single = dtype == np.float32
    int_type = np.int32 if single else np.int64
    mant_bits, bias = (23, 127) if single else (52, 1023)
    ln2_hi, ln2_lo = split_ln2(dtype)
    shift = 1.5 * 2.0**mant_bits  # x + shift rounds x to an integer held in the low bits
    c = dict(one=1.0, two=2.0, half=0.5, zero=0.0, inf=np.inf, nan=np.nan,
             log2e=1.0 / math.log(2.0), ln2_hi=ln2_hi, ln2_lo=ln2_lo, nln2_hi=-ln2_hi,
             nln2_lo=-ln2_lo, shift=shift, shift_b=shift + bias, shift_s=shift + bias + 64,
             two_m64=2.0**-64, mant=2.0**mant_bits,
             # past overflow / past half the smallest subnormal: the clamp keeps 2^k's two
             # halves normal numbers and still gives inf and 0 for the infinities
             exp_hi=89.0 if single else 710.0, exp_lo=-110.0 if single else -750.0,
             em1_cut=math.log(2.0), tiny=np.finfo(dtype).tiny, sqrt2=math.sqrt(2.0),
             mant_f=float(mant_bits),
             tanh_hi=10.0 if single else 20.0)  # tanh is 1 to the last bit beyond
    c = {k: dtype(v) for k, v in c.items()}
    if single:
        c.update({f"ep{j}": dtype(float.fromhex(v)) for j, v in enumerate(("0x1p+0",) + _EXP32)})
    else:  # Taylor: e^r on |r| <= ln2/2 to degree 13 (truncation below a tenth of an ulp)
        c.update({f"ep{j}": dtype(1.0 / math.factorial(j)) for j in range(14)})
    # (e^x - 1)/x on |x| < ln2 (Taylor, 10 / 17 terms), and log m = s (2 + 2/3 s^2 + ...)
    # with s^2 <= 0.0295 (5 / 11 terms)
    for j in range(11 if single else 18):
        c[f"em{j}"] = dtype(1.0 / math.factorial(j + 1))
    for j in range(5 if single else 11):
        c[f"lp{j}"] = dtype(2.0 / (2 * j + 1))
    c.update(ibias=int_type(bias), ishift=int_type(mant_bits),
             imask=int_type((1 << mant_bits) - 1), ione=int_type(bias << mant_bits))
    return c


def _poly(r, k, prefix, start=0):
    """``c0 + r * (c1 + r * (...))`` over the constants ``{k}{prefix}{start} ..``, as fused
    multiply-adds."""
    n = _count(k, prefix)
    expr = f"{k}{prefix}{n - 1}"
    for j in range(n - 2, start - 1, -1):
        expr = f"_fma({r}, {expr}, {k}{prefix}{j})"
    return expr


def _count(k, prefix):
    return sum(1 for name in _CONST_NAMES[k] if name[:len(prefix)] == prefix
               and name[len(prefix):].isdigit())


def _reduce(k, x, p, shift):
    """``{p}t = x log2e + shift`` (its low bits hold ``k = round(x / ln2)``), ``{p}k`` (k as
    a float) and ``{p}r = x - k ln2`` (k ln2_hi exact)."""
    return [f"{p}t = _fma({x}, {k}log2e, {k}{shift})",
            f"{p}k = {p}t - {k}{shift}",
            f"{p}r = _fma({p}k, {k}nln2_lo, _fma({p}k, {k}nln2_hi, {x}))"]


def _exp(k, x, y, p):
    # clamps written x < lo ? lo : x let NaN through: NaN in, NaN out
    return [f"{p}c = _select({x} < {k}exp_lo, {k}exp_lo, {x})",
            f"{p}c = _select({p}c > {k}exp_hi, {k}exp_hi, {p}c)"] + \
        _reduce(k, f"{p}c", p, "shift") + [
            f"{p}p = {_poly(p + 'r', k, 'ep')}",  # e^r
            f"{p}h = np.floor({p}k * {k}half)",  # 2^k = 2^h 2^(k-h): both halves normal
            f"{y} = ({p}p * _exponent_bits({p}h + {k}shift_b)) * "
            f"_exponent_bits(({p}k - {p}h) + {k}shift_b)"]  # the first product is exact


def _expm1(k, x, y, p):
    return _exp(k, x, f"{p}e", p + "e") + [
        f"{y} = {x} * {_poly(x, k, 'em')}",
        f"{y} = _select(abs({x}) < {k}em1_cut, {y}, {p}e - {k}one)"]  # no cancellation near 0


def _log(k, x, y, p):
    return [f"{p}b = _float_bits_as_int(_select({x} < {k}tiny, {x} * {k}mant, {x}))",
            f"{p}m = _int_bits_as_float({k}int(({p}b & {k}imask) | {k}ione))",  # [1, 2)
            f"{p}e = {k}float(({p}b >> {k}ishift) - {k}ibias)"
            f" - _select({x} < {k}tiny, {k}mant_f, {k}zero)",
            f"{p}e = _select({p}m > {k}sqrt2, {p}e + {k}one, {p}e)",
            f"{p}m = _select({p}m > {k}sqrt2, {p}m * {k}half, {p}m)",  # [sqrt(1/2), sqrt(2))
            f"{p}s = ({p}m - {k}one) / ({p}m + {k}one)",
            f"{y} = _fma({p}e, {k}ln2_hi, _fma({p}s, {_poly(f'({p}s * {p}s)', k, 'lp')}, "
            f"{p}e * {k}ln2_lo))",
            f"{y} = _select(({x} > {k}zero) & ({x} < {k}inf), {y}, _select({x} == {k}zero, "
            f"-{k}inf, _select({x} == {k}inf, {k}inf, {k}nan)))"]


def _log1p(k, x, y, p):
    # log(u) * x / (u - 1), u = 1 + x: u - 1 is the x that u represents (Goldberg)
    return [f"{p}u = {x} + {k}one"] + _log(k, f"{p}u", f"{p}l", p + "l") + [
        f"{y} = {p}l * ({x} / ({p}u - {k}one))",
        f"{y} = _select({p}u == {k}one, {x}, {y})",  # x == 0 or tiny: log1p(x) = x exactly
        f"{y} = _select({x} == {k}inf, {k}inf, {y})"]


def _tanh(k, x, y, p):
    # m / (m + 2), m = e^(2|x|) - 1 = 2^k (e^r - 1) + (2^k - 1), e^r - 1 = r + r^2 Q(r) from
    # exp's own steps: no cancellation (2^k - 1 is exact, and 0 near x = 0); the clamp of |x|
    # keeps 2^k normal, and there m / (m + 2) already rounds to 1
    return [f"{p}a = abs({x})",
            f"{p}a = _select({p}a > {k}tanh_hi, {k}tanh_hi, {p}a)"] + \
        _reduce(k, f"({p}a + {p}a)", p, "shift_b") + [
            f"{p}s = _exponent_bits({p}t)",
            f"{p}w = _fma({p}r, {p}r * {_poly(p + 'r', k, 'ep', 2)}, {p}r)",
            f"{p}m = _fma({p}s, {p}w, {p}s - {k}one)",
            f"{y} = _copysign({p}m / ({p}m + {k}two), {x})"]  # -0 and NaN come through


def _sigmoid(k, x, y, p):
    # e = e^-|x| = (p 2^(k+64)) 2^-64: k <= 0, so 2^(k+64) is normal down to the clamp
    return [f"{p}a = -abs({x})",
            f"{p}c = _select({p}a < {k}exp_lo, {k}exp_lo, {p}a)"] + \
        _reduce(k, f"{p}c", p, "shift_s") + [
            f"{p}e = ({_poly(p + 'r', k, 'ep')} * _exponent_bits({p}t)) * {k}two_m64",
            f"{y} = _select({x} >= {k}zero, {k}one, {p}e) / ({k}one + {p}e)"]  # NaN: e


def _softplus(k, x, y, p):
    return [f"{p}a = -abs({x})"] + _exp(k, f"{p}a", f"{p}e", p + "e") + _log1p(
        k, f"{p}e", f"{p}l", p + "l") + [f"{y} = _select({x} > {k}zero, {x}, {k}zero) + {p}l"]


SNIPPETS = {"exp": _exp, "expm1": _expm1, "log": _log, "log1p": _log1p, "tanh": _tanh,
            "sigmoid": _sigmoid, "softplus": _softplus}
_CONST_NAMES = {}


def _prefix(dtype):
    k = "_vm32_" if np.dtype(dtype) == np.float32 else "_vm64_"
    if k not in _CONST_NAMES:
        _CONST_NAMES[k] = list(_constants(np.dtype(dtype).type))
    return k


def statements(name, dtype, x, y, tmp):
    """The statements computing ``y = name(x)`` in ``dtype``: the body of the functions of
    :func:`make_vecmath`.

    Parameters
    ----------
    name : str
        One of ``SNIPPETS`` (exp, expm1, log, log1p, tanh, sigmoid, softplus).
    dtype : {numpy.float32, numpy.float64}
    x, y : str
        A variable holding the argument (read several times) and the result's name.
    tmp : str
        A prefix for the temporaries, unique within the body.

    Returns
    -------
    list of str
        The lines; they read the constants and intrinsics of ``_namespace(dtype)``.

    Examples
    --------
    >>> statements("sigmoid", "float32", "v0", "t0", "_e0")[-1]
    't0 = _select(v0 >= _vm32_zero, _vm32_one, _e0e) / (_vm32_one + _e0e)'
    """
    float_type(dtype, "statements")
    return SNIPPETS[name](_prefix(dtype), x, y, tmp)


def source(name, dtype, x, y, tmp=None):
    """Source lines computing ``y = name(x)`` in ``dtype``, for a generated loop body: one
    call of the function of ``F32`` / ``F64`` that :func:`prelude` names (LLVM inlines it
    and vectorises the loop).

    Parameters
    ----------
    name : str
        One of ``SNIPPETS`` (exp, expm1, log, log1p, tanh, sigmoid, softplus).
    dtype : {numpy.float32, numpy.float64}
    x, y : str
        An expression of type ``dtype`` for the argument, and the result's name.
    tmp : str, optional
        Unused (the temporaries live in the called function); kept for callers that pass a
        prefix.

    Returns
    -------
    list of str

    Examples
    --------
    >>> source("exp", "float32", "v0", "t0")
    ['t0 = _vm32_exp(v0)']
    """
    float_type(dtype, "source")
    if name not in SNIPPETS:
        raise KeyError(f"vecmath has no {name!r}; it has {', '.join(SNIPPETS)}")
    return [f"{y} = {_prefix(dtype)}{name}({x})"]


def prelude(dtype):
    """Module-level source defining the names that :func:`source`'s lines read.

    Examples
    --------
    >>> prelude("float32")[0]
    'from kernels.vecmath import F32 as _vm32_lib'
    """
    dtype = float_type(dtype, "prelude")
    k = _prefix(dtype)
    lib = "F32" if dtype == np.float32 else "F64"
    return [f"from kernels.vecmath import {lib} as {k}lib"] + [
        f"{k}{name} = {k}lib.{name}" for name in SNIPPETS]


def _namespace(dtype):
    """The globals the statements of :func:`statements` read: constants and intrinsics."""
    k = _prefix(dtype)
    ns = {"np": np, "_int_bits_as_float": _int_bits_as_float, "_fma": _fma,
          "_float_bits_as_int": _float_bits_as_int, "_select": _select,
          "_exponent_bits": _exponent_bits, "_copysign": _copysign,
          f"{k}int": np.int32 if dtype == np.float32 else np.int64, f"{k}float": dtype}
    ns.update({k + name: v for name, v in _constants(dtype).items()})
    return ns


def make_vecmath(dtype):
    """Build the vectorisable math functions for one float dtype.

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}
        The argument and result type of every function.

    Returns
    -------
    types.SimpleNamespace
        ``exp``, ``expm1``, ``log``, ``log1p``, ``tanh``, ``sigmoid``, ``softplus``: Numba
        dispatchers compiled ``forceinline`` (inlined by LLVM into the loop that calls
        them), callable from ``@njit`` code and from Python.

    Examples
    --------
    >>> import numpy as np
    >>> m = make_vecmath(np.float64)
    >>> bool(round(m.tanh(0.5), 12) == round(np.tanh(0.5), 12)), m.log1p(0.0), m.sigmoid(0.0)
    (True, 0.0, 0.5)
    """
    dtype = float_type(dtype, "make_vecmath")
    namespace = _namespace(dtype)
    funcs = {}
    for name in SNIPPETS:
        body = statements(name, dtype, "x", "y", "_")
        code = f"def {name}(x):\n" + "".join(f"    {line}\n" for line in body) + "    return y\n"
        exec(compile(code, f"<kernels.vecmath {name} {dtype.__name__}>", "exec"), namespace)
        funcs[name] = numba.njit(**_FORCEINLINE)(namespace[name])
    return SimpleNamespace(**funcs)


F32, F64 = make_vecmath(np.float32), make_vecmath(np.float64)  # by dtype, for generated code
exp32, expm1_32, log32, log1p32 = F32.exp, F32.expm1, F32.log, F32.log1p
tanh32, sigmoid32, softplus32 = F32.tanh, F32.sigmoid, F32.softplus
exp64, expm1_64, log64, log1p64 = F64.exp, F64.expm1, F64.log, F64.log1p
tanh64, sigmoid64, softplus64 = F64.tanh, F64.sigmoid, F64.softplus
