"""Shared tensors: ``theano.shared(np.zeros(3))`` makes a :class:`TensorSharedVariable`.

:func:`tensor_constructor` is registered with ``compile/sharedvalue.py``'s
``shared_constructor`` when ``minigraph.tensor`` is imported, as in Theano, so the compile
layer makes tensor shared variables without importing the tensor layer.
"""

import numpy as np

from minigraph.compile.sharedvalue import SharedVariable, shared_constructor
from minigraph.graph.basic import with_user_line
from minigraph.graph.type import TensorType

from .var import _TensorMethods

_ARRAY_LIKE = (np.ndarray, np.generic, int, float, bool, complex, list, tuple)


class TensorSharedVariable(_TensorMethods, SharedVariable):
    """A shared n-d array (``theano.shared(np.zeros(3))``): operators like a tensor."""


@shared_constructor
def tensor_constructor(value, name=None, borrow=False, strict=False, allow_downcast=None,
                       broadcastable=None, shape=None):
    """A :class:`TensorSharedVariable` for an array, a number or a nested list (else None).

    No dimension is broadcastable unless ``broadcastable`` or ``shape`` says so, so the value
    may change shape on ``set_value`` (Theano's rule).

    Examples
    --------
    >>> v = tensor_constructor(np.zeros((2, 3), np.float32), name="v")
    >>> type(v).__name__, v.type.short()
    ('TensorSharedVariable', 'float32[?,?]')
    >>> tensor_constructor(object()) is None
    True
    """
    if not isinstance(value, _ARRAY_LIKE):
        return None
    try:
        arr = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise TypeError(with_user_line(f"shared(): cannot make an array: {e}")) from None
    if arr.dtype == object:
        raise TypeError(with_user_line(f"shared(): cannot make an array from "
                                       f"{type(value).__name__}"))
    if not borrow or arr is not value:
        arr = arr.copy()
    if shape is None:
        shape = (tuple(1 if b else None for b in broadcastable) if broadcastable is not None
                 else (None,) * arr.ndim)
    ttype = TensorType(arr.dtype.name, shape=shape)
    arr = ttype.filter(arr, what=f"shared variable {name or ''}")
    return TensorSharedVariable(ttype, arr, name=name)
