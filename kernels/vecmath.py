"""Vectorisable float32 / float64 math for Numba CPU loops: exp, expm1, log, log1p, tanh,
sigmoid, softplus.

Numba turns ``math.exp`` / ``math.tanh`` into scalar libm calls, which stop LLVM from
vectorising the loop around them (no SVML here); NumPy's own AVX2 loops then beat a naive
``@njit`` loop several times over (``docs/kernels.md``).  Everything here is arithmetic, selects
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

__all__ = ["make_vecmath", "source", "prelude", "SNIPPETS", "make_fast_exp", "fast_exp32",
           "fast_exp64", "F32", "F64", "exp32", "exp64", "expm1_32", "expm1_64", "log32",
           "log64", "log1p32", "log1p64", "tanh32", "tanh64", "sigmoid32", "sigmoid64",
           "softplus32", "softplus64"]

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


@intrinsic
def _select(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM ``select``: both sides are computed anyway, and a
    conditional expression would make three basic blocks, which Numba's passes (SSA,
    typing) pay for superlinearly in a kernel pasting dozens of them."""
    if not isinstance(cond, types.Boolean) or a != b:
        return None

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return a(cond, a, b), codegen


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


# ---- the functions as source lines ---------------------------------------------------
# Each function is a few statements that a generated kernel pastes into its loop body
# (``source``), and that ``make_vecmath`` wraps in a function of its own. Pasting instead of
# calling ``inline="always"`` dispatchers saves compile time: Numba inlines by copying and
# re-typing the callee's IR at every call site; with ``_select`` instead of conditional
# expressions, the 50-op chain of benchmarks/activation_chain.py compiles in 5.6 s instead
# of 8.7 s (loaded machine).


def _constants(dtype):
    """Name -> value of every constant the snippets use, in ``dtype`` (ints for bit fields)."""
    single = dtype == np.float32
    int_type = np.int32 if single else np.int64
    mant_bits = 23 if single else 52
    ln2_hi, ln2_lo = _split_ln2(dtype)
    c = dict(one=1.0, two=2.0, half=0.5, zero=0.0, inf=np.inf, nan=np.nan,
             log2e=1.0 / math.log(2.0), ln2_hi=ln2_hi, ln2_lo=ln2_lo,
             bias=127.0 if single else 1023.0, mant=2.0**mant_bits,
             # past overflow / past half the smallest subnormal: the clamp keeps 2^k's two
             # halves normal numbers and still gives inf and 0 for the infinities
             exp_hi=89.0 if single else 710.0, exp_lo=-110.0 if single else -750.0,
             em1_cut=math.log(2.0), tiny=np.finfo(dtype).tiny, sqrt2=math.sqrt(2.0),
             mant_f=float(mant_bits))
    c = {k: dtype(v) for k, v in c.items()}
    # Taylor coefficients: e^r on |r| <= ln2/2 (degree 7 / 13), (e^x - 1)/x on |x| < ln2
    # (10 / 17), and log m = s (2 + 2/3 s^2 + ...) with s^2 <= 0.0295 (5 / 11 terms)
    for j in range(8 if single else 14):
        c[f"ep{j}"] = dtype(1.0 / math.factorial(j))
    for j in range(11 if single else 18):
        c[f"em{j}"] = dtype(1.0 / math.factorial(j + 1))
    for j in range(5 if single else 11):
        c[f"lp{j}"] = dtype(2.0 / (2 * j + 1))
    c.update(ibias=int_type(127 if single else 1023), ishift=int_type(mant_bits),
             imask=int_type((1 << mant_bits) - 1),
             ione=int_type((127 if single else 1023) << mant_bits))
    return c


def _horner_expr(r, k, prefix, n):
    """``c0 + r * (c1 + r * (...))`` over the constants ``{k}{prefix}0 .. n-1``."""
    expr = f"{k}{prefix}{n - 1}"
    for j in range(n - 2, -1, -1):
        expr = f"({k}{prefix}{j} + {r} * {expr})"
    return expr


def _count(k, prefix):
    return sum(1 for name in _CONST_NAMES[k] if name[:len(prefix)] == prefix
               and name[len(prefix):].isdigit())


def _exp(k, x, y, p):
    return [f"{p}c = min(max({x}, {k}exp_lo), {k}exp_hi)",
            f"{p}k = np.floor({p}c * {k}log2e + {k}half)",
            f"{p}r = ({p}c - {p}k * {k}ln2_hi) - {p}k * {k}ln2_lo",
            f"{p}h = np.floor({p}k * {k}half)",  # 2^k = 2^h 2^(k-h): both halves normal
            f"{p}s = _int_bits_as_float({k}int(({p}h + {k}bias) * {k}mant))",
            f"{p}t = _int_bits_as_float({k}int(({p}k - {p}h + {k}bias) * {k}mant))",
            f"{y} = ({_horner_expr(p + 'r', k, 'ep', _count(k, 'ep'))} * {p}s) * {p}t",
            f"{y} = _select({x} != {x}, {x}, {y})"]  # NaN in, NaN out; the 1st product is exact


def _expm1(k, x, y, p):
    return _exp(k, x, f"{p}e", p + "e") + [
        f"{y} = {x} * {_horner_expr(x, k, 'em', _count(k, 'em'))}",
        f"{y} = _select(abs({x}) < {k}em1_cut, {y}, {p}e - {k}one)"]  # no cancellation near 0


def _log(k, x, y, p):
    return [f"{p}b = _float_bits_as_int(_select({x} < {k}tiny, {x} * {k}mant, {x}))",
            f"{p}m = _int_bits_as_float({k}int(({p}b & {k}imask) | {k}ione))",  # [1, 2)
            f"{p}e = {k}float(({p}b >> {k}ishift) - {k}ibias)"
            f" - _select({x} < {k}tiny, {k}mant_f, {k}zero)",
            f"{p}e = _select({p}m > {k}sqrt2, {p}e + {k}one, {p}e)",
            f"{p}m = _select({p}m > {k}sqrt2, {p}m * {k}half, {p}m)",  # [sqrt(1/2), sqrt(2))
            f"{p}s = ({p}m - {k}one) / ({p}m + {k}one)",
            f"{y} = {p}e * {k}ln2_hi + ({p}s * "
            f"{_horner_expr(f'({p}s * {p}s)', k, 'lp', _count(k, 'lp'))} + {p}e * {k}ln2_lo)",
            f"{y} = _select(({x} > {k}zero) & ({x} < {k}inf), {y}, _select({x} == {k}zero, "
            f"-{k}inf, _select({x} == {k}inf, {k}inf, {k}nan)))"]


def _log1p(k, x, y, p):
    # log(u) * x / (u - 1), u = 1 + x: u - 1 is the x that u represents (Goldberg)
    return [f"{p}u = {x} + {k}one"] + _log(k, f"{p}u", f"{p}l", p + "l") + [
        f"{y} = {p}l * ({x} / ({p}u - {k}one))",
        f"{y} = _select({p}u == {k}one, {x}, {y})",  # x == 0 or tiny: log1p(x) = x exactly
        f"{y} = _select({x} == {k}inf, {k}inf, {y})"]


def _tanh(k, x, y, p):
    # -t / (t + 2), t = expm1(-2|x|) in (-1, 0]: no overflow, exact saturation at 1
    return [f"{p}a = -{k}two * abs({x})"] + _expm1(k, f"{p}a", f"{p}t", p + "t") + [
        f"{y} = -{p}t / ({p}t + {k}two)",
        f"{y} = _select({x} > {k}zero, {y}, _select({x} < {k}zero, -{y}, {x}))"]  # +-0, NaN


def _sigmoid(k, x, y, p):
    return [f"{p}a = -abs({x})"] + _exp(k, f"{p}a", f"{p}e", p + "e") + [
        f"{p}q = {k}one / ({k}one + {p}e)",
        f"{y} = _select({x} >= {k}zero, {p}q, {p}e * {p}q)"]  # NaN: e * q is NaN too


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


def source(name, dtype, x, y, tmp):
    """Statements computing ``y = name(x)`` in ``dtype``, for pasting into a loop body.

    Parameters
    ----------
    name : str
        One of ``SNIPPETS`` (exp, expm1, log, log1p, tanh, sigmoid, softplus).
    dtype : {numpy.float32, numpy.float64}
    x, y : str
        A variable holding the argument (read several times) and the result's name.
    tmp : str
        A prefix for the temporaries, unique within the loop body.

    Returns
    -------
    list of str
        The lines; they read the constants of :func:`prelude` (module globals).

    Examples
    --------
    >>> source("exp", "float32", "v0", "t0", "_e0")[-1]
    't0 = v0 if v0 != v0 else t0'
    """
    _check(dtype, "source")
    return SNIPPETS[name](_prefix(dtype), x, y, tmp)


def prelude(dtype):
    """Module-level source defining the constants (and intrinsics) that ``source`` reads;
    Numba freezes such globals into the compiled code."""
    dtype = _check(dtype, "prelude")
    k = _prefix(dtype)
    lines = ["from kernels.vecmath import _float_bits_as_int, _int_bits_as_float, _select",
             f"{k}int = np.{'int32' if dtype == np.float32 else 'int64'}",
             f"{k}float = np.{np.dtype(dtype).name}"]
    for name, v in _constants(dtype).items():
        if isinstance(v, np.integer):
            lines.append(f"{k}{name} = np.{v.dtype.name}({int(v)})")
        else:
            lines.append(f"{k}{name} = np.{v.dtype.name}(float.fromhex('{float(v).hex()}'))")
    return lines


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
    namespace = {"np": np, "_int_bits_as_float": _int_bits_as_float,
                 "_float_bits_as_int": _float_bits_as_int, "_select": _select}
    exec("\n".join(prelude(dtype)[1:]), namespace)
    funcs = {}
    for name in SNIPPETS:
        body = source(name, dtype, "x", "y", "_")
        code = f"def {name}(x):\n" + "".join(f"    {line}\n" for line in body) + "    return y\n"
        exec(compile(code, f"<kernels.vecmath {name} {dtype.__name__}>", "exec"), namespace)
        funcs[name] = numba.njit(**_JIT)(namespace[name])
    return SimpleNamespace(**funcs)


fast_exp32 = make_fast_exp(np.float32)
fast_exp64 = make_fast_exp(np.float64)
F32, F64 = make_vecmath(np.float32), make_vecmath(np.float64)  # by dtype, for generated code
exp32, expm1_32, log32, log1p32 = F32.exp, F32.expm1, F32.log, F32.log1p
tanh32, sigmoid32, softplus32 = F32.tanh, F32.sigmoid, F32.softplus
exp64, expm1_64, log64, log1p64 = F64.exp, F64.expm1, F64.log, F64.log1p
tanh64, sigmoid64, softplus64 = F64.tanh, F64.sigmoid, F64.softplus
