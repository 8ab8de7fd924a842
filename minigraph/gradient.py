"""Symbolic differentiation: ``grad``, ``jacobian``, ``hessian``, ``Lop`` / ``Rop``,
``verify_grad``, and the gradient modifiers ``zero_grad`` / ``disconnected_grad`` /
``grad_clip`` / ``grad_scale``.

``grad`` is reverse mode over a topological order: walk the nodes from the cost back to
the inputs, ask each op for ``grad(inputs, outputs, output_grads)``, and sum contributions
per variable. Gradients are graphs too, so second derivatives are ``grad`` of a ``grad``.
"""

import warnings

import numpy as np

from minigraph.graph.basic import (Apply, GraphError, Variable, ancestors, clone_replace, toposort,
                                   where)
from minigraph.graph.op import Op


class DisconnectedInputError(GraphError):
    """``grad`` was asked for a variable the cost does not depend on."""


class NullTypeGradError(GraphError):
    """An op on the path has no gradient."""


def _T():
    import minigraph.tensor as T  # cycle: minigraph.tensor imports this module (T.grad)

    return T


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise",
         known_grads=None, return_disconnected="zero", null_gradients="raise"):
    """Gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list).

    Parameters
    ----------
    cost : scalar Variable or None
        ``None`` is allowed when ``known_grads`` gives the starting gradients.
    wrt : Variable or list of Variable
    consider_constant : list of Variable, optional
        Treat these as constants (no gradient flows through them).
    disconnected_inputs : {'raise', 'warn', 'ignore'}
        What to do when the cost does not depend on a ``wrt``; its gradient is zeros.
    known_grads : dict, optional
        ``{variable: gradient}`` to start back-propagation from (cost may then be None).

    Returns
    -------
    Variable or list of Variable, matching ``wrt``.

    Examples
    --------
    >>> import minigraph.tensor as T
    >>> x = T.dscalar("x")
    >>> g = grad(x ** 2, x)
    >>> float(g.eval({x: 3.0}))
    6.0
    """
    T = _T()
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise GraphError(f"grad: wrt must be symbolic variables, got {type(w).__name__}")
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_inputs must be 'raise', 'warn' or 'ignore'")
    seeds = _seeds(cost, known_grads)
    roots = list(seeds)
    grads = _backprop(roots, seeds, wrt_list, set(consider_constant or ()))
    out = []
    reachable = _connected(roots, consider_constant or ())
    for w in wrt_list:
        g = grads.get(w)
        if g is None:
            if w not in reachable:
                msg = (f"grad: the cost does not depend on {w.describe()}{where(w)}; "
                       f"pass disconnected_inputs='ignore' to get zeros")
                if disconnected_inputs == "raise":
                    raise DisconnectedInputError(msg)
                if disconnected_inputs == "warn":
                    warnings.warn(msg, stacklevel=2)
                if return_disconnected == "none":
                    out.append(None)
                    continue
            g = T.zeros_like(w) if np.dtype(w.dtype).kind in "fc" else T.zeros_like(
                w, dtype="float64")
        out.append(g)
    return out[0] if single else out


def _connected(roots, blockers):
    """Variables the roots depend on through paths a gradient may take: not through
    ``consider_constant`` variables nor ``disconnected_grad``."""
    cut = [v for v in ancestors(roots, blockers) if v.owner is not None
           and isinstance(v.owner.op, _GradBlock) and v.owner.op.mode == "disconnected_grad"]
    return set(ancestors(roots, blockers=list(blockers) + cut))


def _seeds(cost, known_grads):
    T = _T()
    seeds = {}
    if cost is not None:
        cost = T.as_tensor_variable(cost)
        if cost.ndim != 0:
            raise GraphError(
                f"grad: the cost must be a scalar, got a {cost.ndim}-d {cost.type.short()} "
                f"({cost.describe()}){where(cost)}; reduce it first, e.g. cost.sum() or "
                f"cost.mean()"
            )
        if np.dtype(cost.dtype).kind not in "fc":
            raise GraphError(f"grad: the cost {cost.describe()} has integer dtype {cost.dtype}")
        seeds[cost] = T.ones_like(cost)
    for v, g in (known_grads or {}).items():
        g = T.as_tensor_variable(g)
        seeds[v] = seeds[v] + g if v in seeds else g
    if not seeds:
        raise GraphError("grad: give a cost or known_grads")
    return seeds


def _backprop(roots, seeds, wrt, blockers):
    """Sum gradient contributions from ``roots`` back to the leaves / ``wrt``."""
    T = _T()
    # nodes that lie on a path from some wrt to some root
    nodes = toposort(roots, blockers=blockers)
    depends = set(wrt)
    on_path = []
    for n in nodes:
        if any(i in depends for i in n.inputs):
            depends.update(n.outputs)
            on_path.append(n)
    contrib = {v: [g] for v, g in seeds.items()}
    for node in reversed(on_path):
        outs = node.outputs
        if not any(o in contrib for o in outs):
            continue
        out_grads = []
        for o in outs:
            gs = contrib.get(o)
            if gs:
                out_grads.append(_sum(gs))
            else:
                # non-tensor outputs (a random op's new generator) get no gradient
                kind = np.dtype(getattr(o.type, "dtype", "O")).kind
                out_grads.append(T.zeros_like(o) if kind in "fc" else None)
        if all(g is None for g in out_grads):
            continue
        in_grads = node.op.grad(node.inputs, outs, out_grads)
        if len(in_grads) != len(node.inputs):
            raise GraphError(f"{node.op}.grad returned {len(in_grads)} gradients for "
                             f"{len(node.inputs)} inputs")
        for inp, g in zip(node.inputs, in_grads):
            if g is None or inp not in depends:
                continue
            if np.dtype(getattr(inp, "dtype", "float64")).kind not in "fc":
                continue  # integer inputs get no gradient
            g = T.as_tensor_variable(g)
            if g.ndim != inp.ndim:
                raise GraphError(f"{node.op}.grad returned a {g.ndim}-d gradient for the "
                                 f"{inp.ndim}-d input {inp.describe()}")
            contrib.setdefault(inp, []).append(g)
    return {w: _sum(contrib[w]) for w in wrt if contrib.get(w)}


def _sum(gs):
    total = gs[0]
    for g in gs[1:]:
        total = total + g
    return total


class _GradModifier(Op):
    """Identity in the forward pass (a view of its input); subclasses change the gradient."""

    view_map = {0: [0]}

    def make_node(self, x):
        x = _T().as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def make_py_callable(self, node):
        return lambda x: x

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]


class _GradBlock(_GradModifier):
    """The gradient is zero (``zero_grad``) or cut (``disconnected_grad``)."""

    __props__ = ("mode",)

    def __init__(self, mode):
        self.mode = mode

    def __str__(self):
        return self.mode

    def grad(self, inputs, outputs, output_grads):
        return [_T().zeros_like(inputs[0])] if self.mode == "zero_grad" else [None]


def zero_grad(x):
    """``x`` in the forward pass; its gradient is zero (still connected)."""
    return _GradBlock("zero_grad")(x)


def disconnected_grad(x):
    """``x`` in the forward pass; gradients do not flow through it."""
    return _GradBlock("disconnected_grad")(x)


def consider_constant(x):
    """Theano's older spelling of :func:`zero_grad`: ``x``, with a zero gradient."""
    return zero_grad(x)


class GradClip(_GradModifier):
    """The gradient passing back is clipped elementwise to ``[lower, upper]``."""

    __props__ = ("lower", "upper")

    def __init__(self, lower, upper):
        self.lower, self.upper = float(lower), float(upper)

    def grad(self, inputs, outputs, output_grads):
        return [_T().clip(output_grads[0], self.lower, self.upper)]


def grad_clip(x, lower_bound, upper_bound):
    """``x`` in the forward pass; the gradient reaching ``x`` is clipped to the bounds.

    >>> import minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> grad((grad_clip(x, -1.0, 1.0) * [5.0, 0.5]).sum(), x).eval({x: [0.0, 0.0]}).tolist()
    [1.0, 0.5]
    """
    if not lower_bound <= upper_bound:
        raise GraphError(f"grad_clip: lower_bound {lower_bound} is above upper_bound "
                         f"{upper_bound}")
    return GradClip(lower_bound, upper_bound)(x)


class GradScale(_GradModifier):
    """The gradient passing back is multiplied by ``scale``."""

    __props__ = ("scale",)

    def __init__(self, scale):
        self.scale = float(scale)

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0] * self.scale]


def grad_scale(x, multiplier):
    """``x`` in the forward pass; the gradient reaching ``x`` is multiplied by ``multiplier``."""
    return GradScale(multiplier)(x)


def _listed(x):
    return (x, False) if isinstance(x, (list, tuple)) else ([x], True)


def _check_points(where_, variables, points):
    T = _T()
    if len(variables) != len(points):
        raise GraphError(f"{where_}: {len(variables)} variables but {len(points)} eval_points")
    out = []
    for v, p in zip(variables, points):
        p = T.as_tensor_variable(p)
        if p.ndim != v.ndim:
            raise GraphError(f"{where_}: the eval point for {v.describe()} is {p.ndim}-d, "
                             f"but the variable is {v.ndim}-d")
        out.append(p)
    return out


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Left multiplication by the Jacobian: ``v^T (df/dwrt)``, with ``v`` = ``eval_points``.

    ``f`` and ``eval_points`` are a variable or matching lists (one ``v`` per output);
    the result matches ``wrt``. It is reverse mode started from ``v`` instead of 1.

    >>> import numpy as np, minigraph.tensor as T
    >>> W, v = T.dmatrix("W"), T.dvector("v")
    >>> x = T.dvector("x")
    >>> Lop(T.dot(W, x), x, v).eval({W: np.eye(2) * 3, x: [1.0, 2.0], v: [1.0, 1.0]}).tolist()
    [3.0, 3.0]
    """
    fs, _ = _listed(f)
    points = _check_points("Lop", fs, _listed(eval_points)[0])
    return grad(None, wrt, consider_constant=consider_constant,
                disconnected_inputs=disconnected_inputs, known_grads=dict(zip(fs, points)))


def Rop(f, wrt, eval_points, disconnected_outputs="raise", return_disconnected="zero"):
    """Right multiplication by the Jacobian: ``(df/dwrt) v``, with ``v`` = ``eval_points``.

    Built by reverse mode twice: ``g(u) = Lop(f, wrt, u)`` is linear in a placeholder ``u``,
    so ``Lop(g, u, v) = J v``; ``u`` then drops out of the value and is replaced by zeros.
    The result matches ``f``. ``disconnected_outputs``: 'raise', 'warn' or 'ignore' when an
    output does not depend on ``wrt``; its result is zeros (or None if
    ``return_disconnected='None'``).

    >>> import numpy as np, minigraph.tensor as T
    >>> W, x, v = T.dmatrix("W"), T.dvector("x"), T.dvector("v")
    >>> Rop(T.dot(W, x), x, v).eval({W: [[1.0, 2.0], [3.0, 4.0]], x: [0.0, 0.0],
    ...                              v: [1.0, 1.0]}).tolist()
    [3.0, 7.0]
    """
    T = _T()
    fs, single = _listed(f)
    fs = [T.as_tensor_variable(y) for y in fs]
    wrts, _ = _listed(wrt)
    points = _check_points("Rop", wrts, _listed(eval_points)[0])
    us = [y.type() for y in fs]
    gs = grad(None, wrts, known_grads=dict(zip(fs, us)), disconnected_inputs="ignore",
              return_disconnected="none")
    known = {}
    for g, v in zip(gs, points):
        if g is not None:
            known[g] = known[g] + v if g in known else v
    outs = grad(None, us, known_grads=known, disconnected_inputs="ignore",
                return_disconnected="none") if known else [None] * len(us)
    result = []
    for y, r in zip(fs, outs):
        if r is None:
            msg = f"Rop: {y.describe()} does not depend on {', '.join(map(str, wrts))}"
            if disconnected_outputs == "raise":
                raise DisconnectedInputError(msg + "; pass disconnected_outputs='ignore'")
            if disconnected_outputs == "warn":
                warnings.warn(msg, stacklevel=2)
            r = None if return_disconnected in ("None", "none") else T.zeros_like(y)
        result.append(r)
    live = [r for r in result if r is not None]
    live = clone_replace(live, {u: T.zeros_like(y) for u, y in zip(us, fs)})
    it = iter(live)
    result = [None if r is None else next(it) for r in result]
    return result[0] if single else result


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Jacobian of a vector ``expression`` with respect to ``wrt`` (variable or list).

    Each row is the gradient of one element, computed with ``scan`` over the elements
    (as Theano does) when scan is available.
    """
    T = _T()
    expression = T.as_tensor_variable(expression)
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    if expression.ndim == 0:
        out = [grad(expression, w, consider_constant, disconnected_inputs) for w in wrt_list]
        return out[0] if single else out
    flat = expression.flatten()
    from minigraph.scan import scan  # cycle: scan's gradient imports this module

    def row(i, y, *ws):
        return grad(y[i], list(ws), consider_constant, disconnected_inputs)

    rows, _ = scan(row, sequences=T.arange(flat.shape[0]), non_sequences=[flat] + wrt_list)
    if not isinstance(rows, list):
        rows = [rows]
    out = [r.reshape(T.concatenate([expression.shape, w.shape]), ndim=expression.ndim + w.ndim)
           for r, w in zip(rows, wrt_list)]
    return out[0] if single else out


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Hessian of the scalar ``cost`` with respect to each vector in ``wrt``."""
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    out = []
    for w in wrt_list:
        g = grad(cost, w, consider_constant, disconnected_inputs)
        out.append(jacobian(g, w, consider_constant, disconnected_inputs="ignore"))
    return out[0] if single else out


class GradientError(AssertionError):
    """``verify_grad`` found a symbolic gradient that disagrees with finite differences."""


def verify_grad(fun, pt, n_tests=2, rng=None, eps=None, abs_tol=None, rel_tol=None,
                mode=None, cast_to_output_type=False):
    """Check ``fun``'s symbolic gradient against central finite differences at ``pt``.

    ``fun`` takes symbolic tensors (one per array in ``pt``) and returns a tensor; the
    check projects its output on a random direction (a scalar cost), as Theano does.
    Raises :class:`GradientError` naming the input and the largest error.

    >>> import numpy as np, minigraph.tensor as T
    >>> verify_grad(lambda x: T.tanh(x) * 3, [np.array([0.1, -0.4])],
    ...             rng=np.random.default_rng(0))
    """
    from minigraph.compile.function import function  # cycle: via minigraph.tensor

    T = _T()
    rng = rng if rng is not None else np.random.default_rng()
    pt = [np.array(p) for p in pt]
    dtype_eps = {"float64": 1e-7, "float32": 3e-3, "float16": 1e-1}
    tol_default = {"float64": 1e-4, "float32": 1e-2, "float16": 1e-1}
    dt = str(np.result_type(*pt))
    eps = eps or dtype_eps.get(dt, 1e-7)
    abs_tol = abs_tol if abs_tol is not None else tol_default.get(dt, 1e-4)
    rel_tol = rel_tol if rel_tol is not None else tol_default.get(dt, 1e-4)
    xs = [T.tensor(p.dtype, shape=(None,) * p.ndim, name=f"input{i}") for i, p in enumerate(pt)]
    out = T.as_tensor_variable(fun(*xs))
    proj_val = T.tensor(out.dtype, shape=(None,) * out.ndim, name="projection")
    cost = T.sum(out * proj_val)
    grads = grad(cost, xs, disconnected_inputs="ignore")
    f_cost = function(xs + [proj_val], cost, mode=mode, on_unused_input="ignore")
    f_grad = function(xs + [proj_val], grads, mode=mode, on_unused_input="ignore")
    out_shape = function(xs, out, mode=mode, on_unused_input="ignore")(*pt).shape
    for _ in range(n_tests):
        proj = rng.random(out_shape).astype(out.dtype) + 0.5
        sym = f_grad(*pt, proj)
        for i, p in enumerate(pt):
            num = _numeric_grad(f_cost, pt, proj, i, eps)
            err = np.abs(sym[i] - num)
            bound = abs_tol + rel_tol * np.abs(num)
            if np.any(err > bound):
                k = tuple(int(j) for j in np.unravel_index(np.argmax(err - bound), err.shape))
                raise GradientError(
                    f"verify_grad: gradient of input {i} (shape {p.shape}) disagrees with "
                    f"finite differences at index {k}: symbolic {float(np.asarray(sym[i])[k])!r}"
                    f", numeric {float(np.asarray(num)[k])!r} (abs err {err.max():.3g}, "
                    f"eps {eps})"
                )


def _numeric_grad(f, pt, proj, i, eps):
    x = pt[i].astype("float64")
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for k in range(flat.size):
        orig = flat[k]
        args = list(pt)
        flat[k] = orig + eps
        args[i] = x.astype(pt[i].dtype)
        plus = float(f(*args, proj))
        flat[k] = orig - eps
        args[i] = x.astype(pt[i].dtype)
        minus = float(f(*args, proj))
        flat[k] = orig
        gflat[k] = (plus - minus) / (2 * eps)
    return g
