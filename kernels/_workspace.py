"""Big arrays kept between calls and handed out again once nobody else holds them.

A whole-sequence GRU call writes about 60 MB (T=30, B=200, H=512, float32) into fresh arrays;
fresh pages fault on first touch, which cost the forward about a tenth of its time (11 ms of
128 ms, 1 thread). A `Workspace` keeps the arrays it handed out; when the caller has dropped
every reference (views included: a view holds its base), ``sys.getrefcount`` shows only the
workspace's own, and the next request of the same shape and dtype gets the array back, its
pages already mapped. An array still in use is never handed out twice.
"""

import sys

import numpy as np

__all__ = ["Workspace"]


def _refs(bufs, j):
    return sys.getrefcount(bufs[j])


_ONLY_WORKSPACE = _refs([np.empty(0)], 0)  # what `_refs` sees when only the list holds it


class Workspace:
    """A pool of arrays keyed by shape and dtype.

    Parameters
    ----------
    keep : int
        At most this many arrays are kept per shape and dtype; further requests while all
        are in use get arrays that are not kept.

    Examples
    --------
    >>> ws = Workspace()
    >>> a = ws.empty((2, 3), np.float32)
    >>> ws.empty((2, 3), np.float32) is a  # still held by `a`
    False
    >>> del a
    >>> b = ws.empty((2, 3), np.float32)
    >>> b.shape, b.dtype
    ((2, 3), dtype('float32'))
    """

    def __init__(self, keep=32):
        self.keep = keep
        self._bufs = {}

    def empty(self, shape, dtype):
        """An uninitialised array of `shape` and `dtype`, reused when one is free."""
        bufs = self._bufs.setdefault((tuple(shape), np.dtype(dtype)), [])
        for j in range(len(bufs)):
            if _refs(bufs, j) == _ONLY_WORKSPACE:
                return bufs[j]
        buf = np.empty(shape, dtype)
        if len(bufs) < self.keep:
            bufs.append(buf)
        return buf

    def clear(self):
        """Forget every kept array (memory returns once the callers drop theirs)."""
        self._bufs.clear()

    def nbytes(self):
        """Bytes of the arrays kept."""
        return sum(b.nbytes for bufs in self._bufs.values() for b in bufs)
