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
"""

import math
import sys

import numpy as np

__all__ = ["Workspace", "SHARED"]


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
