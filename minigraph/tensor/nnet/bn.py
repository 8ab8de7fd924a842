"""``T.nnet.bn``: batch normalisation, as Theano's ``theano.tensor.nnet.bn``.

``batch_normalization`` applies given statistics; ``batch_normalization_train`` computes the
batch's mean and (biased) variance over ``axes`` and, when given running averages, their
updated values; ``batch_normalization_test`` normalises with stored statistics. All three are
compositions of elementwise ops and reductions, so their gradients (through the batch
statistics too) come from those ops.
"""

from minigraph.graph.basic import GraphError

from .. import math as M
from ..basic import as_tensor_variable
from ..reduce import mean as _mean
from ..reduce import var as _var


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """``(inputs - mean) * (gamma / std) + beta``, broadcasting as the operands do.

    ``mode`` ('low_mem' or 'high_mem') only chose a kernel in Theano; the result is the same.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dmatrix("x")
    >>> out = T.nnet.bn.batch_normalization(x, 2.0, 1.0, 3.0, 0.5)
    >>> out.eval({x: np.array([[3.0, 4.0]])}).tolist()
    [[1.0, 5.0]]
    """
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', got "
                         f"{mode!r}")
    inputs = as_tensor_variable(inputs)
    return (inputs - mean) * (gamma / std) + beta


def _norm_axes(axes, ndim):
    if axes == "per-activation":
        return (0,)
    if axes == "spatial":
        return (0,) + tuple(range(2, ndim))
    if isinstance(axes, str):
        raise GraphError(f"axes must be 'per-activation', 'spatial' or a tuple of ints, got "
                         f"{axes!r}")
    out = tuple(sorted(int(a) % ndim for a in axes))
    if len(set(out)) != len(out):
        raise GraphError(f"axes {axes} repeat a dimension")
    return out


def _params_layout(param, axes, ndim):
    """``param`` with the normalised axes as broadcastable dimensions, and a function that
    gives a keepdims statistic the layout ``param`` was given in."""
    param = as_tensor_variable(param)
    if param.ndim == ndim:
        return param, lambda s: s
    if param.ndim != ndim - len(axes):
        raise GraphError(f"batch normalisation: gamma/beta must have {ndim} or "
                         f"{ndim - len(axes)} dimensions, got {param.ndim}")
    kept = iter(range(param.ndim))
    pattern = ["x" if d in axes else next(kept) for d in range(ndim)]
    squeeze = [d for d in range(ndim) if d not in axes]
    return param.dimshuffle(*pattern), lambda s: s.dimshuffle(*squeeze)


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4,
                              running_average_factor=0.1, running_mean=None,
                              running_var=None):
    """Normalise ``inputs`` with its own mean and variance over ``axes``.

    Returns ``(out, mean, invstd)``, and with ``running_mean``/``running_var`` also
    ``(new_running_mean, new_running_var)``: ``running * (1 - f) + batch * f``, the variance
    term corrected by ``m / (m - 1)`` (``m`` values averaged per statistic). ``axes`` is
    'per-activation' (``(0,)``), 'spatial' (``(0, 2, 3, ...)``) or a tuple of ints; the
    statistics have ``gamma``'s layout.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dmatrix("x")
    >>> out, mean, invstd = T.nnet.bn.batch_normalization_train(x, np.ones(2), np.zeros(2))
    >>> np.round(out.eval({x: np.array([[1.0, 2.0], [3.0, 2.0]])}), 3).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    inputs = as_tensor_variable(inputs)
    ndim = inputs.ndim
    axes = _norm_axes(axes, ndim)
    if (running_mean is None) != (running_var is None):
        raise GraphError("batch_normalization_train: give both running_mean and running_var "
                         "or neither")
    gamma, restore = _params_layout(gamma, axes, ndim)
    beta = _params_layout(beta, axes, ndim)[0]
    mean = _mean(inputs, axis=axes, keepdims=True)
    var = _var(inputs, axis=axes, keepdims=True)
    invstd = M.inv(M.sqrt(var + epsilon))
    out = (inputs - mean) * (gamma * invstd) + beta
    results = [out, restore(mean), restore(invstd)]
    if running_mean is not None:
        f = running_average_factor
        m = M.cast(_count(inputs, axes), var.dtype)
        new_mean = as_tensor_variable(running_mean) * (1 - f) + restore(mean) * f
        new_var = as_tensor_variable(running_var) * (1 - f) + restore(var * (m / (m - 1))) * f
        results += [new_mean, new_var]
    return tuple(results)


def _count(x, axes):
    n = 1
    for d in axes:
        n = n * x.shape[d]
    return n


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation",
                             epsilon=1e-4):
    """``(inputs - mean) * gamma / sqrt(var + epsilon) + beta`` with stored statistics
    (``gamma``, ``beta``, ``mean`` and ``var`` all in the same layout).

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dmatrix("x")
    >>> out = T.nnet.bn.batch_normalization_test(x, np.ones(1), np.zeros(1), np.ones(1),
    ...                                          np.full(1, 4.0), epsilon=0.0)
    >>> out.eval({x: np.array([[3.0]])}).tolist()
    [[1.0]]
    """
    inputs = as_tensor_variable(inputs)
    ndim = inputs.ndim
    axes = _norm_axes(axes, ndim)
    gamma, beta, mean, var = (_params_layout(p, axes, ndim)[0] for p in (gamma, beta, mean, var))
    return (inputs - mean) * (gamma * M.inv(M.sqrt(var + epsilon))) + beta
