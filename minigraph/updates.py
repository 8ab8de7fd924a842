"""Update rules for training: each returns an ``OrderedDict`` {shared variable: new value}.

Lasagne's interface: ``updates = adam(loss, params)`` then
``theano.function(inputs, loss, updates=updates)``. ``loss_or_grads`` is a scalar loss (its
gradients are taken here) or a list of gradients, so gradients can be clipped first::

    grads = total_norm_constraint(theano.grad(loss, params), max_norm=5.0)
    updates = adam(grads, params)

Optimizer state (velocities, moment estimates, step counters) lives in new shared variables
of each parameter's dtype, named after it (``"W.adam_m"``), so it is checkpointed with the
parameters' own names. Every constant is cast to the parameter's dtype: float32 parameters
stay float32 (Python floats and float64 symbols would otherwise upcast the update).
"""

from collections import OrderedDict

import numpy as np

from minigraph.compile.sharedvalue import SharedVariable, shared
from minigraph.gradient import grad as _grad
from minigraph.graph.basic import GraphError, Variable
from minigraph.graph.type import TensorType

import minigraph.tensor as T


def _check_params(params):
    if isinstance(params, (Variable, SharedVariable)) or not isinstance(params, (list, tuple)):
        raise GraphError(f"params must be a list of shared variables, got "
                         f"{type(params).__name__}")
    for i, p in enumerate(params):
        if not isinstance(p, SharedVariable) or not isinstance(p.type, TensorType):
            raise GraphError(f"params[{i}] ({p!r}) is not a shared tensor variable; update "
                             f"rules can only update shared variables (make it with "
                             f"theano.shared(value))")
        if np.dtype(p.dtype).kind != "f":
            raise GraphError(f"params[{i}] ({p.describe()}) has dtype {p.dtype}; only float "
                             f"parameters can be trained")
    return list(params)


def get_or_compute_grads(loss_or_grads, params):
    """The gradients of ``loss_or_grads`` w.r.t. ``params`` (or the given list, checked).

    Parameters
    ----------
    loss_or_grads : scalar Variable or list of Variable
    params : list of SharedVariable

    Returns
    -------
    list of Variable, one per parameter, each of its parameter's dtype and rank.
    """
    params = _check_params(params)
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise GraphError(f"got {len(loss_or_grads)} gradients for {len(params)} params; "
                             f"pass one gradient per parameter, in the same order")
        grads = [T.as_tensor_variable(g) for g in loss_or_grads]
    else:
        loss = T.as_tensor_variable(loss_or_grads)
        if loss.ndim != 0:
            raise GraphError(f"the loss must be a scalar, got {loss.type.short()} "
                             f"({loss.describe()}); reduce it with .mean() or .sum()")
        grads = _grad(loss, params)
    for i, (g, p) in enumerate(zip(grads, params)):
        if g.ndim != p.ndim:
            raise GraphError(f"gradient {i} is {g.ndim}-d but parameter {p.describe()} is "
                             f"{p.ndim}-d")
    return [T.cast(g, p.dtype) for g, p in zip(grads, params)]


def _const(value, dtype, what="learning_rate"):
    """A hyper-parameter (number or symbolic scalar) as a scalar of ``dtype``."""
    if isinstance(value, Variable):
        var = T.as_tensor_variable(value)
        if var.ndim != 0:
            raise GraphError(f"{what} must be a scalar, got {var.type.short()}")
        return T.cast(var, dtype)
    try:
        return T.constant(np.asarray(value, dtype=dtype))
    except (TypeError, ValueError):
        raise GraphError(f"{what} must be a number or a symbolic scalar, got "
                         f"{value!r}") from None


def _state_like(param, suffix, fill=0.0):
    """A shared array shaped and typed like ``param``'s value, filled with ``fill``."""
    value = param.get_value(borrow=True)
    return shared(np.full(value.shape, fill, dtype=value.dtype),
                  name=f"{param.name or 'param'}.{suffix}", shape=param.type.shape)


def sgd(loss_or_grads, params, learning_rate):
    """Stochastic gradient descent: ``param - learning_rate * grad``.

    Parameters
    ----------
    loss_or_grads : scalar Variable or list of Variable
        A loss to differentiate, or one gradient per parameter.
    params : list of SharedVariable
    learning_rate : float or symbolic scalar

    Returns
    -------
    OrderedDict
        {param: new value}, ready for ``function(..., updates=...)``.

    Examples
    --------
    >>> import numpy as np, minigraph as theano
    >>> w = theano.shared(np.array([3.0, -2.0], dtype="float32"), name="w")
    >>> step = theano.function([], updates=sgd((w ** 2).sum(), [w], learning_rate=0.25))
    >>> _ = step()
    >>> w.get_value()
    array([ 1.5, -1. ], dtype=float32)
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        updates[p] = p - _const(learning_rate, p.dtype) * g
    return updates


def apply_momentum(updates, params=None, momentum=0.9):
    """Add classical momentum to ``updates``: ``v = momentum * v + step; param += v``.

    Parameters
    ----------
    updates : OrderedDict
        Plain updates (from :func:`sgd`); a new dict is returned.
    params : list of SharedVariable, optional
        Which parameters get momentum (default: every key of ``updates``).
    momentum : float or symbolic scalar
    """
    params = list(updates) if params is None else _check_params(params)
    updates = OrderedDict(updates)
    for p in params:
        velocity = _state_like(p, "velocity")
        x = _const(momentum, p.dtype, "momentum") * velocity + updates[p]
        updates[velocity] = x - p
        updates[p] = x
    return updates


def momentum(loss_or_grads, params, learning_rate, momentum=0.9):
    """SGD with classical momentum (:func:`sgd` then :func:`apply_momentum`)."""
    return apply_momentum(sgd(loss_or_grads, params, learning_rate), params, momentum)


def apply_nesterov_momentum(updates, params=None, momentum=0.9):
    """Add Nesterov momentum to ``updates`` (Lasagne's formulation).

    ``v = momentum * v + step``; ``param += momentum * v + step``, where
    ``step = updates[param] - param``.
    """
    params = list(updates) if params is None else _check_params(params)
    updates = OrderedDict(updates)
    for p in params:
        velocity = _state_like(p, "velocity")
        mu = _const(momentum, p.dtype, "momentum")
        x = mu * velocity + updates[p] - p
        updates[velocity] = x
        updates[p] = mu * x + updates[p]
    return updates


def nesterov_momentum(loss_or_grads, params, learning_rate, momentum=0.9):
    """SGD with Nesterov momentum (:func:`sgd` then :func:`apply_nesterov_momentum`)."""
    return apply_nesterov_momentum(sgd(loss_or_grads, params, learning_rate), params, momentum)


def adagrad(loss_or_grads, params, learning_rate=1.0, epsilon=1e-6):
    """Adagrad: ``acc += g**2``; ``param -= learning_rate * g / sqrt(acc + epsilon)``."""
    grads = get_or_compute_grads(loss_or_grads, params)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        acc = _state_like(p, "adagrad_acc")
        acc_new = acc + g ** 2
        updates[acc] = acc_new
        eps = _const(epsilon, p.dtype, "epsilon")
        updates[p] = p - _const(learning_rate, p.dtype) * g / T.sqrt(acc_new + eps)
    return updates


def rmsprop(loss_or_grads, params, learning_rate=1.0, rho=0.9, epsilon=1e-6):
    """RMSProp: ``acc = rho * acc + (1 - rho) * g**2``;
    ``param -= learning_rate * g / sqrt(acc + epsilon)``."""
    grads = get_or_compute_grads(loss_or_grads, params)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        acc = _state_like(p, "rmsprop_acc")
        rho_c = _const(rho, p.dtype, "rho")
        acc_new = rho_c * acc + (_const(1, p.dtype, "rho") - rho_c) * g ** 2
        updates[acc] = acc_new
        eps = _const(epsilon, p.dtype, "epsilon")
        updates[p] = p - _const(learning_rate, p.dtype) * g / T.sqrt(acc_new + eps)
    return updates


def adam(loss_or_grads, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adam (Kingma & Ba, 2014, Algorithm 1 with the bias correction folded into the step).

    ``t += 1``; ``m = beta1 * m + (1 - beta1) * g``; ``v = beta2 * v + (1 - beta2) * g**2``;
    ``param -= lr * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + epsilon)``.
    The step counter ``t`` is one shared scalar (named ``"adam_t"``) of the widest parameter
    dtype; ``m`` and ``v`` have each parameter's dtype.

    Parameters
    ----------
    loss_or_grads : scalar Variable or list of Variable
    params : list of SharedVariable
    learning_rate, beta1, beta2, epsilon : float or symbolic scalar
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    t_dtype = np.result_type(*[p.dtype for p in params]).name if params else "float64"
    t_prev = shared(np.asarray(0, dtype=t_dtype), name="adam_t")
    t = t_prev + _const(1, t_dtype)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        dt = p.dtype
        one, b1, b2 = _const(1, dt), _const(beta1, dt, "beta1"), _const(beta2, dt, "beta2")
        tp = T.cast(t, dt)
        step_size = _const(learning_rate, dt) * T.sqrt(one - b2 ** tp) / (one - b1 ** tp)
        m, v = _state_like(p, "adam_m"), _state_like(p, "adam_v")
        m_new = b1 * m + (one - b1) * g
        v_new = b2 * v + (one - b2) * g ** 2
        updates[m], updates[v] = m_new, v_new
        eps = _const(epsilon, dt, "epsilon")
        updates[p] = p - step_size * m_new / (T.sqrt(v_new) + eps)
    updates[t_prev] = t
    return updates


def total_norm_constraint(tensor_vars, max_norm, epsilon=1e-7, return_norm=False):
    """Rescale ``tensor_vars`` together so their joint L2 norm is at most ``max_norm``.

    The usual gradient clipping for RNNs: every gradient is multiplied by
    ``min(max_norm, norm) / (norm + epsilon)``, which keeps the update's direction.

    Parameters
    ----------
    tensor_vars : list of Variable
        Typically the gradients (``theano.grad(loss, params)``).
    max_norm : float or symbolic scalar
    epsilon : float
        Guards the division when the norm is 0.
    return_norm : bool
        Also return the norm before rescaling (a symbolic scalar, handy to monitor).

    Returns
    -------
    list of Variable, or (list, norm) with ``return_norm``.
    """
    if not isinstance(tensor_vars, (list, tuple)) or not tensor_vars:
        raise GraphError("total_norm_constraint: tensor_vars must be a non-empty list")
    tensors = [T.as_tensor_variable(v) for v in tensor_vars]
    if not isinstance(max_norm, Variable) and not float(max_norm) > 0:
        raise GraphError(f"total_norm_constraint: max_norm must be positive, got {max_norm}")
    dtype = np.result_type(*[v.dtype for v in tensors]).name
    if np.dtype(dtype).kind != "f":
        raise GraphError(f"total_norm_constraint: needs float tensors, got {dtype}")
    norm = T.sqrt(sum(T.cast(T.sum(v ** 2), dtype) for v in tensors))
    target = T.clip(norm, _const(0, dtype), _const(max_norm, dtype, "max_norm"))
    multiplier = target / (_const(epsilon, dtype, "epsilon") + norm)
    scaled = [v * T.cast(multiplier, v.dtype) for v in tensors]
    return (scaled, norm) if return_norm else scaled


def apply_clip(grads, lo, hi):
    """Clip every gradient elementwise to ``[lo, hi]`` (bounds cast to each one's dtype)."""
    if not isinstance(grads, (list, tuple)):
        raise GraphError(f"apply_clip: grads must be a list, got {type(grads).__name__}")
    if not isinstance(lo, Variable) and not isinstance(hi, Variable) and not lo <= hi:
        raise GraphError(f"apply_clip: lo ({lo}) must not exceed hi ({hi})")
    out = []
    for g in grads:
        g = T.as_tensor_variable(g)
        out.append(T.clip(g, _const(lo, g.dtype, "lo"), _const(hi, g.dtype, "hi")))
    return out


def clip_gradients(grads, lo, hi=None):
    """Clip gradients by value: ``[lo, hi]``, or ``[-lo, lo]`` when ``hi`` is omitted."""
    if hi is None:
        return apply_clip(grads, -lo, lo)
    return apply_clip(grads, lo, hi)
