"""A vectorisable ``exp`` for Numba CPU loops, in float32 and float64.

Numba turns ``math.exp`` into a scalar libm call, which stops LLVM from vectorising the GRU
gate loop (no SVML here); NumPy's own AVX2 exp then beats a naive ``@njit`` loop by 6x
(``docs/kernels.md``).  This module builds an ``exp`` from arithmetic only, so the loop around it
vectorises:

* Cody-Waite range reduction ``x = k ln2 + r`` with ``|r| <= ln2 / 2`` (ln2 split in a high
  part with trailing zero bits and a low part, so ``k * ln2_hi`` is exact);
* a Taylor polynomial for ``e^r`` (degree 7 for float32, 13 for float64: truncation error below
  half an ulp on that interval);
* ``2^k`` made by writing ``k + bias`` into the exponent bits and bit-casting the integer to a
  float (a tiny LLVM ``bitcast`` intrinsic; a table lookup would be a gather and not vectorise).

Inputs are clamped so that ``2^k`` stays a normal number (float32: +-80, float64: +-700); the
GRU only feeds the result to ``1 / (1 + e)``, where saturation is exact to the last bit.
NaN propagates.  Measured accuracy over [-90, 90] is in ``tests/kernels/test_fastexp.py``.
"""

import decimal
import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

__all__ = ["make_fast_exp", "fast_exp32", "fast_exp64"]


@intrinsic
def _int_bits_as_float(typingctx, bits):
    """Reinterpret an int32 as float32 or an int64 as float64 (no conversion)."""
    if bits == types.int32:
        result = types.float32
    elif bits == types.int64:
        result = types.float64
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(result))

    return result(bits), codegen


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


def make_fast_exp(dtype):
    """Build a vectorisable ``exp`` for one float dtype.

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}
        The argument and result type; all constants are bound in this type so the compiled
        code never silently widens to float64.

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
    dtype = np.dtype(dtype).type
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"make_fast_exp: dtype must be float32 or float64, got {dtype}")
    single = dtype == np.float32
    int_type = np.int32 if single else np.int64
    degree = 7 if single else 13
    c = [dtype(1.0 / math.factorial(i)) for i in range(degree + 1)]
    limit = dtype(80.0 if single else 700.0)
    neg_limit = -limit
    log2e = dtype(1.0 / math.log(2.0))
    ln2_hi, ln2_lo = _split_ln2(dtype)
    half = dtype(0.5)
    bias = dtype(127.0 if single else 1023.0)
    # (k + bias) * 2^mantissa_bits is the bit pattern of 2^k, exactly representable.
    mant_scale = dtype(2.0**23 if single else 2.0**52)
    c0, c1, c2, c3, c4, c5, c6, c7 = c[:8]

    if single:

        @numba.njit(inline="always", error_model="numpy")
        def poly(r):
            return c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * (c6 + r * c7))))))

    else:
        c8, c9, c10, c11, c12, c13 = c[8:]

        @numba.njit(inline="always", error_model="numpy")
        def poly(r):
            hi = c7 + r * (c8 + r * (c9 + r * (c10 + r * (c11 + r * (c12 + r * c13)))))
            return c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * (c6 + r * hi))))))

    @numba.njit(inline="always", error_model="numpy")
    def fast_exp(x):
        xc = min(max(x, neg_limit), limit)
        k = np.floor(xc * log2e + half)
        r = (xc - k * ln2_hi) - k * ln2_lo
        scale = _int_bits_as_float(int_type((k + bias) * mant_scale))
        y = poly(r) * scale
        return x if x != x else y  # NaN in, NaN out

    return fast_exp


fast_exp32 = make_fast_exp(np.float32)
fast_exp64 = make_fast_exp(np.float64)
