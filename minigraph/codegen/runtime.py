"""Small Numba functions that generated loops call (``_rt.<name>`` in their source).

They follow Python's and NumPy's rules for indices so that a compiled loop reads exactly
what the interpreted one does; a bad index raises (the interpreted rerun then gives the full
message, see :mod:`minigraph.codegen.scanloop`).
"""

import functools
import hashlib

import numba
import numpy as np


@numba.njit(inline="always", nogil=True)
def slice_range(lo, hi, step, n):
    """``(first, length)`` of ``slice(lo, hi, step)`` (``step`` > 0) on ``n`` elements."""
    if lo < 0:
        lo = max(lo + n, 0)
    lo = min(lo, n)
    if hi < 0:
        hi = max(hi + n, 0)
    hi = min(hi, n)
    return lo, max(0, (hi - lo + step - 1) // step)


@numba.njit(inline="always", nogil=True)
def slice_range_down(lo, hi, step, n):
    """``(first, length)`` of ``slice(lo, hi, step)`` (``step`` < 0) on ``n`` elements; the
    caller passes ``n`` for a missing ``lo`` and ``-n - 1`` for a missing ``hi``."""
    if lo < 0:
        lo = max(lo + n, -1)
    lo = min(lo, n - 1)
    if hi < 0:
        hi = max(hi + n, -1)
    hi = min(hi, n - 1)
    return lo, (lo - hi - 1) // -step + 1 if hi < lo else 0


@numba.njit(inline="always", nogil=True)
def index(k, n):
    """``k`` as a non-negative index into ``n`` elements (IndexError when out of range)."""
    if k < 0:
        k += n
    if k < 0 or k >= n:
        raise IndexError("index out of range in a compiled loop")
    return k


@numba.njit(nogil=True)
def reshape_dims(size, dims):
    """``dims`` (an int64 array, changed in place) with its one ``-1`` (if any) resolved
    for ``size`` elements."""
    known, free = 1, -1
    for d in range(dims.shape[0]):
        if dims[d] == -1 and free < 0:
            free = d
        else:
            known *= dims[d]
    if free >= 0:
        if known <= 0 or size % known:
            raise ValueError("cannot reshape in a compiled loop")
        dims[free] = size // known
    return dims


@numba.njit(nogil=True)
def scratch(block, state, nbytes):
    """``nbytes`` uint8 for a loop's buffer: the next part of ``block`` (the call's scratch
    memory, ``CompiledLoop.run``) while it lasts, else a new array. ``state`` is
    ``[bytes handed out, bytes asked for]``, parts rounded up to 64 bytes; the caller sizes
    the next call's block from the second."""
    size = (nbytes + 63) // 64 * 64
    start = state[0]
    state[1] += size
    if start + size <= block.shape[0]:
        state[0] = start + size
        return block[start:start + nbytes]
    return np.empty(nbytes, np.uint8)


@functools.lru_cache(maxsize=None)
def stamp():
    """A hash of this file, which generated sources name: Numba's disk cache of a loop sees
    only the loop's own file, so a changed helper must change the loop's source."""
    with open(__file__, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()[:12]


@numba.njit(nogil=True)
def same(a, b):
    """Raise ValueError unless the sizes ``a`` and ``b`` are equal (the checks of generated
    loops: ``emitter.check_same``)."""
    if a != b:
        raise ValueError("sizes differ in a compiled loop")
