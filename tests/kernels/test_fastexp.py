"""Accuracy of the vectorisable exp and of the sigmoid / tanh built on it, over [-90, 90].

Bounds are a small margin above what was measured (float32: exp rel 1.0e-7, sigmoid abs
8.9e-8, tanh abs 1.3e-7; float64: ~2-3e-16), against float64 NumPy on the same inputs.
"""

import platform

import numba
import numpy as np
import pytest

from kernels import gru_cpu
from kernels.vecmath import fast_exp32, fast_exp64, make_fast_exp
from kernels.gru_math import libm_exp, make_gru_math

# dtype: (exp, exp range without clamping, exp rel, sigmoid abs, tanh abs)
BOUNDS = {
    np.float32: (fast_exp32, 80.0, 2e-7, 1.5e-7, 2e-7),
    np.float64: (fast_exp64, 700.0, 5e-16, 5e-16, 5e-16),
}


def _evaluate(dtype, x):
    exp = BOUNDS[dtype][0]
    m = make_gru_math(dtype, exp)
    sigmoid, tanh = m.sigmoid, m.tanh

    @numba.njit(error_model="numpy")
    def run(x, e, s, t):
        for i in range(x.size):
            e[i] = exp(x[i])
            s[i] = sigmoid(x[i])
            t[i] = tanh(x[i])

    out = [np.empty_like(x) for _ in range(3)]
    run(x, *out)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accuracy_over_range(dtype):
    _, limit, exp_rel, sig_abs, tanh_abs = BOUNDS[dtype]
    x = np.concatenate([np.linspace(-90, 90, 400_001), np.linspace(-limit, limit, 100_001)])
    x = x.astype(dtype)
    e, s, t = _evaluate(dtype, x)
    x64 = x.astype(np.float64)
    inside = np.abs(x64) <= limit
    want = np.exp(x64[inside])
    assert np.max(np.abs(e[inside] - want) / want) < exp_rel
    assert np.max(np.abs(s - 0.5 * (1 + np.tanh(x64 / 2)))) < sig_abs
    assert np.max(np.abs(t - np.tanh(x64))) < tanh_abs
    # saturation is exact and monotone: no inf / NaN from the clamp
    first = slice(0, 400_001)  # the sorted [-90, 90] sweep
    assert np.all(np.isfinite(e)) and np.all(np.diff(s[first]) >= 0)
    assert np.all(np.diff(t[first]) >= -2 * np.finfo(dtype).eps)  # monotone up to rounding
    assert np.all((s >= 0) & (s <= 1)) and np.all(np.abs(t) <= 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    x = np.array([0.0, np.nan, np.inf, -np.inf, 1.0], dtype=dtype)
    e, s, t = _evaluate(dtype, x)
    assert e[0] == 1.0 and s[0] == 0.5 and t[0] == 0.0
    assert np.isnan(e[1]) and np.isnan(s[1]) and np.isnan(t[1])
    assert s[2] == 1.0 and s[3] < 1e-30 and t[2] == 1.0 and t[3] == -1.0
    assert e.dtype == dtype and abs(e[4] - np.e) < 4 * np.finfo(dtype).eps * np.e


def test_bad_dtype():
    with pytest.raises(TypeError, match="float32 or float64"):
        make_fast_exp(np.int32)
    with pytest.raises(TypeError, match="float32 or float64"):
        make_gru_math(np.float16, libm_exp)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 IR check")
def test_cpu_forward_epilogue_vectorises():
    # The point of fastexp: the fused gate loop compiles to SIMD code (no scalar expf calls).
    fwd, _, _ = gru_cpu._epilogues(np.dtype(np.float32))
    z = np.zeros
    args = [z((2, 12), np.float32), z((2, 12), np.float32), z(12, np.float32)]  # gx, gh, b
    args += [z((2, 4), np.float32), z((2, 4), np.float32), z((2, 12), np.float32),
             z((2, 4), np.float32)]  # h, h_new, rzn_out, ghn_out
    fwd(*args)
    ir = fwd.inspect_llvm(fwd.signatures[0])
    assert " x float>" in ir
    assert "@expf" not in ir and "@tanhf" not in ir
