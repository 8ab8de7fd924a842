"""Run one function on parts of a batch, on several Python threads, with OpenBLAS on one thread.

Why: a kernel that alternates Numba parallel loops with NumPy GEMMs wakes two thread pools in
turn (Numba's OpenMP workers, OpenBLAS's own).  OpenBLAS's idle workers spin for a while after
each GEMM, so on a 2-core machine the Numba loop that follows shares its cores with them; the
LeNet convolutions ran 5 to 8 times slower on 2 threads than on 1 (``benchmarks/conv.py``).
:func:`run_parts` instead cuts the batch into one contiguous part per thread and runs each part
start to finish (its loops serial, its GEMMs on the calling thread) on its own thread: one
fork and one join per call, and no pool but this one awake.

OpenBLAS's thread count is process-wide; it is found through ctypes in NumPy's bundled library
(``scipy_openblas``, or a system ``openblas``).  Where it cannot be found, :func:`available`
is False and callers keep their single-pool path.  Because the count is process-wide, two
Python threads calling :func:`run_parts` at once may leave each other's GEMMs on one thread
(slower, never wrong).
"""

import contextlib
import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba
import numpy as np

__all__ = ["available", "blas_threads", "library_paths", "run_parts", "threads"]

_NAMES = [(p + "openblas_set_num_threads" + s, p + "openblas_get_num_threads" + s)
          for p in ("scipy_", "") for s in ("64_", "")]


def library_paths():
    """The files of the OpenBLAS that NumPy loaded (its bundled copy, or a system one): where
    its thread controls (here) and its CBLAS symbols (``minigraph/codegen/blas.py``) are."""
    here = os.path.dirname(np.__file__)
    paths = glob.glob(os.path.join(here, os.pardir, "numpy.libs", "*openblas*"))
    paths += glob.glob(os.path.join(here, ".dylibs", "*openblas*"))
    try:  # a NumPy linked to a system OpenBLAS: it is in this process's map
        with open("/proc/self/maps") as maps:
            paths += sorted({ln.split()[-1] for ln in maps if "openblas" in ln.split()[-1]})
    except OSError:
        pass
    return paths


def _find_controls():
    for path in library_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _NAMES:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], None, ctypes.c_int
                return setter, getter
    return None


_CONTROLS = _find_controls()
_POOL = None
_POOL_LOCK = threading.Lock()


def available():
    """Whether OpenBLAS's thread count can be set here (else :func:`run_parts` is serial).

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    return _CONTROLS is not None


def threads():
    """OpenBLAS's current thread count, or None where it cannot be read.

    Examples
    --------
    >>> threads() is None or threads() >= 1
    True
    """
    return None if _CONTROLS is None else int(_CONTROLS[1]())


@contextlib.contextmanager
def blas_threads(n):
    """Run the body with OpenBLAS on ``n`` threads (process-wide), then restore its count.

    Examples
    --------
    >>> import numpy as np
    >>> with blas_threads(1):
    ...     float((np.ones((3, 3)) @ np.ones(3))[0])
    3.0
    """
    if _CONTROLS is None:
        yield
        return
    setter, getter = _CONTROLS
    before = getter()
    if before != n:
        setter(n)
    try:
        yield
    finally:
        if before != n:
            setter(before)


def _serial_worker():
    numba.set_num_threads(1)  # per thread: this thread's Numba loops run on itself only


def _pool(workers):
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(workers, "minigraph-part", initializer=_serial_worker)
        return _POOL


def run_parts(fn, n_items, n_parts):
    """Call ``fn(part, lo, hi)`` for ``n_parts`` contiguous ranges covering ``range(n_items)``.

    Part 0 runs on the calling thread, the others on a kept pool of threads, all with Numba
    on one thread each and OpenBLAS on one thread; ``fn`` must release the GIL in its heavy
    calls (``nogil`` Numba kernels, NumPy's GEMM) and write disjoint outputs.

    Returns
    -------
    list
        ``fn``'s results, in part order.

    Examples
    --------
    >>> run_parts(lambda part, lo, hi: (part, lo, hi), 5, 2)
    [(0, 0, 3), (1, 3, 5)]
    """
    n_parts = max(1, min(n_parts, n_items))
    bounds = [-(-n_items * i // n_parts) for i in range(n_parts + 1)]  # ceil: bigger first
    threads = numba.get_num_threads()
    with blas_threads(1):
        futures = [_pool(n_parts - 1).submit(fn, i, bounds[i], bounds[i + 1])
                   for i in range(1, n_parts)]
        numba.set_num_threads(1)
        try:
            first = fn(0, bounds[0], bounds[1])
        finally:
            numba.set_num_threads(threads)
            wait(futures)  # every part done before the caller's buffers go
        return [first] + [f.result() for f in futures]
