"""Tests of minigraph.codegen.blas (NumPy's CBLAS called from Numba by symbol) and
minigraph.codegen.runtime (the index helpers generated loops call), against NumPy and Python
on fresh random inputs."""

import numba
import numpy as np
import pytest

from minigraph.codegen import blas, runtime

pytestmark = pytest.mark.skipif(not blas.available(), reason="NumPy's BLAS has no CBLAS symbols")

_GEMMS = {}


def _gemm(dtype):
    """A Numba function computing ``C = alpha A B + beta C`` (row-major) through
    ``blas.routine``, taking each matrix as (array, row offset, col offset, transposed)."""
    if dtype not in _GEMMS:
        g = blas.routine("gemm", dtype)
        item = np.dtype(dtype).itemsize

        @numba.njit
        def run(a, ar, ac, ta, b, br, bc, tb, c, m, n, k, alpha, beta):
            pa = a.ctypes.data + (ar * a.shape[1] + ac) * item
            pb = b.ctypes.data + (br * b.shape[1] + bc) * item
            g(101, 112 if ta else 111, 112 if tb else 111, m, n, k, alpha, pa, a.shape[1],
              pb, b.shape[1], beta, c.ctypes.data, c.shape[1])

        _GEMMS[dtype] = run
    return _GEMMS[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_on_views_of_larger_arrays_equals_numpy(dtype, ta, tb, rng):
    m, n, k = 5, 7, 3  # odd sizes; the operands are windows of bigger arrays
    a = rng.standard_normal((9, 11)).astype(dtype)
    b = rng.standard_normal((10, 12)).astype(dtype)
    av = a[2:2 + k, 1:1 + m].T if ta else a[2:2 + m, 1:1 + k]  # the matrix A as a view
    bv = b[3:3 + n, 4:4 + k].T if tb else b[3:3 + k, 4:4 + n]
    c0 = rng.standard_normal((m, n)).astype(dtype)
    c = c0.copy()
    _gemm(dtype)(a, 2, 1, ta, b, 3, 4, tb, c, m, n, k, 1.5, 0.5)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(c, 1.5 * av @ bv + 0.5 * c0, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("trans", [False, True])
def test_gemv_equals_numpy(dtype, trans, rng):
    g = blas.routine("gemv", dtype)
    item = np.dtype(dtype).itemsize

    @numba.njit
    def run(a, x, y, t):
        rows, cols = a.shape
        g(101, 112 if t else 111, rows, cols, 1.0, a.ctypes.data, cols, x.ctypes.data + item,
          2, 0.0, y.ctypes.data, 1)  # x: every other element, from the second

    a = rng.standard_normal((6, 4)).astype(dtype)
    x = rng.standard_normal(13).astype(dtype)
    y = np.empty(4 if trans else 6, dtype)
    run(a, x, y, trans)
    xv = x[1::2][: 6 if trans else 4]
    want = a.T @ xv if trans else a @ xv
    np.testing.assert_allclose(y, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_routines_are_cacheable_external_symbols():
    f = blas.routine("gemm", "float32")
    assert isinstance(f, numba.types.ExternalFunction)
    assert f.symbol in blas.stamp()  # generated sources name the symbols they were built on


@pytest.mark.parametrize("n", [0, 1, 5, 8])
def test_slice_range_follows_python_slices(n):
    for lo in range(-10, 11):
        for hi in range(-10, 11):
            for step in (1, 2, 3):
                first, length = runtime.slice_range(lo, hi, step, n)
                want = range(n)[slice(lo, hi, step)]
                assert length == len(want), (lo, hi, step, n)
                if length:
                    assert first == want[0], (lo, hi, step, n)


def test_index_wraps_negative_indices_and_refuses_out_of_range():
    assert runtime.index(-1, 4) == 3 and runtime.index(2, 4) == 2
    for bad in (4, -5):
        with pytest.raises(IndexError):
            runtime.index(bad, 4)


def test_reshape_dims_resolves_one_free_dimension():
    np.testing.assert_array_equal(runtime.reshape_dims(12, np.array([3, -1], np.int64)), [3, 4])
    np.testing.assert_array_equal(runtime.reshape_dims(12, np.array([2, 6], np.int64)), [2, 6])
    with pytest.raises(ValueError):
        runtime.reshape_dims(10, np.array([3, -1], np.int64))
