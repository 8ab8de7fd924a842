"""The GRU's vectorisable ``exp`` (``make_fast_exp``): Cody-Waite reduction, a Taylor
polynomial and ``2^k`` built in the exponent bits, the argument clamped to ``|x| <= 80``
(float32) or ``700`` (float64), where the GRU's ``1 / (1 + e)`` has long saturated.

The full-range functions of generated kernels are in ``kernels/vecmath.py``, which
re-exports these names (``kernels/gru_cpu.py`` imports them from there); the helpers both
use (``split_ln2``, ``float_type``) live here, the lower of the two modules.
"""

import decimal
import math

import numba
import numpy as np

from kernels.llvm_ops import int_bits_as_float

__all__ = ["make_fast_exp", "fast_exp32", "fast_exp64", "split_ln2", "float_type"]

_JIT = dict(inline="always", error_model="numpy")


def split_ln2(dtype):
    """ln2 as hi + lo where hi has enough trailing zero bits that k * hi is exact for |k| < 2^11."""
    hi = np.array(math.log(2.0), dtype=dtype)
    int_type = np.int32 if dtype == np.float32 else np.int64
    mask = ~int_type(0xFFF)  # clear 12 low mantissa bits
    hi = (hi.view(int_type) & mask).view(dtype)[()]
    # lo must carry the bits of ln2 beyond float64, or |k| * ulp errors show up at |x| ~ 700.
    ln2 = decimal.Context(prec=40).ln(decimal.Decimal(2))
    lo = dtype(float(ln2 - decimal.Decimal(float(hi))))
    return dtype(hi), lo


def float_type(dtype, who):
    """``dtype`` as numpy.float32 or numpy.float64, else a TypeError naming ``who``."""
    dtype = np.dtype(dtype).type
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{who}: dtype must be float32 or float64, got {dtype}")
    return dtype


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


def make_fast_exp(dtype):
    """Build the GRU's ``exp`` for one float dtype: exact on ``|x| <= 80`` (float32) or
    ``700`` (float64), the argument clamped beyond (cheaper than ``kernels.vecmath``'s
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
    dtype = float_type(dtype, "make_fast_exp")
    single = dtype == np.float32
    int_type = np.int32 if single else np.int64
    poly = _horner(tuple(dtype(1.0 / math.factorial(i)) for i in range(8 if single else 14)))
    limit = dtype(80.0 if single else 700.0)
    neg_limit, log2e, half = -limit, dtype(1.0 / math.log(2.0)), dtype(0.5)
    ln2_hi, ln2_lo = split_ln2(dtype)
    bias = dtype(127.0 if single else 1023.0)
    # (k + bias) * 2^mantissa_bits is the bit pattern of 2^k, exactly representable.
    mant_scale = dtype(2.0**23 if single else 2.0**52)

    @numba.njit(**_JIT)
    def fast_exp(x):
        xc = min(max(x, neg_limit), limit)
        k = np.floor(xc * log2e + half)
        r = (xc - k * ln2_hi) - k * ln2_lo
        scale = int_bits_as_float(int_type((k + bias) * mant_scale))
        y = poly(r) * scale
        return x if x != x else y  # NaN in, NaN out

    return fast_exp



fast_exp32 = make_fast_exp(np.float32)
fast_exp64 = make_fast_exp(np.float64)
