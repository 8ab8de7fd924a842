"""Shared variables: symbolic variables with a value that compiled functions read and update.

The value lives in a :class:`Container`; every function using the variable holds the same
container, so an update made by one function is seen by all. ``get_value``/``set_value``
copy unless ``borrow=True``, as in Theano.

:func:`shared` asks the constructors registered with :func:`shared_constructor` (newest
first) to make the variable, as Theano does; ``minigraph.tensor`` registers the one for
arrays and numbers (``tensor/sharedvar.py``), so this layer does not import the tensor layer.
A value no constructor takes becomes a generic shared variable.
"""

import copy

import numpy as np

from minigraph.graph.basic import Variable, user_line, with_user_line
from minigraph.graph.type import GenericType, TensorType

_CONSTRUCTORS = []


class Container:
    """A mutable cell holding one value (shared between compiled functions)."""

    __slots__ = ("value", "name")

    def __init__(self, value, name=None):
        self.value = value
        self.name = name


class SharedVariable(Variable):
    """A variable with a persistent value; see :func:`shared`."""

    def __init__(self, type, value, name=None):
        super().__init__(type, None, None, name)
        self.container = Container(value, name)
        self.default_update = None
        self.trace = user_line()

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value (a copy unless ``borrow=True``)."""
        v = self.container.value
        return v if borrow else _copy(v)

    def set_value(self, value, borrow=False):
        """Replace the value; it is checked against the variable's type."""
        what = f"set_value of shared variable {self.name or '<unnamed>'}"
        v = self.type.filter(value, what=what) if isinstance(self.type, TensorType) else value
        if not borrow and v is value:
            v = _copy(v)
        self.container.value = v

    @property
    def value(self):
        return self.get_value()

    def clone(self):
        return self  # a shared variable is its own identity

    def __str__(self):
        return self.name or f"<shared {self.type.short() if hasattr(self.type, 'short') else ''}>"


def _copy(v):
    return v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v)


def shared_constructor(fn):
    """Register ``fn(value, name, borrow, strict, allow_downcast, broadcastable, shape)`` as
    a maker of shared variables (usable as a decorator); it returns ``None`` for a value that
    is not its kind. The newest registered constructor is asked first.

    Examples
    --------
    >>> @shared_constructor
    ... def bytes_constructor(value, name=None, **kwargs):
    ...     if not isinstance(value, bytes):
    ...         return None
    ...     return SharedVariable(GenericType("bytes"), value, name=name)
    >>> str(shared(b"abc").type)
    'bytes'
    >>> _ = _CONSTRUCTORS.remove(bytes_constructor)
    """
    _CONSTRUCTORS.append(fn)
    return fn


def shared(value, name=None, borrow=False, strict=False, allow_downcast=None,
           broadcastable=None, shape=None):
    """Make a shared variable holding ``value``.

    Parameters
    ----------
    value : array-like, or any object (e.g. a random generator)
    name : str, optional
    borrow : bool
        Use ``value`` itself rather than a copy (later in-place changes are visible).
    broadcastable : tuple of bool, optional
        Dimensions of size 1 that may broadcast; by default none is broadcastable, so the
        value may change shape on ``set_value`` (Theano's rule). ``shape`` fixes a static
        shape instead.

    Examples
    --------
    >>> import numpy as np
    >>> W = shared(np.zeros((2, 3)), name="W")
    >>> W.get_value().shape
    (2, 3)
    """
    if isinstance(value, Variable):
        raise TypeError(with_user_line(f"shared() needs a value, got the symbolic variable "
                                       f"{value}"))
    for make in reversed(_CONSTRUCTORS):
        var = make(value, name=name, borrow=borrow, strict=strict, allow_downcast=allow_downcast,
                   broadcastable=broadcastable, shape=shape)
        if var is not None:
            return var
    return SharedVariable(GenericType(type(value).__name__), value, name=name)
