"""Accuracy of kernels/vecmath.py against NumPy over the whole float range.

The reference is NumPy in long double (float32 and float64 inputs, results rounded to the
input dtype's spacing). Bounds, in ulps of the exact result where it is a normal number,
are a margin above what was measured (max over the sweep below, float32 / float64, with
fused multiply-adds on an AVX-512 CPU): exp 0.98 / 0.83, expm1 1.55 / 1.43, log 2.00 / 1.42,
log1p 3.54 / 2.98, tanh 2.23 / 1.87 (float32: 2.54 on a 100x denser sweep of [-3, 3]),
sigmoid 1.97 / 1.93, softplus 3.43 / 3.74. Where the
exact result is subnormal the error is a few units of the smallest subnormal (double
rounding).
"""

import math
import platform

import numba
import numpy as np
import pytest

from kernels import vecmath
from kernels.vecmath import make_vecmath

NAMES = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid", "softplus")
ULPS = {"exp": 1.5, "expm1": 2, "log": 3, "log1p": 4, "tanh": 3, "sigmoid": 3, "softplus": 4.5}
REFERENCE = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p,
             "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
             "softplus": lambda x: np.logaddexp(0, x)}


def _all_functions(dtype):
    """One compiled loop computing every function, so each dtype compiles once."""
    m = make_vecmath(dtype)
    exp, expm1, log, log1p = m.exp, m.expm1, m.log, m.log1p
    tanh, sigmoid, softplus = m.tanh, m.sigmoid, m.softplus

    @numba.njit(error_model="numpy")
    def run(x, out):
        for i in range(x.size):
            v = x[i]
            out[0, i], out[1, i], out[2, i], out[3, i] = exp(v), expm1(v), log(v), log1p(v)
            out[4, i], out[5, i], out[6, i] = tanh(v), sigmoid(v), softplus(v)

    def evaluate(x):
        out = np.empty((len(NAMES), x.size), dtype)
        run(x, out)
        return dict(zip(NAMES, out))

    return evaluate


@pytest.fixture(scope="module", params=[np.float32, np.float64], ids=["float32", "float64"])
def funcs(request):
    return request.param, _all_functions(request.param)


def _sweep(dtype):
    """Every binade from the smallest subnormal to the largest number, both signs, plus
    a dense linear sweep of the interesting range [-120, 120]."""
    info = np.finfo(dtype)
    tiny_sub = info.smallest_subnormal
    with np.errstate(over="ignore"):  # the last point rounds past max: inf, dropped below
        mags = np.geomspace(float(tiny_sub), float(info.max), 60_001).astype(dtype)
    lin = np.linspace(-120, 120, 60_001)
    wide = np.linspace(-800, 800, 20_001)
    x = np.concatenate([mags, -mags, lin, wide]).astype(dtype)
    return x[np.isfinite(x)]


def test_accuracy_over_the_whole_range(funcs):
    dtype, evaluate = funcs
    x = _sweep(dtype)
    got = evaluate(x)
    info = np.finfo(dtype)
    xl = x.astype(np.longdouble)
    with np.errstate(all="ignore"):
        for name in NAMES:
            want = REFERENCE[name](xl)
            g = got[name]
            rounded = want.astype(dtype)
            normal = np.isfinite(rounded) & (np.abs(rounded) >= info.tiny)
            ulp = np.spacing(np.abs(rounded[normal])).astype(np.longdouble)
            err = np.abs(g[normal].astype(np.longdouble) - want[normal]) / ulp
            assert err.max() <= ULPS[name], (name, float(err.max()), x[normal][err.argmax()])
            sub = np.isfinite(want) & ~normal & np.isfinite(rounded)  # subnormal or 0
            abs_err = np.abs(g[sub].astype(np.longdouble) - want[sub])
            assert np.all(abs_err <= 4 * info.smallest_subnormal), name
            # overflow and NaN (log of a negative number) exactly where the reference has them
            big = ~np.isfinite(rounded)
            np.testing.assert_array_equal(g[big], rounded[big], err_msg=name)


def test_special_values_are_exact(funcs):
    dtype, evaluate = funcs
    inf, nan = np.inf, np.nan
    x = np.array([0.0, -0.0, inf, -inf, nan, -1.0, -2.0], dtype)
    got = evaluate(x)
    want = {"exp": [1, 1, inf, 0, nan, np.exp(-1.0), np.exp(-2.0)],
            "expm1": [0, -0.0, inf, -1, nan, np.expm1(-1.0), np.expm1(-2.0)],
            "log": [-inf, -inf, inf, nan, nan, nan, nan],
            "log1p": [0, -0.0, inf, nan, nan, -inf, nan],
            "tanh": [0, -0.0, 1, -1, nan, np.tanh(-1.0), np.tanh(-2.0)],
            "sigmoid": [0.5, 0.5, 1, 0, nan, None, None],
            "softplus": [np.log(2.0), np.log(2.0), inf, 0, nan, None, None]}
    for name, values in want.items():
        for i, w in enumerate(values):
            if w is None:
                continue
            w = dtype(w)
            g = got[name][i]
            same = g == w or (np.isnan(g) and np.isnan(w))  # exact, infinities included
            assert same or abs(g - w) <= 2 * np.spacing(abs(w)), (name, x[i], g, w)
        assert got[name].dtype == dtype
    # zeros keep their sign where the function is odd; saturation is exact
    assert np.signbit(got["expm1"][1]) and np.signbit(got["tanh"][1])
    assert np.signbit(got["log1p"][1])
    big = np.array([30.0, 400.0, 800.0], dtype)
    sat = evaluate(big)
    assert np.all(sat["tanh"] == 1) and np.all(evaluate(-big)["tanh"] == -1)
    assert np.all(sat["sigmoid"][1:] == 1) and np.all(evaluate(-big)["sigmoid"][2:] == 0)
    assert np.all(evaluate(-big)["softplus"][2:] == 0) and np.all(sat["softplus"][1:] == big[1:])


def test_subnormal_inputs(funcs):
    dtype, evaluate = funcs
    s = np.finfo(dtype).smallest_subnormal
    x = np.array([s, 3 * s, np.finfo(dtype).tiny / 2], dtype)
    got = evaluate(x)
    np.testing.assert_allclose(got["log"], np.log(x.astype(np.longdouble)).astype(dtype),
                               rtol=4 * np.finfo(dtype).eps)
    for name in ("expm1", "log1p", "tanh"):  # f(x) = x to the last bit for tiny x
        np.testing.assert_array_equal(got[name], x, err_msg=name)
    assert np.all(got["exp"] == 1) and np.all(got["sigmoid"] == 0.5)


def test_module_level_functions_and_bad_dtype():
    want = np.tanh(np.float32(0.5))
    assert abs(np.float32(vecmath.tanh32(np.float32(0.5))) - want) <= 3 * np.spacing(want)
    assert abs(vecmath.log64(10.0) - np.log(10.0)) <= np.spacing(np.log(10.0))
    with pytest.raises(TypeError, match="float32 or float64"):
        make_vecmath(np.int32)
    with pytest.raises(TypeError, match="float32 or float64"):
        vecmath.make_fast_exp(np.float16)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 IR check")
def test_loops_vectorise():
    # The point of the module: no scalar libm call, SIMD float vectors in the loop.
    tanh, log1p, sigmoid = vecmath.tanh32, vecmath.log1p32, vecmath.sigmoid32

    @numba.njit(error_model="numpy")
    def loop(x, o):
        for i in range(x.size):
            o[i] = tanh(x[i]) + log1p(x[i]) * sigmoid(x[i])

    x = np.ones(8, np.float32)
    loop(x, np.empty_like(x))
    ir = loop.inspect_llvm(loop.signatures[0])
    assert " x float>" in ir
    for libm in ("@expf", "@tanhf", "@logf", "@log1pf", "@expm1f"):
        assert libm not in ir


def test_float32_exp_polynomial_is_the_stated_minimax_fit():
    # the digits in vecmath come from its own fitter: refitting gives them back (to an ulp
    # of float32, where the fit's last digits depend on the BLAS)
    h = math.log(2) / 2 * 1.0005  # a margin: k rounded from a product may leave |r| > ln2/2
    stored = np.array([float.fromhex(c) for c in vecmath._EXP32], np.float32)
    fitted, err = vecmath.minimax(lambda r: np.expm1(r) / r, lambda r: r / np.exp(r), -h, h,
                                  len(stored))
    assert np.all(np.abs(stored - fitted.astype(np.float32)) <= np.spacing(abs(stored)))
    assert err <= 2e-9


def test_source_is_one_call_of_the_function_prelude_names():
    assert vecmath.source("tanh", np.float32, "(a + b)", "y") == ["y = _vm32_tanh((a + b))"]
    assert vecmath.source("log1p", "float64", "x", "y", "_ignored") == ["y = _vm64_log1p(x)"]
    namespace = {"np": np}
    exec("\n".join(vecmath.prelude("float32")), namespace)
    assert namespace["_vm32_sigmoid"] is vecmath.F32.sigmoid
    with pytest.raises(KeyError, match="no 'sin'"):
        vecmath.source("sin", np.float32, "x", "y")
    with pytest.raises(TypeError, match="float32 or float64"):
        vecmath.prelude(np.int64)
    # the statements (the functions' bodies) still make one function of their own
    body = vecmath.statements("exp", np.float64, "x", "y", "_e")
    assert body[-1].startswith("y = ") and all("_e" in line for line in body)
