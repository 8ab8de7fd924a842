"""``T.nnet`` functions composed from the ops of ``basic.py``: ``softsign``, ``selu``,
``softmax_with_bias``, the ``crossentropy_softmax_1hot`` family, ``h_softmax`` and
``confusion_matrix``. Their gradients are those of the ops they are built from; the
cross-entropies use the stable fused ``CrossentropySoftmax`` op.
"""

from minigraph.graph.basic import GraphError, where

from .. import math as M
from ..basic import as_tensor_variable
from ..blas import batched_dot, dot, tensordot
from ..lookup import Unique
from ..reduce import argmax
from ..shape import arange, concatenate, reshape
from .basic import CrossentropySoftmax, Softmax, elu, softmax
def softsign(x):
    """``x / (1 + |x|)``, elementwise.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dvector("x")
    >>> T.nnet.softsign(x).eval({x: np.array([-3.0, 1.0])}).tolist()
    [-0.75, 0.5]
    """
    x = as_tensor_variable(x)
    return x / (1 + M.abs(x))


def softmax_with_bias(x, b):
    """Row-wise ``softmax(x + b)`` for a matrix ``x`` and a bias vector ``b``."""
    x, b = as_tensor_variable(x), as_tensor_variable(b)
    if x.ndim != 2 or b.ndim != 1:
        raise GraphError(f"softmax_with_bias takes a matrix and a vector, got "
                         f"{x.type.short()} and {b.type.short()}{where(x)}")
    return softmax(x + b)


def crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx):
    """``(nll, softmax(x + b), argmax(x + b, axis=1))``: per-row ``-log softmax(x + b)[i,
    y_idx[i]]`` (computed stably), the probabilities and the predicted classes."""
    z = as_tensor_variable(x) + b
    return CrossentropySoftmax()(z, y_idx), Softmax()(z), argmax(z, axis=1)


def crossentropy_softmax_1hot_with_bias(x, b, y_idx):
    """``(nll, softmax(x + b))`` with ``nll[i] = -log softmax(x + b)[i, y_idx[i]]``."""
    return crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx)[:2]


def crossentropy_softmax_1hot(x, y_idx):
    """``(nll, softmax(x))`` with ``nll[i] = -log softmax(x)[i, y_idx[i]]``, computed stably.

    >>> import minigraph.tensor as T, numpy as np
    >>> x, y = T.dmatrix("x"), T.lvector("y")
    >>> nll, sm = T.nnet.crossentropy_softmax_1hot(x, y)
    >>> np.round(nll.eval({x: np.zeros((1, 2)), y: [1]}), 4).tolist()
    [0.6931]
    """
    x = as_tensor_variable(x)
    return CrossentropySoftmax()(x, y_idx), Softmax()(x)


def h_softmax(x, batch_size, n_outputs, n_classes, n_outputs_per_class, W1, b1, W2, b2,
              target=None):
    """Two-level hierarchical softmax, as Theano's ``T.nnet.h_softmax``.

    The outputs are split into ``n_classes`` groups of ``n_outputs_per_class``;
    ``p(output) = p(group | x) * p(output | group, x)``. Shapes: ``x`` (batch, n_in),
    ``W1`` (n_in, n_classes), ``b1`` (n_classes,), ``W2`` (n_classes, n_in,
    n_outputs_per_class), ``b2`` (n_classes, n_outputs_per_class). Without ``target`` the
    result is every output's probability, (batch, n_outputs); with an int vector ``target``
    it is each row's probability of its target, (batch,).
    """
    x = as_tensor_variable(x)
    class_probs = Softmax()(dot(x, W1) + b1)
    if target is None:
        act = tensordot(x, W2, [[1], [1]]) + b2  # (batch, n_classes, per_class)
        within = reshape(Softmax()(reshape(act, (-1, n_outputs_per_class))),
                         (batch_size, n_classes, n_outputs_per_class))
        probs = class_probs.dimshuffle(0, 1, "x") * within
        return reshape(probs, (batch_size, n_classes * n_outputs_per_class))[:, :n_outputs]
    target = as_tensor_variable(target).flatten()
    group, member = target // n_outputs_per_class, target % n_outputs_per_class
    rows = arange(target.shape[0])
    # each row's own group weights: (batch, 1, n_in) @ (batch, n_in, per_class)
    act = batched_dot(x.dimshuffle(0, "x", 1), as_tensor_variable(W2)[group])[:, 0, :]
    within = Softmax()(act + as_tensor_variable(b2)[group])
    return class_probs[rows, group] * within[rows, member]


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """Scaled exponential linear unit: ``scale * elu(x, alpha)`` with the self-normalising
    constants (alpha ~ 1.6733, scale ~ 1.0507)."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def confusion_matrix(actual, pred):
    """``[conf_mat, order]``: ``order`` the sorted labels seen in either vector, and
    ``conf_mat[i, j]`` the number of samples of label ``order[i]`` predicted as ``order[j]``.

    >>> import minigraph.tensor as T, numpy as np
    >>> a, p = T.lvectors("a", "p")
    >>> m, order = T.nnet.confusion_matrix(a, p)
    >>> m.eval({a: [0, 1, 1], p: [0, 1, 0]}).tolist()
    [[1, 0], [1, 1]]
    """
    actual, pred = as_tensor_variable(actual), as_tensor_variable(pred)
    if actual.ndim != 1 or pred.ndim != 1:
        raise GraphError(f"confusion_matrix takes two vectors, got {actual.type.short()} and "
                         f"{pred.type.short()}{where(actual)}")
    order = Unique()(concatenate([actual, pred]))
    hot_actual = M.cast(M.eq(actual.dimshuffle(0, "x"), order), "int64")
    hot_pred = M.cast(M.eq(pred.dimshuffle(0, "x"), order), "int64")
    return [dot(hot_actual.T, hot_pred), order]
