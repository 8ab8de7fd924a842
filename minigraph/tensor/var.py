"""Tensor variables: Python operators, properties and methods on symbolic arrays.

``TensorVariable`` is what users hold (``x + y``, ``x.T``, ``x.sum(axis=0)``, ``x[i:j]``).
The methods only build graph nodes; the math lives in the op modules. As in Theano,
``==`` keeps Python identity (variables are dict keys); use ``T.eq`` elementwise.

The methods import the op modules when called: every op module imports this one (through
``tensor/basic.py``), so those imports cannot sit at the top.
"""

from minigraph.graph.basic import Constant, Variable, with_user_line
from minigraph.graph.type import TensorType


_COMPARISONS = {"lt": "x < y", "le": "x <= y", "gt": "x > y", "ge": "x >= y",
                "eq": "T.eq(x, y)", "neq": "T.neq(x, y)"}


class _TensorMethods:
    """Operators and methods shared by tensor variables, constants and shared variables."""

    # Python's protocol attributes ------------------------------------------------------
    __array_priority__ = 1000  # numpy_array + var -> var.__radd__

    def __bool__(self):
        # As in Theano: ``if W:`` / ``if not W:`` test whether an optional argument was given,
        # so a variable is truthy; only a comparison's result refuses, since ``if x < y:`` (or
        # ``a < b < c``, which Python evaluates with ``and``) cannot mean what it says.
        node = self.owner
        op = getattr(node.op, "scalar_op", None) if node is not None else None
        if getattr(op, "name", None) in _COMPARISONS:
            raise TypeError(with_user_line(
                f"the truth value of a symbolic comparison ({self.describe()}: "
                f"{_COMPARISONS[op.name]}) is unknown until the function runs; choose "
                "symbolically with T.switch(cond, a, b) (Theano's ifelse), or compare "
                "numbers, not variables, in Python"
            ))
        return True

    def __iter__(self):
        raise TypeError(with_user_line(
            f"cannot iterate over symbolic variable {self.describe()}; "
            "use scan, or index with x[i]"
        ))

    def __len__(self):
        raise TypeError(with_user_line(
            f"len() of symbolic variable {self.describe()}; use x.shape[0]"))

    __hash__ = Variable.__hash__

    # properties ---------------------------------------------------------------------------
    @property
    def dtype(self):
        return self.type.dtype

    @property
    def ndim(self):
        return self.type.ndim

    @property
    def broadcastable(self):
        return self.type.broadcastable

    @property
    def shape(self):
        # not ``from . import shape``: the package attribute ``shape`` is the function T.shape
        from .shape import shape  # cycle: see the module docstring

        return shape(self)

    @property
    def size(self):
        from . import math  # cycle: see the module docstring

        return math.prod_of_shape(self)

    @property
    def T(self):
        return self.transpose()

    # arithmetic -----------------------------------------------------------------------------
    def __add__(self, other):
        return _m().add(self, other)

    def __radd__(self, other):
        return _m().add(other, self)

    def __sub__(self, other):
        return _m().sub(self, other)

    def __rsub__(self, other):
        return _m().sub(other, self)

    def __mul__(self, other):
        return _m().mul(self, other)

    def __rmul__(self, other):
        return _m().mul(other, self)

    def __truediv__(self, other):
        return _m().true_div(self, other)

    def __rtruediv__(self, other):
        return _m().true_div(other, self)

    def __floordiv__(self, other):
        return _m().int_div(self, other)

    def __rfloordiv__(self, other):
        return _m().int_div(other, self)

    def __mod__(self, other):
        return _m().mod(self, other)

    def __rmod__(self, other):
        return _m().mod(other, self)

    def __pow__(self, other):
        return _m().pow(self, other)

    def __rpow__(self, other):
        return _m().pow(other, self)

    def __neg__(self):
        return _m().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _m().abs(self)

    def __matmul__(self, other):
        from . import blas  # cycle: see the module docstring

        return blas.dot(self, other)

    def __rmatmul__(self, other):
        from . import blas  # cycle: see the module docstring

        return blas.dot(other, self)

    # comparisons and logic (== and != stay identity, as in Theano) ---------------------------
    def __lt__(self, other):
        return _m().lt(self, other)

    def __le__(self, other):
        return _m().le(self, other)

    def __gt__(self, other):
        return _m().gt(self, other)

    def __ge__(self, other):
        return _m().ge(self, other)

    def __and__(self, other):
        return _m().and_(self, other)

    __rand__ = __and__

    def __or__(self, other):
        return _m().or_(self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return _m().xor(self, other)

    __rxor__ = __xor__

    def __invert__(self):
        return _m().invert(self)

    # indexing ---------------------------------------------------------------------------------
    def __getitem__(self, index):
        from . import subtensor  # cycle: see the module docstring

        return subtensor.getitem(self, index)

    # methods ------------------------------------------------------------------------------------
    def dimshuffle(self, *pattern):
        from .elemwise import dimshuffle  # cycle: see the module docstring

        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = tuple(pattern[0])
        return dimshuffle(self, pattern)

    def transpose(self, *axes):
        from .shape import transpose  # cycle: see the module docstring

        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        return transpose(self, axes or None)

    def reshape(self, shape, ndim=None):
        from .shape import reshape  # cycle: see the module docstring

        return reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1):
        from .shape import flatten  # cycle: see the module docstring

        return flatten(self, ndim)

    def astype(self, dtype):
        return _m().cast(self, dtype)

    def dot(self, other):
        from . import blas  # cycle: see the module docstring

        return blas.dot(self, other)

    def clip(self, a_min, a_max):
        return _m().clip(self, a_min, a_max)

    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        from . import reduce  # cycle: see the module docstring

        return reduce.sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        from . import reduce  # cycle: see the module docstring

        return reduce.mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        from . import reduce  # cycle: see the module docstring

        return reduce.prod(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        from . import reduce  # cycle: see the module docstring

        return reduce.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        from . import reduce  # cycle: see the module docstring

        return reduce.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        from . import reduce  # cycle: see the module docstring

        return reduce.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        from . import reduce  # cycle: see the module docstring

        return reduce.argmin(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        from . import reduce  # cycle: see the module docstring

        return reduce.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        from . import reduce  # cycle: see the module docstring

        return reduce.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def norm(self, L=2, axis=None):
        from . import reduce  # cycle: see the module docstring

        if L == 1:
            return reduce.sum(_m().abs(self), axis=axis)
        return _m().sqrt(reduce.sum(_m().sqr(self), axis=axis))

    def exp(self):
        return _m().exp(self)

    def log(self):
        return _m().log(self)


def _m():
    from . import math  # cycle: see the module docstring

    return math


class TensorVariable(_TensorMethods, Variable):
    """A symbolic n-d array (an input, or the result of an operation)."""

    def _repr_svg_(self):  # notebooks display the graph computing this variable
        from minigraph.pydot import repr_svg  # on first use: pydot imports the compiler

        return repr_svg(self)


class TensorConstant(_TensorMethods, Constant):
    """A constant n-d array (its value is ``.data``, also ``.value``)."""

    @property
    def value(self):
        return self.data

    def signature(self):
        return (self.type, self.data.shape, self.data.tobytes())


# the tensor layer gives its types their variable classes (graph/type.py names them)
TensorType.Variable = TensorVariable
TensorType.Constant = TensorConstant
