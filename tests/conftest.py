"""Project-wide pytest configuration.

The first block belongs to ``kernels`` and must stay first: Numba reads
``NUMBA_ENABLE_CUDASIM`` once, when it is first imported, so the CUDA target (real GPU or
simulator, from ``MINIGRAPH_CUDA``) is decided here before any test module imports numba.
Fixtures for other packages go below it.
"""

import os
import sys

# Plain `pytest` (unlike `python -m pytest`) does not put the repository root on sys.path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kernels._target  # noqa: E402  (standard library only: imports neither NumPy nor Numba)

kernels._target.configure()  # simulator on GPU-less machines; never the default backend
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads OpenBLAS

# ---- end of the kernels block; other fixtures below -------------------------------------

import numpy as np  # noqa: E402  (after the kernels block on purpose)
import pytest  # noqa: E402


@pytest.fixture
def rng(request):
    """A fresh generator; its seed is printed (shown on failure) and can be fixed with
    ``MINIGRAPH_TEST_SEED`` to replay a failing run."""
    seed = int(os.environ.get("MINIGRAPH_TEST_SEED") or np.random.SeedSequence().entropy % 2**32)
    print(f"random seed {seed} for {request.node.name}")
    return np.random.default_rng(seed)


@pytest.fixture
def float32_mode():
    """``config.floatX`` set to float32 for the test, restored afterwards."""
    from minigraph.config import config

    old = config.floatX
    config.floatX = "float32"
    yield
    config.floatX = old
