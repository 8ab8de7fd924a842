"""``theano.tensor.signal.downsample``: the old name of :mod:`minigraph.tensor.signal.pool`.

Theano 0.7's tutorials call ``downsample.max_pool_2d(input, ds, ignore_border=...)``; it is
``pool.pool_2d`` with the old argument names.
"""

from .pool import pool_2d

__all__ = ["max_pool_2d"]


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """``theano.tensor.signal.downsample.max_pool_2d``: :func:`pool.pool_2d` by its old name.

    >>> import numpy as np, minigraph, minigraph.tensor as T
    >>> x = T.matrix("x")
    >>> f = minigraph.function([x], max_pool_2d(x, (2, 2), ignore_border=False))
    >>> f(np.arange(9.0).reshape(3, 3))
    array([[4., 5.],
           [7., 8.]])
    """
    return pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode)
