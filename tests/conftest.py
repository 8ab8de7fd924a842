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
