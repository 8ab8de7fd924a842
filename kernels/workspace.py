"""Big arrays kept between calls and handed out again once nobody else holds them.

A whole-sequence GRU call writes about 60 MB (T=30, B=200, H=512, float32) into fresh arrays;
fresh pages fault on first touch, which cost the forward about a tenth of its time (11 ms of
128 ms, 1 thread). A `Workspace` keeps the memory it handed out; when the caller has dropped
every reference (views included: a view holds its base), ``sys.getrefcount`` shows only the
workspace's own, and the next request gets that memory back, its pages already mapped. Memory
still in use is never handed out twice.

The kept blocks are raw bytes, not arrays of one shape: a request takes the smallest free block
that is large enough (and at most twice its size), viewed with the requested shape and dtype.
So a step's gradients, activations and scratch arrays share blocks as their lifetimes allow,
and the workspace holds about what is live at the busiest moment, not one array per shape.

Big arrays that are not kept (a scan's traces and per-step outputs above the workspace's
share, new values of shared variables) come from :func:`fresh_empty`: their memory starts on
a 2 MB boundary and is marked for transparent huge pages, so first touch faults once per
2 MB instead of once per 4 kB page. NumPy asks for huge pages for arrays of 4 MB and more,
but its blocks start anywhere, and only the whole 2 MB spans inside them can be huge pages:
a 12.3 MB array took 956 faults and 2.0 ms to touch, 7 faults and 0.4-0.9 ms aligned; a
4 MB one 513 faults and 0.9-1.2 ms, against 3 and 0.1 ms (this 2-core machine, Linux 6.18,
``transparent_hugepage`` = madvise, glibc serving blocks from 1 MB by mmap as
``models/charrnn/cli.py``'s ``tune_malloc`` sets it).
"""

import math
import sys

import numpy as np

from kernels import memplan

__all__ = ["Workspace", "SHARED", "fresh_empty"]

HUGE_PAGE = 2 << 20  # x86-64's transparent huge page
FRESH_MIN_BYTES = 1 << 20  # smaller arrays are plain np.empty (malloc's heap serves them)


def _madvise():
    """``madvise(addr, length)`` asking for huge pages, or None where it is not available."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.madvise
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        fn.restype = ctypes.c_int
        return lambda addr, length: fn(addr, length, 14)  # 14 = MADV_HUGEPAGE
    except (OSError, AttributeError):
        return None


_MADVISE = _madvise()


def fresh_empty(shape, dtype):
    """A new uninitialised array whose memory starts on a huge-page boundary.

    From `FRESH_MIN_BYTES` up, the array is a view into a slightly bigger block: up to 2 MB
    before it, to reach the boundary, and, when the last 2 MB span is more than half used,
    the rest of that span, so it too can be one huge page (so an array holds at most 1 MB
    of memory it does not use). Untouched parts of the block take no memory. Smaller arrays
    are ``np.empty``.

    Examples
    --------
    >>> a = fresh_empty((1000, 1000), np.float32)
    >>> a.shape, a.dtype, a.flags.c_contiguous, a.ctypes.data % HUGE_PAGE
    ((1000, 1000), dtype('float32'), True, 0)
    >>> fresh_empty((3,), np.int64).shape
    (3,)
    """
    a = np.empty(shape, dtype)  # (untouched, a big one costs no page; small ones are common)
    nbytes = a.nbytes
    if nbytes < FRESH_MIN_BYTES:
        return a
    shape, dtype = a.shape, a.dtype
    del a
    plan = memplan.LOCAL.plan
    piece = None if plan is None else plan.take(nbytes)
    if piece is None:
        piece = aligned_bytes(nbytes)
    return piece.view(dtype).reshape(shape)


def aligned_bytes(nbytes):
    """`fresh_empty`'s memory, whatever plan is running: ``nbytes`` uint8 from a 2 MB
    boundary (plain ``np.empty`` off Linux)."""
    if _MADVISE is None:
        return np.empty(nbytes, np.uint8)
    rest = nbytes % HUGE_PAGE
    span = nbytes + (HUGE_PAGE - rest if 2 * rest > HUGE_PAGE else 0)
    raw = np.empty(span + HUGE_PAGE, np.uint8)
    start = -raw.ctypes.data % HUGE_PAGE
    _MADVISE(raw.ctypes.data + start, span)
    return raw[start:start + nbytes]


def _refs(blocks, j):
    return sys.getrefcount(blocks[j])


_ONLY_WORKSPACE = _refs([np.empty(0)], 0)  # what `_refs` sees when only the list holds it


class Workspace:
    """A pool of memory blocks for big arrays.

    Parameters
    ----------
    min_bytes : int
        Smaller arrays are plain ``np.empty`` (malloc serves them from memory it keeps).
    max_blocks : int
        At most this many blocks are kept; further requests while all are in use get arrays
        that are not kept.

    Examples
    --------
    >>> ws = Workspace(min_bytes=0)
    >>> a = ws.empty((2, 3), np.float32)
    >>> ws.empty((2, 3), np.float32).base is a.base  # still held by `a`
    False
    >>> del a
    >>> b = ws.empty((6,), np.float32)  # a kept block again, under another shape
    >>> b.shape, b.dtype, ws.nbytes()  # two blocks of 24 bytes
    ((6,), dtype('float32'), 48)
    """

    def __init__(self, min_bytes=1 << 20, max_blocks=64):
        self.min_bytes = min_bytes
        self.max_blocks = max_blocks
        self._blocks = []  # uint8 arrays

    def empty(self, shape, dtype):
        """An uninitialised array of `shape` and `dtype`, in a kept block when one is free."""
        dtype = np.dtype(dtype)
        shape = tuple(shape)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.min_bytes:
            return np.empty(shape, dtype)
        plan = memplan.LOCAL.plan
        if plan is not None:  # within a function call: where its plan puts it
            piece = plan.take(nbytes)
            if piece is not None:
                return piece.view(dtype).reshape(shape)
        blocks, best = self._blocks, -1
        for j in range(len(blocks)):
            size = blocks[j].size
            if nbytes <= size <= 2 * nbytes and (best < 0 or size < blocks[best].size) \
                    and _refs(blocks, j) == _ONLY_WORKSPACE:
                best = j
        if best >= 0:
            block = blocks[best]
        else:
            block = np.empty(nbytes, np.uint8)
            if len(blocks) < self.max_blocks:
                blocks.append(block)
        return block[:nbytes].view(dtype).reshape(shape)

    def clear(self):
        """Forget every kept block (memory returns once the callers drop their arrays)."""
        self._blocks.clear()

    def nbytes(self):
        """Bytes of the blocks kept."""
        return sum(b.size for b in self._blocks)


SHARED = Workspace()  # the GRU kernels' and minigraph's fused kernels' arrays
