"""Tensor constructors, constants, ``as_tensor_variable`` and Theano's dtype rules.

``T.matrix('x')``, the typed families (``fmatrix``, ``ivector``, ...), ``T.tensor(dtype,
shape)``, ``T.constant`` and the conversion every op applies to its inputs live here.
Python numbers are *weak*: ``fvector * 2.0`` stays float32, while ``ivector * 1.5`` becomes
``floatX``, as in Theano.
"""

import numbers

import numpy as np

from minigraph.config import config
from minigraph.graph.basic import Variable, GraphError
from minigraph.graph.type import DTYPE_PREFIX, TensorType

from .var import TensorConstant, TensorVariable


def _dtype(dtype):
    return config.floatX if dtype is None else str(np.dtype(dtype))


def tensor(dtype=None, shape=None, name=None, broadcastable=None):
    """A symbolic tensor input.

    Parameters
    ----------
    dtype : str, optional
        Defaults to ``config.floatX``.
    shape : tuple of int or None, optional
        Static shape (``None`` = unknown dimension); a tuple of bools is read as Theano's
        broadcast pattern.
    name : str, optional

    >>> x = tensor("float32", (None, 3), name="x")
    >>> x.type.short()
    'float32[?,3]'
    """
    if isinstance(dtype, (tuple, list)) and shape is None:
        dtype, shape = None, dtype  # T.tensor((None, 3)) convenience
    if broadcastable is not None:
        return TensorType(_dtype(dtype), broadcastable)(name)
    return TensorType(_dtype(dtype), shape if shape is not None else ())(name)


def _maker(ndim_pattern, fixed_dtype=None):
    def make(name=None, dtype=None, shape=None):
        dt = fixed_dtype or _dtype(dtype)
        if shape is None:
            shape = ndim_pattern
        elif len(shape) != len(ndim_pattern):
            raise ValueError(f"shape {shape} does not have {len(ndim_pattern)} dimensions")
        return TensorType(dt, shape=shape)(name)

    return make


_PATTERNS = {
    "scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
    "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4, "tensor5": (None,) * 5,
}
for _kind, _pat in _PATTERNS.items():
    globals()[_kind] = _maker(_pat)
    for _prefix, _dt in DTYPE_PREFIX.items():
        globals()[_prefix + _kind] = _maker(_pat, _dt)
    globals()[_kind].__doc__ = (
        f"A symbolic {_kind} (static shape {_pat}) of dtype ``dtype`` (default floatX)."
    )


def _plural(make, kind):
    """Theano's plural constructor for ``make`` (``dmatrices`` for ``dmatrix``)."""

    def make_many(*names):
        if len(names) == 1 and isinstance(names[0], numbers.Integral):
            return [make() for _ in range(names[0])]  # dmatrices(3): three unnamed
        if len(names) == 1 and isinstance(names[0], str):
            text = names[0]
            if "," in text or " " in text:  # dmatrices("x, y"): a convenience beyond Theano
                names = [n for n in text.replace(",", " ").split() if n]
            elif len(text) == 1:
                return make(text)  # one name: the variable itself, not a list (as Theano)
            else:
                names = list(text)  # Theano's rule: dmatrices("xy") names them x and y
        return [make(n) for n in names]

    make_many.__name__ = plural = _PLURALS.get(kind, kind + "s")
    make_many.__doc__ = (
        f"Several symbolic {plural}: ``f(3)`` (unnamed), ``f('x', 'y')``, ``f('xy')``, or "
        f"``f('x, y')``; one name gives one variable, several give a list."
    )
    return make_many


_PLURALS = {"matrix": "matrices"}
for _kind in _PATTERNS:
    for _prefix in ("",) + tuple(DTYPE_PREFIX):
        _one = globals()[_prefix + _kind]
        globals()[_prefix + _PLURALS.get(_kind, _kind + "s")] = _plural(_one, _kind)


def _weak_dtype(value):
    """dtype a bare Python number takes when nothing else decides it."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int64"
    if isinstance(value, numbers.Real):
        return config.floatX
    if isinstance(value, numbers.Complex):
        return "complex128"
    return None


def constant(value, name=None, dtype=None, type=None):
    """A ``TensorConstant`` holding ``value`` (array-like); Python floats become floatX."""
    if isinstance(value, Variable):
        raise GraphError(f"T.constant got a symbolic variable {value}; it needs a value")
    if dtype is None:
        if isinstance(value, (numbers.Number, np.bool_)) and not isinstance(value, np.generic):
            dtype = _weak_dtype(value)
        elif isinstance(value, (list, tuple)):
            arr = np.asarray(value)
            dtype = config.floatX if arr.dtype == np.float64 else arr.dtype
    arr = np.asarray(value, dtype=dtype)
    if arr.dtype == object:
        raise GraphError(f"cannot make a tensor constant from {value!r}")
    arr = np.ascontiguousarray(arr) if arr.ndim else arr
    arr.setflags(write=False)
    ttype = type or TensorType(arr.dtype.name, shape=arr.shape)
    return TensorConstant(ttype, arr, name=name)


def as_tensor_variable(x, name=None, ndim=None, dtype=None):
    """Return ``x`` as a tensor variable: variables pass through, values become constants."""
    if isinstance(x, TensorVariable) or (
        isinstance(x, Variable) and isinstance(x.type, TensorType)
    ):
        var = x
    elif isinstance(x, Variable):
        raise GraphError(f"{x} of type {x.type} is not a tensor")
    else:
        if isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in x):
            from .shape import stack  # cycle: shape.py imports this module

            var = stack([as_tensor_variable(e) for e in x])
        else:
            try:
                var = constant(x, name=name, dtype=dtype)
            except (TypeError, ValueError) as e:
                raise GraphError(f"cannot convert {x!r} to a tensor: {e}") from None
    if ndim is not None and var.ndim != ndim:
        raise GraphError(f"expected a {ndim}-d tensor, got {var.ndim}-d {var.describe()}")
    return var


def is_weak(x):
    """True for a bare Python number (its dtype yields to the other operands')."""
    return isinstance(x, numbers.Number) and not isinstance(x, np.generic)


def upcast(*dtypes):
    """Theano's upcasting: NumPy's promotion of the dtypes given."""
    return np.result_type(*[np.dtype(d) for d in dtypes]).name


def as_tensors_for_elemwise(args, arithmetic=False):
    """Convert operands, giving Python numbers the dtype the strong operands ask for.

    With ``arithmetic`` (ops whose result dtype is the operands' upcast), a Python float
    meeting only integer tensors of up to 32 bits makes them floatX first, so that
    ``ivector * 1.5`` is floatX (NumPy's int32 + float32 alone would give float64).
    """
    strong = [a for a in args if not is_weak(a)]
    strong_vars = [as_tensor_variable(a) for a in strong]
    strong_dtypes = [v.dtype for v in strong_vars]
    if arithmetic and _float_meets_small_ints(args, strong_dtypes):
        from .math import cast  # cycle: math.py imports this module

        strong_vars = [cast(v, config.floatX) for v in strong_vars]
        strong_dtypes = [config.floatX] * len(strong_vars)
    out, it = [], iter(strong_vars)
    for a in args:
        if not is_weak(a):
            out.append(next(it))
            continue
        out.append(constant(a, dtype=_weak_for(a, strong_dtypes)))
    return out


def _float_meets_small_ints(args, strong_dtypes):
    has_float = any(isinstance(a, numbers.Real) and not isinstance(a, numbers.Integral)
                    for a in args if is_weak(a))
    small_ints = all(np.dtype(d).kind in "biu" and np.dtype(d).itemsize <= 4
                     for d in strong_dtypes)
    return has_float and bool(strong_dtypes) and small_ints and config.floatX != "float64"


def _weak_for(value, strong_dtypes):
    if not strong_dtypes:
        return _weak_dtype(value)
    kinds = {np.dtype(d).kind for d in strong_dtypes}
    target = upcast(*strong_dtypes)
    if isinstance(value, (bool, np.bool_)):
        return target
    if isinstance(value, numbers.Integral):
        if kinds <= {"b"}:
            return "int64" if not -128 <= value < 128 else "int8"
        if np.dtype(target).kind in "iu":
            info = np.iinfo(target)
            if not info.min <= value <= info.max:
                # as Theano: the smallest signed int holding the value, upcast with the rest
                fits = next((d for d in ("int8", "int16", "int32") if
                             np.iinfo(d).min <= value <= np.iinfo(d).max), "int64")
                return upcast(target, fits)
        return target
    if isinstance(value, numbers.Real):
        if np.dtype(target).kind in "fc":
            return target
        return config.floatX
    return "complex128"
