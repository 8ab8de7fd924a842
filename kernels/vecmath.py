"""Vectorisable float32 / float64 math for Numba CPU loops: exp, expm1, log, log1p, tanh,
sigmoid, softplus.

Numba turns ``math.exp`` / ``math.tanh`` into scalar libm calls, which stop LLVM from
vectorising the loop around them (no SVML here); NumPy's own AVX2 loops then beat a naive
``@njit`` loop several times over (KERNELS.md §4.2).  Everything here is arithmetic, selects
and bit casts only, so a loop calling these functions compiles to SIMD code.  Two users:
the GRU epilogues (``kernels/gru_cpu.py``, through ``make_fast_exp``) and every fused
elementwise kernel (``minigraph/tensor/fused_kernels.py``, through ``F32.tanh``...).

* ``exp``: Cody-Waite reduction ``x = k ln2 + r``, ``|r| <= ln2 / 2`` (``ln2`` split so that
  ``k * ln2_hi`` is exact), a Taylor polynomial for ``e^r`` (degree 7 / 13: truncation below
  a tenth of an ulp), and ``2^k`` built in the exponent bits as two halves ``2^(k//2) *
  2^(k - k//2)``: both halves are normal numbers, so the result rounds once, also into
  overflow and the subnormal range.
* ``log``: ``x = m 2^e`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` (subnormals scaled up
  first), ``log m = 2 atanh(s)``, ``s = (m - 1) / (m + 1)``, an odd series in ``s``.
* ``expm1``: a Taylor polynomial where ``|x| < ln2`` (no cancellation), ``exp(x) - 1``
  elsewhere; ``log1p``: ``log(u) * x / (u - 1)`` with ``u = 1 + x`` (Goldberg's correction
  of the rounding of ``u``); ``tanh`` from ``expm1(-2|x|)``; ``sigmoid`` and ``softplus``
  from ``exp(-|x|)``, so no step overflows and both saturate exactly.

Each function takes and returns one dtype (every constant is bound in it: Numba types float
literals as float64, which would silently widen float32 code); NaN propagates, ``+-inf`` and
zero give the limits.  The accuracy bounds, measured against float64 / long-double NumPy over
the whole range, are stated and tested in ``tests/kernels/test_vecmath.py``.
"""

import decimal
import math
from types import SimpleNamespace

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

__all__ = ["make_vecmath", "make_fast_exp", "fast_exp32", "fast_exp64", "F32", "F64",
           "exp32", "exp64",
           "expm1_32", "expm1_64", "log32", "log64", "log1p32", "log1p64", "tanh32",
           "tanh64", "sigmoid32", "sigmoid64", "softplus32", "softplus64"]

_JIT = dict(inline="always", error_model="numpy")


@intrinsic
def _int_bits_as_float(typingctx, bits):
    """Reinterpret an int32 as float32 or an int64 as float64 (no conversion)."""
    result = {types.int32: types.float32, types.int64: types.float64}.get(bits)
    if result is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(result))

    return result(bits), codegen


@intrinsic
def _float_bits_as_int(typingctx, x):
    """Reinterpret a float32 as int32 or a float64 as int64 (no conversion)."""
    result = {types.float32: types.int32, types.float64: types.int64}.get(x)
    if result is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(result))

    return result(x), codegen


def _split_ln2(dtype):
    """ln2 as hi + lo where hi has enough trailing zero bits that k * hi is exact for |k| < 2^11."""
    hi = np.array(math.log(2.0), dtype=dtype)
    int_type = np.int32 if dtype == np.float32 else np.int64
    mask = ~int_type(0xFFF)  # clear 12 low mantissa bits
    hi = (hi.view(int_type) & mask).view(dtype)[()]
    # lo must carry the bits of ln2 beyond float64, or |k| * ulp errors show up at |x| ~ 700.
    ln2 = decimal.Context(prec=40).ln(decimal.Decimal(2))
    lo = dtype(float(ln2 - decimal.Decimal(float(hi))))
    return dtype(hi), lo


def _horner(coeffs):
    """``p(r) = c0 + r (c1 + r (c2 + ...))`` for a tuple of constants (unrolled by LLVM)."""
    rev = tuple(reversed(coeffs))
    top = rev[0]

    @numba.njit(**_JIT)
    def poly(r):
        p = top
        for c in rev[1:]:
            p = c + r * p
        return p

    return poly


def _check(dtype, who):
    dtype = np.dtype(dtype).type
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{who}: dtype must be float32 or float64, got {dtype}")
    return dtype


def make_fast_exp(dtype):
    """Build the GRU's ``exp`` for one float dtype: exact on ``|x| <= 80`` (float32) or
    ``700`` (float64), the argument clamped beyond (cheaper than :func:`make_vecmath`'s
    full-range ``exp``; the GRU feeds it to ``1 / (1 + e)``, which saturates exactly).

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}
        The argument and result type.

    Returns
    -------
    numba.core.registry.CPUDispatcher
        ``exp(x)`` compiled with ``inline="always"`` and ``error_model="numpy"``.

    Examples
    --------
    >>> import numpy as np
    >>> exp32 = make_fast_exp(np.float32)
    >>> abs(exp32(np.float32(1.0)) - np.e) < 1e-6
    True
    """
    dtype = _check(dtype, "make_fast_exp")
    single = dtype == np.float32
    int_type = np.int32 if single else np.int64
    poly = _horner(tuple(dtype(1.0 / math.factorial(i)) for i in range(8 if single else 14)))
    limit = dtype(80.0 if single else 700.0)
    neg_limit, log2e, half = -limit, dtype(1.0 / math.log(2.0)), dtype(0.5)
    ln2_hi, ln2_lo = _split_ln2(dtype)
    bias = dtype(127.0 if single else 1023.0)
    # (k + bias) * 2^mantissa_bits is the bit pattern of 2^k, exactly representable.
    mant_scale = dtype(2.0**23 if single else 2.0**52)

    @numba.njit(**_JIT)
    def fast_exp(x):
        xc = min(max(x, neg_limit), limit)
        k = np.floor(xc * log2e + half)
        r = (xc - k * ln2_hi) - k * ln2_lo
        scale = _int_bits_as_float(int_type((k + bias) * mant_scale))
        y = poly(r) * scale
        return x if x != x else y  # NaN in, NaN out

    return fast_exp


def _make_exp(dtype):
    """Full-range exp: overflow to inf, gradual underflow through the subnormals to 0."""
    single = dtype == np.float32
    int_type = np.int32 if single else np.int64
    poly = _horner(tuple(dtype(1.0 / math.factorial(i)) for i in range(8 if single else 14)))
    # just past overflow / past half the smallest subnormal: the clamp keeps 2^k's halves
    # normal numbers and still gives inf and 0 for the infinities
    hi_lim, lo_lim = (dtype(89.0), dtype(-110.0)) if single else (dtype(710.0), dtype(-750.0))
    log2e, half = dtype(1.0 / math.log(2.0)), dtype(0.5)
    ln2_hi, ln2_lo = _split_ln2(dtype)
    bias = dtype(127.0 if single else 1023.0)
    mant_scale = dtype(2.0**23 if single else 2.0**52)

    @numba.njit(**_JIT)
    def exp(x):
        xc = min(max(x, lo_lim), hi_lim)
        k = np.floor(xc * log2e + half)
        r = (xc - k * ln2_hi) - k * ln2_lo
        k1 = np.floor(k * half)
        s1 = _int_bits_as_float(int_type((k1 + bias) * mant_scale))
        s2 = _int_bits_as_float(int_type((k - k1 + bias) * mant_scale))
        y = (poly(r) * s1) * s2  # the first product is exact: one rounding in all
        return x if x != x else y

    return exp


def _make_log(dtype):
    single = dtype == np.float32
    int_type = np.int32 if single else np.int64
    mant_bits = 23 if single else 52
    # log m = 2 atanh(s) = s * (2 + 2/3 s^2 + 2/5 s^4 + ...); |s| <= 0.1716, so s^2 <= 0.0295:
    # 5 terms leave 2e-9 (float32), 11 terms 6e-19 (float64)
    poly = _horner(tuple(dtype(2.0 / (2 * j + 1)) for j in range(5 if single else 11)))
    ln2_hi, ln2_lo = _split_ln2(dtype)
    min_normal, up = dtype(np.finfo(dtype).tiny), dtype(2.0**mant_bits)
    sqrt2, one, half, zero = dtype(math.sqrt(2.0)), dtype(1.0), dtype(0.5), dtype(0.0)
    inf, nan, mant_f = dtype(np.inf), dtype(np.nan), dtype(mant_bits)
    bias = int_type(127 if single else 1023)
    mant_mask = int_type((1 << mant_bits) - 1)
    one_bits = int_type(bias << mant_bits)
    shift = int_type(mant_bits)

    @numba.njit(**_JIT)
    def log(x):
        tiny = x < min_normal
        bits = _float_bits_as_int(x * up if tiny else x)
        e = dtype((bits >> shift) - bias)
        m = _int_bits_as_float(int_type((bits & mant_mask) | one_bits))  # in [1, 2)
        big = m > sqrt2
        m = m * half if big else m
        e = e + (one if big else zero) - (mant_f if tiny else zero)
        s = (m - one) / (m + one)
        y = e * ln2_hi + (s * poly(s * s) + e * ln2_lo)
        if (x > zero) & (x < inf):
            return y
        return -inf if x == zero else (inf if x == inf else nan)

    return log


def _make_expm1(dtype, exp):
    single = dtype == np.float32
    # Taylor series of (e^x - 1) / x; the truncation is below 1e-9 (1e-18) of |x| on
    # |x| < ln2, where exp(x) - 1 would lose bits to cancellation
    poly = _horner(tuple(dtype(1.0 / math.factorial(i + 1)) for i in range(11 if single else 18)))
    cut, one = dtype(math.log(2.0)), dtype(1.0)

    @numba.njit(**_JIT)
    def expm1(x):
        small = x * poly(x)
        return small if abs(x) < cut else exp(x) - one

    return expm1


def _make_log1p(dtype, log):
    one, inf = dtype(1.0), dtype(np.inf)

    @numba.njit(**_JIT)
    def log1p(x):
        u = x + one
        d = u - one  # the x that u really represents: log(u) * x / d corrects u's rounding
        y = log(u) * (x / d)
        y = x if u == one else y  # x == 0 or tiny: d == 0, and log1p(x) = x to the last bit
        return inf if x == inf else y

    return log1p


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
        dispatchers compiled ``inline="always"``, callable from ``@njit`` code and from Python.

    Examples
    --------
    >>> import numpy as np
    >>> m = make_vecmath(np.float64)
    >>> round(m.tanh(0.5), 12) == round(np.tanh(0.5), 12), m.log1p(0.0), m.sigmoid(0.0)
    (True, 0.0, 0.5)
    """
    dtype = _check(dtype, "make_vecmath")
    exp = _make_exp(dtype)
    log = _make_log(dtype)
    expm1 = _make_expm1(dtype, exp)
    log1p = _make_log1p(dtype, log)
    one, two, zero = dtype(1.0), dtype(2.0), dtype(0.0)

    @numba.njit(**_JIT)
    def tanh(x):
        t = expm1(-two * abs(x))  # in (-1, 0]: no overflow, exact saturation at -1
        y = -t / (t + two)
        return y if x > zero else (-y if x < zero else x)  # +-0 and NaN as they came

    @numba.njit(**_JIT)
    def sigmoid(x):
        e = exp(-abs(x))
        q = one / (one + e)
        return q if x >= zero else e * q  # NaN compares false: e * q is NaN too

    @numba.njit(**_JIT)
    def softplus(x):
        pos = x if x > zero else zero
        return pos + log1p(exp(-abs(x)))

    return SimpleNamespace(exp=exp, expm1=expm1, log=log, log1p=log1p, tanh=tanh,
                           sigmoid=sigmoid, softplus=softplus)


fast_exp32 = make_fast_exp(np.float32)
fast_exp64 = make_fast_exp(np.float64)
F32, F64 = make_vecmath(np.float32), make_vecmath(np.float64)  # by dtype, for generated code
exp32, expm1_32, log32, log1p32 = F32.exp, F32.expm1, F32.log, F32.log1p
tanh32, sigmoid32, softplus32 = F32.tanh, F32.sigmoid, F32.softplus
exp64, expm1_64, log64, log1p64 = F64.exp, F64.expm1, F64.log, F64.log1p
tanh64, sigmoid64, softplus64 = F64.tanh, F64.sigmoid, F64.softplus
