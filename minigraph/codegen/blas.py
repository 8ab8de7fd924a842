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

from kernels.blas_threads import library_paths

__all__ = ["available", "routine", "stamp"]

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
