"""``theano.tensor.xlogx``: ``x log x`` and ``x log y`` with the limit 0 at ``x = 0``.

Both are compositions: ``switch`` picks 0 where ``x == 0`` and the log's argument is made
safe there, so neither the value nor the gradient becomes NaN at the boundary.
"""

from . import math as M
from .basic import as_tensor_variable


def xlogx(x):
    """``x * log(x)``, and 0 where ``x == 0`` (its limit).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.xlogx.xlogx(x).eval({x: np.array([0.0, 1.0])}).tolist()
    [0.0, 0.0]
    """
    x = as_tensor_variable(x)
    zero = M.eq(x, 0)
    return M.switch(zero, M.zeros_like(x), x * M.log(M.switch(zero, M.ones_like(x), x)))


def xlogy0(x, y):
    """``x * log(y)``, and 0 where ``x == 0`` whatever ``y`` is.

    >>> import minigraph.tensor as T, numpy as np
    >>> x, y = T.dvectors("x", "y")
    >>> T.xlogx.xlogy0(x, y).eval({x: np.array([0.0, 2.0]), y: np.array([0.0, 1.0])}).tolist()
    [0.0, 0.0]
    """
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    zero = M.eq(x, 0)
    safe_y = M.switch(zero, M.ones_like(y), y)
    return M.switch(zero, M.zeros_like(x * y), x * M.log(safe_y))
