"""Matrix products for generated Numba code: NumPy's own OpenBLAS, called by symbol.

Generated loops (:mod:`minigraph.codegen.scanloop`) run a whole ``scan`` in one Numba
function, so the products inside a step cannot go through ``numpy.dot``. They call the CBLAS
``gemm`` / ``gemv`` of the OpenBLAS that NumPy itself loaded (``scipy_openblas``, or a
system ``openblas``: the library ``kernels/blas_threads.py`` finds), declared as Numba
``ExternalFunction`` symbols. That keeps one BLAS thread pool in the process (the one
``kernels.set_threads`` sets), needs no SciPy, and, because the symbol is resolved by name
when the code is loaded, the functions stay cacheable on disk (a ctypes function pointer
would be baked into the machine code and forbid the cache).

Matrices are passed as an address, a leading dimension and a transpose flag, so a step
reads the rows and columns of a larger array (a gate's slice of a state, a transposed
weight) without copying them.
"""

import ctypes
import threading

import numpy as np

from kernels.blas_threads import library_paths

__all__ = ["available", "gemm_kernel", "routine", "stamp"]

# (symbol prefix, suffix, integer type of the library's CBLAS interface)
_FLAVOURS = (("scipy_cblas_", "64_", "int64"), ("cblas_", "64_", "int64"),
             ("scipy_cblas_", "", "int32"), ("cblas_", "", "int32"))
_FOUND = []  # [(symbol names by routine, int type)] once looked up


def _find():
    if _FOUND:
        return _FOUND[0]
    found = None
    for path in library_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pre, suf, itype in _FLAVOURS:
            names = {r: f"{pre}{r}{suf}" for r in ("sgemm", "dgemm", "sgemv", "dgemv")}
            if all(hasattr(lib, n) for n in names.values()):
                import llvmlite.binding as llvm

                llvm.load_library_permanently(path)  # Numba's linker resolves the symbols
                found = (names, itype)
                break
        if found:
            break
    _FOUND.append(found)
    return found


def available():
    """True when NumPy's BLAS exposes CBLAS symbols that generated code can call.

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    return _find() is not None


def routine(name, dtype):
    """The Numba ``ExternalFunction`` of CBLAS ``gemm`` or ``gemv`` for ``dtype``.

    Arguments are CBLAS's, row-major: ``gemm(order, transA, transB, M, N, K, alpha, A, lda,
    B, ldb, beta, C, ldc)`` and ``gemv(order, trans, M, N, alpha, A, lda, X, incX, beta, Y,
    incY)``, with the arrays given as integer addresses (``array.ctypes.data`` plus an
    offset in bytes).

    Examples
    --------
    >>> routine("gemm", "float32") if available() else None  # doctest: +ELLIPSIS
    ExternalFunction(...)
    """
    key = (name, dtype)
    if key not in _ROUTINES:
        from numba import types as nt

        names, itype = _find()
        i, f, p = getattr(nt, itype), getattr(nt, dtype), nt.intp
        head = [nt.int32] * (3 if name == "gemm" else 2) + [i] * (3 if name == "gemm" else 2)
        sig = nt.void(*head, f, p, i, p, i, f, p, i)
        _ROUTINES[key] = nt.ExternalFunction(names[("s" if dtype == "float32" else "d")
                                                   + name], sig)
    return _ROUTINES[key]


def stamp():
    """The symbols used, for generated sources (a cached module built against other symbols
    must not be loaded)."""
    names, itype = _find()
    return f"{sorted(names.values())} {itype}"


_ROUTINES = {}

_GEMM_SOURCE = """\
# minigraph gemm kernel (codegen/blas.py): {stamp}
from minigraph.codegen import blas as _blas
_gemm = _blas.routine('gemm', '{dtype}')


def gemm(trans_x, trans_y, m, n, k, alpha, x, ldx, y, ldy, beta, out, ldo):
    _gemm(101, 112 if trans_x else 111, 112 if trans_y else 111, m, n, k, alpha,
          x.ctypes.data, ldx, y.ctypes.data, ldy, beta, out.ctypes.data, ldo)
"""
_GEMM = {}  # dtype -> the compiled kernel, or None while it compiles


def gemm_kernel(dtype):
    """``gemm(trans_x, trans_y, m, n, k, alpha, x, ldx, y, ldy, beta, out, ldo)``: CBLAS's
    row-major ``out = beta * out + alpha * op(x) @ op(y)`` on C-contiguous matrices, compiled
    for ``dtype`` (float32 or float64), for ``tensor/blas.py``'s ``Gemm``; or None while it
    compiles, or without CBLAS symbols.

    Called from Python it costs what ``numpy.dot`` does (about 1 us more than the BLAS call):
    the Numba dispatcher passes the arrays' addresses, where a ctypes call of the same symbol
    took about 4 us more. The first call starts compiling it in a background thread (about
    0.3 s, a few milliseconds from Numba's disk cache), so a train step keeps its NumPy
    expression meanwhile rather than waiting.
    """
    dtype = np.dtype(dtype)
    try:
        return _GEMM[dtype]
    except KeyError:
        pass
    _GEMM[dtype] = None
    if available():
        threading.Thread(target=_compile_gemm, args=(dtype,), daemon=True,
                         name=f"minigraph-compile gemm {dtype}").start()
    return None


def _compile_gemm(dtype):
    import numba

    from .cache import load

    dtype = str(dtype)
    fn = load(_GEMM_SOURCE.format(stamp=stamp(), dtype=dtype), "minigraph_gemm", "gemm")
    f, mat, i = getattr(numba.types, dtype), getattr(numba.types, dtype)[:, ::1], numba.intp
    fn.compile((numba.int64, numba.int64, i, i, i, f, mat, i, mat, i, f, mat, i))
    fn.disable_compile()  # those types only: another would compile on the caller's thread
    _GEMM[np.dtype(dtype)] = fn


def warm_gemm(dtypes=("float32", "float64")):
    """Compile (or load) the kernels now, in this thread (the benchmarks' steady state)."""
    for dtype in dtypes:
        if _GEMM.get(np.dtype(dtype)) is None and available():
            _compile_gemm(dtype)
