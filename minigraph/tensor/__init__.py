"""``import minigraph.tensor as T``: symbolic tensors and every tensor operation.

Constructors (``T.matrix``, ``T.fvector``, ...), elementwise math, reductions, shape ops,
indexing, linear algebra, ``T.nnet`` and ``T.grad`` are all reachable from here, with
Theano's names.
"""

from minigraph.gradient import grad  # noqa: F401  (theano.grad, also T.grad)
from minigraph.graph.type import TensorType  # noqa: F401

from . import extra_ops, nnet  # noqa: F401
from .basic import *  # noqa: F401,F403
from .basic import as_tensor_variable, constant, tensor  # noqa: F401
from .blas import Dot, batched_dot, dot, outer, tensordot  # noqa: F401
from .elemwise import DimShuffle, Elemwise, dimshuffle  # noqa: F401
from .math import *  # noqa: F401,F403
from .math import (abs, abs_, and_, cast, clip, eq, ge, gt, le, lt, maximum, minimum, neq,  # noqa
                   or_, pow, relu, round, switch, where, xor)
from .reduce import argmax, argmin, max, mean, min, prod, std, sum, var  # noqa: F401
from .shape import (alloc, arange, concatenate, eye, flatten, join, ones, reshape, shape,  # noqa
                    specify_shape, stack, transpose, zeros)
from .subtensor import inc_subtensor, set_subtensor  # noqa: F401
from .var import TensorConstant, TensorVariable  # noqa: F401
from .sharedvar import TensorSharedVariable  # noqa: F401  (registers shared()'s constructor)
from . import shared_randomstreams  # noqa: F401,E402
from minigraph.gradient import Lop, Rop  # noqa: F401,E402
from . import signal  # noqa: F401,E402  (T.signal.pool.pool_2d, as theano.tensor.signal)
# Theano names added for issue 15 (names branch): one block, kept together
from . import nlinalg, slinalg  # noqa: F401,E402
from .arrange import (advanced_inc_subtensor1, advanced_set_subtensor1, flatnonzero,  # noqa
                      horizontal_stack, nonzero, nonzero_values, ptp, roll, shape_padaxis,
                      split, stacklists, swapaxes, take, tile, vertical_stack)
from . import xlogx  # noqa: F401,E402
from .constant_value import (NotScalarConstantError, extract_constant,  # noqa: F401,E402
                             get_scalar_constant_value)
from .shape import identity_like  # noqa: F401,E402
from .extra_ops import cumprod, cumsum, diff, fill_diagonal, repeat, squeeze  # noqa: F401,E402
from .math import erf, erfc, inv, iround, isinf, isnan, largest, log2, log10  # noqa
from .math import smallest  # noqa: F401,E402
from .nlinalg import diag, diagonal, trace  # noqa: F401,E402
from .reduce import all, any, max_and_argmax  # noqa: F401,E402
from .sort import argsort, sort  # noqa: F401,E402
from minigraph.gradient import consider_constant, hessian, jacobian  # noqa: F401,E402


def addbroadcast(x, *axes):
    """Mark dimensions of ``x`` as broadcastable (they must have size 1 at run time)."""
    x = as_tensor_variable(x)
    shp = list(x.type.shape)
    for a in axes:
        shp[a] = 1
    return specify_shape(x, shp)


def unbroadcast(x, *axes):
    """Accepted for Theano compatibility: dimensions are not broadcastable unless known 1."""
    return as_tensor_variable(x)


def patternbroadcast(x, broadcastable):
    """Give ``x`` the broadcast pattern ``broadcastable`` (checked at run time)."""
    x = as_tensor_variable(x)
    return specify_shape(x, [1 if b else (s if s != 1 else None)
                             for b, s in zip(broadcastable, x.type.shape)])


def shape_padleft(x, n_ones=1):
    """Add ``n_ones`` broadcastable dimensions on the left."""
    x = as_tensor_variable(x)
    return x.dimshuffle(*(["x"] * n_ones + list(range(x.ndim))))


def shape_padright(x, n_ones=1):
    """Add ``n_ones`` broadcastable dimensions on the right."""
    x = as_tensor_variable(x)
    return x.dimshuffle(*(list(range(x.ndim)) + ["x"] * n_ones))

