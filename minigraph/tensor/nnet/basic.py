"""Neural-network ops: softmax, log_softmax, cross-entropies, one-hot, and the fused
softmax + cross-entropy op that the stabilisation rewrites introduce.

``softmax`` works on rows (the last axis); a vector is treated as a one-row matrix and
gives a ``(1, n)`` result, as in Theano.
"""

import numpy as np

from kernels import xent_cpu
from minigraph.config import config
from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .. import math as M
from ..basic import as_tensor_variable, upcast
from ..reduce import sum as _sum
from ..scalar import SCALAR_OPS
from ..shape import arange
from ..subtensor import inc_subtensor


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_log_softmax(x):
    s = x - x.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


class _RowOp(Op):
    """An op mapping a float tensor to one of the same type, over its last axis."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim < 1 or np.dtype(x.dtype).kind != "f":
            raise GraphError(f"{type(self).__name__.lower()} needs a float tensor with at least "
                             f"one dimension, got {x.type.short()} ({x.describe()}){where(x)}")
        return Apply(self, [x], [x.type()])

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class Softmax(_RowOp):
    """``exp(x) / sum(exp(x))`` over the last axis, computed stably."""

    def make_py_callable(self, node):
        return _np_softmax

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = _np_softmax(inputs[0])

    def grad(self, inputs, outputs, output_grads):
        # one op (not its formula) so the stabiliser can recognise the gradient of
        # log(softmax(x)) and of softmax + cross-entropy and replace it by a finite one
        return [SoftmaxGrad()(output_grads[0], outputs[0])]


class SoftmaxGrad(Op):
    """``(dy - sum(dy * sm, -1)) * sm``: the gradient of softmax given its output ``sm``."""

    def make_node(self, dy, sm):
        dy, sm = as_tensor_variable(dy), as_tensor_variable(sm)
        return Apply(self, [dy, sm], [sm.type()])

    def perform(self, node, inputs, output_storage):
        dy, sm = inputs
        g = (dy - (dy * sm).sum(axis=-1, keepdims=True)) * sm
        output_storage[0][0] = g.astype(node.outputs[0].dtype, copy=False)

    def grad(self, inputs, outputs, output_grads):
        dy, sm = inputs
        g = output_grads[0]
        g_sm = g * (dy - _sum(dy * sm, axis=-1, keepdims=True)) \
            - dy * _sum(g * sm, axis=-1, keepdims=True)
        return [SoftmaxGrad()(g, sm), g_sm]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]


class LogSoftmax(_RowOp):
    """``log(softmax(x))`` computed without overflow or log(0)."""

    def make_py_callable(self, node):
        return _np_log_softmax

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = _np_log_softmax(inputs[0])

    def grad(self, inputs, outputs, output_grads):
        out, gz = outputs[0], output_grads[0]
        return [gz - _sum(gz, axis=-1, keepdims=True) * M.exp(out)]


def _rows(x):
    x = as_tensor_variable(x)
    return x.dimshuffle("x", 0) if x.ndim == 1 else x


def softmax(x, axis=-1):
    """Row-wise softmax; a vector gives a (1, n) matrix as in Theano.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dmatrix("x")
    >>> np.round(T.nnet.softmax(x).eval({x: np.zeros((1, 2))}), 3).tolist()
    [[0.5, 0.5]]
    """
    if axis not in (-1, None) and axis != as_tensor_variable(x).ndim - 1:
        raise GraphError("softmax is over the last axis; transpose first")
    return Softmax()(_rows(x))


def log_softmax(x, axis=-1):
    """Row-wise ``log(softmax(x))``, stable for large inputs."""
    if axis not in (-1, None) and axis != as_tensor_variable(x).ndim - 1:
        raise GraphError("log_softmax is over the last axis; transpose first")
    return LogSoftmax()(_rows(x))


class CrossentropyCategorical1Hot(Op):
    """``-log(p[i, y[i]])`` for a matrix of probabilities and integer targets."""

    def make_node(self, p, y):
        p, y = as_tensor_variable(p), as_tensor_variable(y)
        _check_xent_args(p, y)
        return Apply(self, [p, y], [TensorType(p.dtype, shape=(p.type.shape[0],))()])

    def perform(self, node, inputs, output_storage):
        p, y = inputs
        _check_targets(p, y, node)
        output_storage[0][0] = -np.log(p[np.arange(len(y)), y])

    def grad(self, inputs, outputs, output_grads):
        p, y = inputs
        gz = output_grads[0]
        return [CrossentropyCategorical1HotGrad()(gz, p, y), None]


class CrossentropyCategorical1HotGrad(Op):
    """Gradient of :class:`CrossentropyCategorical1Hot` w.r.t. ``p`` (sparse in each row)."""

    def make_node(self, gz, p, y):
        gz, p, y = (as_tensor_variable(v) for v in (gz, p, y))
        return Apply(self, [gz, p, y], [p.type()])

    def perform(self, node, inputs, output_storage):
        gz, p, y = inputs
        g = np.zeros_like(p)
        rows = np.arange(len(y))
        g[rows, y] = -gz / p[rows, y]
        output_storage[0][0] = g

    def grad(self, inputs, outputs, output_grads):
        # second derivatives: only the entries p[i, y[i]] are involved
        gz, p, y = inputs
        rows = arange(y.shape[0])
        w, q = output_grads[0][rows, y], p[rows, y]
        g_p = inc_subtensor(M.zeros_like(p)[rows, y], w * gz / (q * q))
        return [-w / q, g_p, None]


class CrossentropySoftmax(Op):
    """``-log(softmax(x)[i, y[i]])`` in one stable op (what the stabiliser rewrites to)."""

    def make_node(self, x, y):
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        _check_xent_args(x, y)
        return Apply(self, [x, y], [TensorType(x.dtype, shape=(x.type.shape[0],))()])

    def perform(self, node, inputs, output_storage):
        x, y = inputs
        _check_targets(x, y, node)
        if xent_cpu.supported(x) and xent_cpu.ready(x.dtype):  # a pass a row (kernels/xent_cpu.py)
            output_storage[0][0] = xent_cpu.xent_softmax(x, y)
            return
        output_storage[0][0] = _np_xent_softmax(x, y)

    def grad(self, inputs, outputs, output_grads):
        x, y = inputs
        return [CrossentropySoftmaxGrad()(output_grads[0], x, y), None]


def _np_xent_softmax(x, y):
    """NumPy's ``-log(softmax(x)[i, y[i]])`` as kernels/xent_cpu.py computes it (it serves
    until that kernel is compiled): ``log1p`` of the other classes' sum, the row maximum's 1
    left out, so a confident row's tiny loss keeps its relative precision."""
    rows = np.arange(len(y))
    m = x.max(axis=1)
    e = np.exp(x - m[:, None])
    e[rows, np.argmax(x, axis=1)] = 0
    return (np.log1p(e.sum(axis=1)) + (m - x[rows, y])).astype(x.dtype, copy=False)


class CrossentropySoftmaxGrad(Op):
    """``(softmax(x) - onehot(y)) * gz[:, None]``."""

    def make_node(self, gz, x, y):
        gz, x, y = (as_tensor_variable(v) for v in (gz, x, y))
        return Apply(self, [gz, x, y], [x.type()])

    def perform(self, node, inputs, output_storage):
        gz, x, y = inputs
        if xent_cpu.supported(x) and np.ndim(gz) == 1 and len(gz) == len(x) and \
                xent_cpu.ready(x.dtype):
            _check_targets(x, y, node)  # the kernel indexes rows by y unchecked
            output_storage[0][0] = xent_cpu.xent_softmax_grad(gz, x, y)
            return
        g = _np_softmax(x)
        g[np.arange(len(y)), y] -= 1
        g *= gz[:, None]
        output_storage[0][0] = g

    def grad(self, inputs, outputs, output_grads):
        gz, x, y = inputs
        G = output_grads[0]
        sm = Softmax()(x)
        one_hot = inc_subtensor(M.zeros_like(x)[arange(y.shape[0]), y], 1.0)
        g_gz = _sum(G * (sm - one_hot), axis=1)
        return [g_gz, SoftmaxGrad()(G * gz.dimshuffle(0, "x"), sm), None]


def _check_xent_args(p, y):
    if p.ndim != 2:
        raise GraphError(f"categorical_crossentropy: predictions must be a matrix (rows of "
                         f"class probabilities), got {p.ndim}-d {p.describe()}{where(p)}")
    if y.ndim != 1 or np.dtype(y.dtype).kind not in "iu":
        raise GraphError(f"categorical_crossentropy: integer targets must be an int vector, "
                         f"got {y.type.short()} ({y.describe()}){where(y)}")


def _check_targets(p, y, node):
    if len(y) != p.shape[0]:
        raise ValueError(f"categorical_crossentropy: {p.shape[0]} rows of predictions but "
                         f"{len(y)} targets (node created at {node.trace})")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise IndexError(f"categorical_crossentropy: target {int(y.max())} out of range for "
                         f"{p.shape[1]} classes (node created at {node.trace})")


def categorical_crossentropy(coding_dist, true_dist):
    """Cross-entropy per row: ``true_dist`` is one-hot/probabilities (same shape as
    ``coding_dist``) or a vector of integer class indices."""
    p, t = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if t.ndim == p.ndim:
        return -_sum(t * M.log(p), axis=p.ndim - 1)
    return CrossentropyCategorical1Hot()(p, t)


def binary_crossentropy(output, target):
    """``-(target * log(output) + (1 - target) * log(1 - output))`` elementwise.

    When ``output`` is ``sigmoid(x)``, the equal form ``softplus(x) - target * x`` is built
    instead, so the value and its gradient stay finite for large ``|x|``.
    """
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    node = output.owner
    if node is not None and getattr(getattr(node.op, "scalar_op", None), "name", "") == "sigmoid":
        out = sigmoid_binary_crossentropy(node.inputs[0], target)
        want = upcast(output.dtype, target.dtype)  # what the general formula gives
        return out if out.dtype == want else M.cast(out, want)
    return -(target * M.log(output) + (1 - target) * M.log1p(-output))


def sigmoid_binary_crossentropy(logits, target):
    """Binary cross-entropy from logits, stable for large |logits|."""
    return M.softplus(logits) - target * logits


class OneHot(Op):
    """``to_one_hot(y, nb_class)``: rows of zeros with a one at each index."""

    __props__ = ("nb_class", "dtype")

    def __init__(self, nb_class, dtype):
        self.nb_class, self.dtype = int(nb_class), dtype

    def make_node(self, y):
        y = as_tensor_variable(y)
        if y.ndim != 1 or np.dtype(y.dtype).kind not in "iu":
            raise GraphError(f"to_one_hot needs an int vector, got {y.type.short()}{where(y)}")
        return Apply(self, [y], [TensorType(self.dtype, shape=(y.type.shape[0],
                                                                self.nb_class))()])

    def perform(self, node, inputs, output_storage):
        y = inputs[0]
        if len(y) and (y.min() < 0 or y.max() >= self.nb_class):
            raise IndexError(f"to_one_hot: index {int(y.max())} out of range for "
                             f"{self.nb_class} classes (node created at {node.trace})")
        out = np.zeros((len(y), self.nb_class), dtype=self.dtype)
        out[np.arange(len(y)), y] = 1
        output_storage[0][0] = out

    def grad(self, inputs, outputs, output_grads):
        return [None]


def to_one_hot(y, nb_class, dtype=None):
    """One-hot rows for the integer vector ``y`` (dtype defaults to floatX)."""
    return OneHot(nb_class, str(np.dtype(dtype or config.floatX)))(y)


sigmoid = M.sigmoid
softplus = M.softplus
relu = M.relu


def _as_float(x):
    """``x`` as a tensor of Theano's ``upgrade_to_float`` dtype (ints -> float32/float64)."""
    x = as_tensor_variable(x)
    out = SCALAR_OPS["sigmoid"].out_dtype([x.dtype])
    return x if x.dtype == out else M.cast(x, out)


def hard_sigmoid(x):
    """Theano's piecewise-linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``.

    0 below x = -2.5, 1 above 2.5, a straight line between; its gradient is 0.2 inside
    (-2.5, 2.5) and 0 outside. Cheaper and less exact than :func:`ultra_fast_sigmoid`.

    Examples
    --------
    >>> import minigraph.tensor as T
    >>> hard_sigmoid(T.constant([-3.0, -1.0, 0.0, 1.0, 3.0])).eval().round(6).tolist()
    [0.0, 0.3, 0.5, 0.7, 1.0]
    """
    x = _as_float(x)
    return M.clip(x * np.asarray(0.2, x.dtype) + np.asarray(0.5, x.dtype), 0, 1)


#: Theano's approximation of tanh(u) for u >= 0, by pieces: 1.5 u / (1 + u) below 1.7,
#: the line _TANH_AT_17 + _TANH_SLOPE * (u - 1.7) up to 3, then the constant _TANH_TOP
_TANH_AT_17, _TANH_SLOPE, _TANH_TOP = 0.935409070603099, 0.0458812946797165, 0.99505475368673


def ultra_fast_sigmoid(x):
    """Theano's approximate sigmoid, ``(t(x / 2) + 1) / 2`` with ``t`` a piecewise tanh.

    With ``u = x / 2`` and ``a = |u|``, ``t(u)`` is ``1.5 u / (1 + a)`` for ``a < 1.7``;
    ``sign(u) * (0.935409070603099 + 0.0458812946797165 * (a - 1.7))`` for ``a < 3``; and
    ``sign(u) * 0.99505475368673`` beyond, so the result stays within about 0.0025 of 0
    and 1. It differs from :func:`sigmoid` by less than 0.03; the gradient is this function's
    own derivative (0.375 at 0, 0 for ``|x| >= 6``).

    Examples
    --------
    >>> import minigraph.tensor as T
    >>> ultra_fast_sigmoid(T.constant([0.0, 2.0, 100.0])).eval().round(6).tolist()
    [0.5, 0.875, 0.997527]
    """
    x = _as_float(x)

    def c(v):
        return np.asarray(v, x.dtype)

    u = x * c(0.5)
    a = M.abs(u)
    middle = M.sgn(u) * c(_TANH_AT_17 - 1.7 * _TANH_SLOPE) + c(_TANH_SLOPE) * u
    t = M.switch(M.lt(a, c(1.7)), c(1.5) * u / (c(1.0) + a),
                 M.switch(M.lt(a, c(3.0)), middle, M.sgn(u) * c(_TANH_TOP)))
    return c(0.5) * (t + c(1.0))


def elu(x, alpha=1.0):
    """Exponential linear unit."""
    return M.switch(M.gt(x, 0), x, alpha * M.expm1(x))
