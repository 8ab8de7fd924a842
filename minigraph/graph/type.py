"""Types of variables: :class:`TensorType` (dtype + static shape) and :class:`GenericType`.

A static shape has an int per known dimension and ``None`` per unknown one; a dimension of
known size 1 is *broadcastable* (Theano's broadcast pattern). ``filter`` checks and converts
a run-time value and produces the clear call-time errors.

A type makes its own variables and constants (:meth:`Type.make_variable`,
:meth:`Type.make_constant`) through the classes it names in ``Variable`` and ``Constant``.
``minigraph.tensor`` sets ``TensorType.Variable = TensorVariable`` (the class with the
operator methods) when it is imported, so this layer does not import the tensor layer
(``docs/architecture.md``, "Layers").
"""

import numpy as np

from .basic import Constant, UserLineError, Variable

#: dtypes minigraph tensors may have, with Theano's short prefixes
DTYPE_PREFIX = {
    "b": "int8", "w": "int16", "i": "int32", "l": "int64",
    "f": "float32", "d": "float64", "c": "complex64", "z": "complex128",
}
ALL_DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
)


class InputTypeError(UserLineError, TypeError):
    """A value or variable of the wrong type (dtype, rank or shape); names the user's line."""


class Type:
    """Base class of variable types."""

    #: class of this type's variables and constants (a layer above may set richer ones)
    Variable = Variable
    Constant = Constant

    def make_variable(self, name=None):
        """A new symbolic variable of this type."""
        return self.Variable(self, name=name)

    def make_constant(self, value, name=None):
        """A constant of this type holding ``value`` (used by constant folding)."""
        return self.Constant(self, value, name=name)

    def __call__(self, name=None):
        return self.make_variable(name)

    def filter(self, value, strict=False, allow_downcast=None):
        return value

    def is_super(self, other):
        return self == other


class GenericType(Type):
    """Holds any Python object (random generators, slices)."""

    def __init__(self, kind="object"):
        self.kind = kind

    def __eq__(self, other):
        return type(self) is type(other) and self.kind == other.kind

    def __hash__(self):
        return hash((GenericType, self.kind))

    def __str__(self):
        return self.kind

    def __repr__(self):
        return f"GenericType({self.kind!r})"


def _as_shape(broadcastable, shape):
    if shape is not None:
        return tuple(None if s is None else int(s) for s in shape)
    if broadcastable is None:
        raise ValueError("TensorType needs a broadcast pattern or a shape")
    items = tuple(broadcastable)
    if all(isinstance(b, (bool, np.bool_)) for b in items):
        return tuple(1 if b else None for b in items)
    # ints and Nones: a static shape given positionally
    return tuple(None if s is None else int(s) for s in items)


class TensorType(Type):
    """An n-dimensional array type.

    Parameters
    ----------
    dtype : str
        NumPy dtype name, e.g. ``'float32'``.
    broadcastable : sequence of bool, optional
        Theano's broadcast pattern (``True`` = dimension of size 1). A sequence of ints/``None``
        is read as a static shape.
    shape : sequence of int or None, optional
        Static shape; ``None`` marks an unknown dimension.

    Examples
    --------
    >>> fmat = TensorType("float32", (False, False))
    >>> x = fmat("x")
    >>> x.ndim, x.dtype
    (2, 'float32')
    """

    def __init__(self, dtype, broadcastable=None, shape=None):
        dtype = str(np.dtype(dtype))
        if dtype not in ALL_DTYPES:
            raise InputTypeError(f"unsupported dtype {dtype!r}; use one of {ALL_DTYPES}")
        self.dtype = dtype
        self.shape = _as_shape(broadcastable, shape)
        for s in self.shape:
            if s is not None and s < 0:
                raise ValueError(f"negative dimension in static shape {self.shape}")

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def broadcastable(self):
        return tuple(s == 1 for s in self.shape)

    def clone(self, dtype=None, shape=None):
        return TensorType(dtype or self.dtype, shape=self.shape if shape is None else shape)

    def __eq__(self, other):
        return type(other) is TensorType and self.dtype == other.dtype and self.shape == other.shape

    def __hash__(self):
        return hash((TensorType, self.dtype, self.shape))

    def __str__(self):
        return f"TensorType({self.dtype}, shape={self.shape})"

    __repr__ = __str__

    def short(self):
        """``float32[200,?]`` style text for printouts."""
        dims = ",".join("?" if s is None else str(s) for s in self.shape)
        return f"{self.dtype}[{dims}]"

    def make_constant(self, value, name=None):
        """A constant of this type: ``value`` as a read-only, contiguous array of its dtype.

        Examples
        --------
        >>> c = TensorType("float32", shape=(2,)).make_constant([1, 2])
        >>> c.data.dtype, c.data.flags.writeable
        (dtype('float32'), False)
        """
        arr = np.asarray(value, dtype=self.dtype)
        arr = np.ascontiguousarray(arr) if arr.ndim else arr
        arr.setflags(write=False)
        return self.Constant(self, arr, name=name)

    def is_super(self, other):
        """True when every value of ``other`` is a value of ``self``."""
        if not isinstance(other, TensorType) or other.dtype != self.dtype:
            return False
        if other.ndim != self.ndim:
            return False
        return all(a is None or a == b for a, b in zip(self.shape, other.shape))

    def filter(self, value, strict=False, allow_downcast=None, what="value"):
        """Check ``value`` against this type and convert it (copy-free when it already fits).

        Raises ``TypeError`` naming ``what``, the expected and the given dtype/ndim/shape.
        """
        if type(value) is np.ndarray and value.dtype.name == self.dtype:
            arr = value
        else:
            arr = self._convert(value, strict, allow_downcast, what)
        if arr.ndim != len(self.shape):
            raise InputTypeError(
                f"{what}: expected a {self.ndim}-d array ({self.short()}), "
                f"got {arr.ndim}-d with shape {arr.shape}"
            )
        for i, (s, n) in enumerate(zip(self.shape, arr.shape)):
            if s is not None and s != n:
                raise InputTypeError(
                    f"{what}: expected shape {self.short()}, got {arr.shape} (dimension {i} "
                    f"must be {s}{' (broadcastable)' if s == 1 else ''})"
                )
        return arr

    def _convert(self, value, strict, allow_downcast, what):
        if strict:
            got = getattr(value, "dtype", type(value).__name__)
            raise InputTypeError(f"{what}: expected dtype {self.dtype} (strict), got {got}")
        try:
            arr = np.asarray(value)
        except ValueError as e:  # ragged nested lists
            raise InputTypeError(f"{what}: cannot make an array of it: {e}") from None
        if arr.dtype.name == self.dtype:
            return arr
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise InputTypeError(f"{what}: cannot convert {type(value).__name__} to {self.dtype}")
        target = np.dtype(self.dtype)
        safe = np.can_cast(arr.dtype, target, "safe")
        # NumPy scalars (np.float64 subclasses float) are not Python numbers here, as in Theano
        python_scalar = isinstance(value, (int, float, bool, list, tuple)) \
            and not isinstance(value, np.generic)
        if safe:
            return arr.astype(target)
        if allow_downcast or (allow_downcast is None and python_scalar and target.kind in "fc"):
            # Theano allows Python floats/lists into floatX inputs; check ints fit exactly.
            out = arr.astype(target)
            return out
        if python_scalar and target.kind in "iu" and arr.dtype.kind in "iub":
            out = arr.astype(target)
            if np.array_equal(out, arr):
                return out
        raise InputTypeError(
            f"{what}: expected dtype {self.dtype}, got {arr.dtype}; casting would lose "
            f"precision. Pass a {self.dtype} array (e.g. x.astype('{self.dtype}')) or compile "
            f"with allow_input_downcast=True"
        )

    def value_zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)
