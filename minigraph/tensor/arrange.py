"""Rearranging, stacking and locating entries: ``tile roll shape_padaxis vertical_stack
horizontal_stack stacklists nonzero advanced_inc_subtensor1 advanced_set_subtensor1``.

Theano keeps these in its large ``tensor/basic.py``. Here each is composed from the shape,
indexing and broadcasting ops, so their gradients come from those ops' gradients; only
``nonzero`` (whose output length depends on the values) is an op of its own.
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError, Variable, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable
from .reduce import max as _max
from .reduce import min as _min
from .reduce import sum as _sum
from .shape import alloc, concatenate, flatten, reshape, stack
from .subtensor import inc_subtensor, set_subtensor


def shape_padaxis(t, axis):
    """``t`` with a new broadcastable dimension inserted at position ``axis``.

    ``axis`` counts in the result, so ``-1`` appends, as ``numpy.expand_dims``.

    >>> import minigraph.tensor as T
    >>> T.shape_padaxis(T.dmatrix("x"), 1).type.shape
    (None, 1, None)
    """
    t = as_tensor_variable(t)
    if not -t.ndim - 1 <= axis <= t.ndim:
        raise GraphError(f"shape_padaxis: axis {axis} is out of range for the {t.ndim}-d "
                         f"{t.describe()}{where(t)}")
    axis %= t.ndim + 1
    pattern = list(range(t.ndim))
    pattern.insert(axis, "x")
    return t.dimshuffle(*pattern)


def _reps_list(reps, ndim):
    if isinstance(reps, Variable) and reps.ndim == 1:
        n = reps.type.shape[0] if reps.type.shape[0] is not None else ndim
        if n is None:
            raise GraphError("tile: a symbolic reps vector needs ndim= (or a known length)")
        return [reps[i] for i in range(n)]
    if isinstance(reps, (int, np.integer)) or (isinstance(reps, Variable) and reps.ndim == 0):
        return [reps]
    return list(reps)


def tile(x, reps, ndim=None):
    """``x`` repeated ``reps[d]`` times along each dimension ``d`` (``numpy.tile``).

    ``reps`` is a list of ints or int scalars (or an int vector, with ``ndim``); when it is
    shorter than ``x.ndim`` it is padded with ones on the left, when longer ``x`` gains
    leading dimensions. The gradient sums the copies.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.tile(x, (2, 2)).eval({x: np.array([1.0, 2.0])}).tolist()
    [[1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0]]
    """
    x = as_tensor_variable(x)
    reps = _reps_list(reps, ndim)
    nd = max(x.ndim, len(reps), ndim or 0)
    if ndim is not None and ndim != nd:
        raise GraphError(f"tile: ndim={ndim} but x is {x.ndim}-d and reps has {len(reps)} "
                         f"entries")
    reps = [1] * (nd - len(reps)) + reps
    x = x.dimshuffle(*(["x"] * (nd - x.ndim) + list(range(x.ndim))))
    # (n0, n1, ...) -> (1, n0, 1, n1, ...) -> broadcast to (r0, n0, r1, n1, ...) -> merge pairs
    spread = x.dimshuffle(*[p for d in range(nd) for p in ("x", d)])
    sizes = [x.type.shape[d] if x.type.shape[d] is not None else x.shape[d] for d in range(nd)]
    big = alloc(spread, *[v for d in range(nd) for v in (reps[d], sizes[d])])
    return reshape(big, [reps[d] * sizes[d] for d in range(nd)], ndim=nd)


def roll(x, shift, axis=None):
    """``x`` with entries shifted by ``shift`` positions along ``axis`` (``numpy.roll``).

    ``axis=None`` rolls the flattened array and restores the shape. ``shift`` may be a
    symbolic int scalar; entries pushed off one end come back at the other.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.roll(x, 1).eval({x: np.array([1.0, 2.0, 3.0])}).tolist()
    [3.0, 1.0, 2.0]
    """
    x = as_tensor_variable(x)
    if axis is None:
        if x.ndim <= 1:
            return roll(x, shift, 0) if x.ndim else x
        return reshape(roll(flatten(x), shift, 0), x.shape, ndim=x.ndim)
    if not -x.ndim <= axis < x.ndim:
        raise GraphError(f"roll: axis {axis} is out of range for the {x.ndim}-d "
                         f"{x.describe()}{where(x)}")
    axis %= x.ndim
    n = x.shape[axis]
    # the first n - s entries move to the end: roll = concat(x[n - s:], x[:n - s])
    cut = n - shift % n
    head = (slice(None),) * axis
    return concatenate([x[head + (slice(cut, None),)], x[head + (slice(None, cut),)]], axis)


def _check_2d(tensors, what):
    out = [as_tensor_variable(t) for t in tensors]
    for t in out:
        if t.ndim != 2:
            raise GraphError(f"{what} stacks matrices; got the {t.ndim}-d {t.describe()}"
                             f"{where(t)}")
    return out


def vertical_stack(*args):
    """Matrices joined one below the other (along axis 0), as Theano's ``vertical_stack``."""
    return concatenate(_check_2d(args, "vertical_stack"), axis=0)


def horizontal_stack(*args):
    """Matrices joined side by side (along axis 1), as Theano's ``horizontal_stack``."""
    return concatenate(_check_2d(args, "horizontal_stack"), axis=1)


def stacklists(arg):
    """A tensor from nested lists of scalars or tensors, stacked level by level.

    >>> import minigraph.tensor as T, numpy as np
    >>> a, b, c, d = T.dscalars("abcd")
    >>> T.stacklists([[a, b], [c, d]]).eval({a: 1, b: 2, c: 3, d: 4}).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    if isinstance(arg, (tuple, list)):
        return stack([stacklists(a) for a in arg])
    return as_tensor_variable(arg)


def advanced_inc_subtensor1(x, y, ilist):
    """``x`` with ``y`` added to the rows ``x[ilist]`` (repeated rows accumulate)."""
    return inc_subtensor(as_tensor_variable(x)[ilist], y)


def advanced_set_subtensor1(x, y, ilist):
    """``x`` with the rows ``x[ilist]`` replaced by ``y``."""
    return set_subtensor(as_tensor_variable(x)[ilist], y)


class Nonzero(Op):
    """The indices of the non-zero entries of ``a`` as an int64 matrix (one row per axis)."""

    def make_node(self, a):
        a = as_tensor_variable(a)
        if a.ndim == 0:
            raise GraphError(f"nonzero needs at least a vector, got a scalar{where(a)}")
        return Apply(self, [a], [TensorType("int64", shape=(a.ndim, None))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array(np.nonzero(inputs[0]), dtype="int64").reshape(
            inputs[0].ndim, -1)

    def grad(self, inputs, outputs, output_grads):
        return [None]


def nonzero(a, return_matrix=False):
    """Indices of the non-zero entries of ``a``: a tuple of int64 vectors, one per axis
    (``numpy.nonzero``), or with ``return_matrix=True`` one ``(a.ndim, n)`` matrix.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dmatrix("x")
    >>> rows, cols = T.nonzero(x)
    >>> cols.eval({x: np.array([[0.0, 2.0], [3.0, 0.0]])}).tolist()
    [1, 0]
    """
    m = Nonzero()(a)
    if return_matrix:
        return m
    return tuple(m[d] for d in range(m.type.shape[0]))


def flatnonzero(a):
    """Indices of the non-zero entries of the flattened ``a`` (``numpy.flatnonzero``)."""
    return nonzero(flatten(as_tensor_variable(a)))[0]


def nonzero_values(a):
    """The non-zero entries of the flattened ``a``, in order."""
    flat = flatten(as_tensor_variable(a))
    return flat[flatnonzero(flat)]


def swapaxes(y, axis1, axis2):
    """``y`` with dimensions ``axis1`` and ``axis2`` exchanged (``numpy.swapaxes``)."""
    y = as_tensor_variable(y)
    order = list(range(y.ndim))
    a1, a2 = axis1 % y.ndim, axis2 % y.ndim
    order[a1], order[a2] = order[a2], order[a1]
    return y.dimshuffle(*order)


def take(a, indices, axis=None, mode="raise"):
    """Entries of ``a`` at ``indices`` along ``axis`` (``None``: of the flattened ``a``), as
    ``numpy.take``; ``indices`` may be an int, an int vector or an int matrix.

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dmatrix("a")
    >>> T.take(a, [1, 0], axis=1).eval({a: np.array([[1.0, 2.0]])}).tolist()
    [[2.0, 1.0]]
    """
    if mode != "raise":
        raise GraphError(f"take: only mode='raise' is supported, got {mode!r}")
    a = as_tensor_variable(a)
    if axis is None:
        return flatten(a)[indices]
    if not -a.ndim <= axis < a.ndim:
        raise GraphError(f"take: axis {axis} is out of range for the {a.ndim}-d "
                         f"{a.describe()}{where(a)}")
    return a[(slice(None),) * (axis % a.ndim) + (indices,)]


def split(x, splits_size, n_splits, axis=0):
    """``x`` cut along ``axis`` into ``n_splits`` pieces of the lengths in ``splits_size``.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> [p.eval({x: np.arange(5.0)}).tolist() for p in T.split(x, [2, 3], 2)]
    [[0.0, 1.0], [2.0, 3.0, 4.0]]
    """
    x = as_tensor_variable(x)
    sizes = as_tensor_variable(splits_size)
    if sizes.ndim != 1:
        raise GraphError(f"split: splits_size must be a vector, got {sizes.type.short()}")
    if not -x.ndim <= axis < x.ndim:
        raise GraphError(f"split: axis {axis} is out of range for the {x.ndim}-d "
                         f"{x.describe()}{where(x)}")
    ends = [_sum(sizes[: i + 1]) for i in range(n_splits)]
    head = (slice(None),) * (axis % x.ndim)
    return [x[head + (slice(ends[i - 1] if i else 0, ends[i]),)] for i in range(n_splits)]


def ptp(a, axis=None):
    """Range of values (maximum minus minimum) along ``axis`` (``numpy.ptp``)."""
    return _max(a, axis=axis) - _min(a, axis=axis)
