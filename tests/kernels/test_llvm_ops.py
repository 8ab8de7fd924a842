"""kernels/llvm_ops.py: each intrinsic against the Python it stands for, in float32 and
float64, and a typing error (not a conversion) for arguments of mixed or other types."""

import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

from kernels.llvm_ops import (copysign, exponent_bits, float_bits_as_int, fma,
                              int_bits_as_float, select)


@numba.njit(error_model="numpy")
def _all(a, b, c):
    bits = float_bits_as_int(a)
    return (fma(a, b, c), copysign(a, b), select(a < b, a, c), int_bits_as_float(bits), bits)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_intrinsics_equal_their_python_meaning(dtype):
    itype = np.int32 if dtype == np.float32 else np.int64
    for a, b, c in [(1.5, -2.0, 0.25), (-0.0, 3.0, np.nan), (np.inf, -0.0, 1.0)]:
        a, b, c = dtype(a), dtype(b), dtype(c)
        f, s, sel, back, bits = _all(a, b, c)
        with np.errstate(invalid="ignore"):  # inf * -0
            want = np.float64(a) * np.float64(b) + np.float64(c)  # exact in float64 here
        assert f == dtype(want) or (np.isnan(f) and np.isnan(want))
        assert s == np.copysign(a, b) and np.signbit(s) == np.signbit(b)
        assert sel == (a if a < b else c) or (np.isnan(sel) and np.isnan(c))
        assert back == a and np.signbit(back) == np.signbit(a)
        assert bits == np.array(a).view(itype)
    ftype, int_type = numba.from_dtype(dtype), numba.from_dtype(itype)
    sig = [s for s in _all.nopython_signatures if s.args[0] == ftype][0]
    assert tuple(sig.return_type) == (ftype,) * 4 + (int_type,)  # nothing widened


@pytest.mark.parametrize("dtype, shift", [(np.float32, 1.5 * 2.0**23),
                                          (np.float64, 1.5 * 2.0**52)])
def test_exponent_bits_makes_powers_of_two(dtype, shift):
    bias = 127 if dtype == np.float32 else 1023
    run = numba.njit(lambda x: exponent_bits(x))
    for k in (-bias + 1, -20, 0, 1, bias):
        assert run(dtype(shift + k + bias)) == dtype(2.0**k)


def test_mixed_types_are_typing_errors():
    with pytest.raises(TypingError):
        numba.njit(lambda a, b: fma(a, b, b))(np.float32(1), np.float64(2))
    with pytest.raises(TypingError):
        numba.njit(lambda a: exponent_bits(a))(np.int32(3))
    with pytest.raises(TypingError):
        numba.njit(lambda a, b: select(a < b, a, b))(np.float32(1), np.float64(2))
