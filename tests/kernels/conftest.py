"""Fixtures for the kernel tests: backends, problem sizes, seeded random GRU inputs.

``case`` parametrises one test body over every backend ("reference", "cpu", "cuda"), dtypes
and sizes.  The CUDA backend runs on a real GPU when there is one, else in Numba's simulator
(marker ``cudasim``), where each simulated thread costs about a millisecond: there it only
gets tiny problems (B <= 4, H <= 16, T <= 3).  Every random test prints its seed; set
``KERNELS_TEST_SEED`` to replay one.
"""

import os
import sys
from collections import namedtuple

import numpy as np
import pytest

import kernels

Case = namedtuple("Case", "backend dtype B H T")

# (B, H, T): B=1, ragged sizes that are no multiple of any tile, T=1 and T>1.
TINY_SIZES = [(1, 8, 1), (3, 10, 3), (4, 16, 2)]
MORE_SIZES = [(2, 5, 2), (8, 33, 5), (17, 64, 4)]

CUDA_MODE = kernels.cuda_available()  # "real", "sim" or None


def _cases():
    for backend in kernels.BACKENDS:
        marks = [pytest.mark.cudasim] if backend == "cuda" else []
        if backend == "cuda" and CUDA_MODE is None:
            marks.append(pytest.mark.skip(reason="CUDA off: no GPU and simulator disabled"))
        for dtype in ("float32", "float64"):
            sizes = TINY_SIZES + MORE_SIZES
            if backend == "cuda" and CUDA_MODE != "real":
                # simulator: float32 on all tiny sizes, float64 on the ragged one only
                sizes = TINY_SIZES if dtype == "float32" else [(3, 10, 3)]
            for B, H, T in sizes:
                yield pytest.param(
                    Case(backend, np.dtype(dtype), B, H, T),
                    marks=marks,
                    id=f"{backend}-{dtype}-B{B}-H{H}-T{T}",
                )


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", list(_cases()))


@pytest.fixture(autouse=True)
def _fast_simulator_switching(request):
    """Shorter GIL switch interval for simulated kernels.

    The simulator's main thread busy-polls its per-CUDA-thread Python threads at every
    ``syncthreads``; with the default 5 ms switch interval each barrier costs ~5 ms per block.
    0.5 ms made the simulated GRU kernels 3-5x faster here.
    """
    if CUDA_MODE != "sim" or request.node.get_closest_marker("cudasim") is None:
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(5e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@pytest.fixture
def rng(request):
    """A fresh random generator; its seed is printed (shown by pytest on failure)."""
    seed = int(os.environ.get("KERNELS_TEST_SEED", np.random.SeedSequence().entropy % 2**32))
    print(f"\n{request.node.nodeid}: seed={seed} (replay with KERNELS_TEST_SEED={seed})")
    return np.random.default_rng(seed)


class GruData:
    """Random GRU inputs in one dtype, plus float64 copies of exactly those values."""

    def __init__(self, rng, B, H, T=None, dtype=np.float64, scale=1.0):
        lead = (B,) if T is None else (T, B)
        f64 = {
            "gx": scale * rng.standard_normal(lead + (3 * H,)),
            "h0": rng.uniform(-1.0, 1.0, (B, H)),
            "W_h": rng.standard_normal((H, 3 * H)) / np.sqrt(H),
            "b_h": 0.5 * rng.standard_normal(3 * H),
            "dh": rng.standard_normal(lead + (H,)),
        }
        self.cast = {k: v.astype(dtype) for k, v in f64.items()}
        self.ref = {k: v.astype(np.float64) for k, v in self.cast.items()}


@pytest.fixture
def gru_data(rng):
    """Factory: ``gru_data(B, H, T=None, dtype=np.float64, scale=1.0) -> GruData``."""
    return lambda *args, **kwargs: GruData(rng, *args, **kwargs)


def tolerances(dtype, kind):
    """(rtol, atol) for comparing a backend in ``dtype`` with the float64 reference.

    float32 budgets are set for a GPU (expf, FMA contraction, other summation orders), not
    for the simulator, which computes exp in float64.  ``kind`` is "fwd" or "grad"; the
    caller scales atol by the magnitude of the reference.
    """
    if dtype == np.float64:
        return 1e-10, 1e-12
    return (1e-5, 2e-6) if kind == "fwd" else (1e-4, 1e-5)


@pytest.fixture
def assert_matches():
    """``assert_matches(got, want, dtype, kind, name)``: dtype, layout and values."""

    def check(got, want, dtype, kind, name):
        assert isinstance(got, np.ndarray), f"{name}: got {type(got).__name__}"
        assert got.dtype == dtype, f"{name}: dtype {got.dtype}, expected {dtype}"
        assert got.flags.c_contiguous, f"{name} is not C-contiguous"
        assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
        rtol, atol = tolerances(dtype, kind)
        atol *= max(1.0, float(np.abs(want).max(initial=0.0)))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)

    return check
