"""Tensor rewrites, one identity each, grouped in named rule sets.

* ``canonicalize``: algebraic clean-ups (``x * 1 -> x``, ``-(-x) -> x``, ...).
* ``stabilize``: numerically safe forms (``log(softmax(x)) -> log_softmax(x)``,
  cross-entropy of a softmax -> one fused op, ``log(sigmoid(x)) -> -softplus(-x)``), and
  the same for their gradients, which ``grad`` builds from the unstable forms.
* ``specialize``: cheaper ops (``x ** 2 -> sqr(x)``).
"""

import numpy as np

from minigraph.graph.basic import Constant
from minigraph.graph.rewriting import RuleSet, node_rewriter

from . import math as M
from .elemwise import DimShuffle, Elemwise
from .nnet.basic import (CrossentropyCategorical1Hot, CrossentropyCategorical1HotGrad,
                         CrossentropySoftmax, CrossentropySoftmaxGrad, LogSoftmax, Softmax,
                         SoftmaxGrad)
from .reduce import sum as _sum


def _scalar_name(node):
    op = node.op
    return op.scalar_op.name if isinstance(op, Elemwise) else None


def _const_value(v):
    """The single value of a constant that is the same everywhere, else None (also through
    the DimShuffle that broadcasting puts on a scalar constant, e.g. ``x * 1``)."""
    while v.owner is not None and isinstance(v.owner.op, DimShuffle):
        v = v.owner.inputs[0]
    if isinstance(v, Constant):
        d = np.asarray(v.data)
        if d.size and (d == d.flat[0]).all():
            return d.flat[0]
    return None


def _same_type(new, old):
    if new.type == old.type:
        return new
    if new.dtype != old.dtype:
        new = M.cast(new, old.dtype)
    if new.type != old.type and new.ndim == old.ndim and old.type.is_super(new.type):
        return new
    return new if new.type == old.type else None


@node_rewriter([Elemwise])
def mul_by_one(fgraph, node):
    """x * 1 -> x"""
    if _scalar_name(node) != "mul":
        return None
    a, b = node.inputs
    for x, c in ((a, b), (b, a)):
        if _const_value(c) == 1 and x.type == node.outputs[0].type:
            return [x]
    return None


@node_rewriter([Elemwise])
def add_zero(fgraph, node):
    """x + 0 -> x, x - 0 -> x"""
    name = _scalar_name(node)
    if name not in ("add", "sub"):
        return None
    a, b = node.inputs
    pairs = ((a, b), (b, a)) if name == "add" else ((a, b),)
    for x, c in pairs:
        if _const_value(c) == 0 and x.type == node.outputs[0].type:
            return [x]
    return None


@node_rewriter([Elemwise])
def double_neg(fgraph, node):
    """-(-x) -> x"""
    if _scalar_name(node) != "neg":
        return None
    inner = node.inputs[0].owner
    if inner is not None and _scalar_name(inner) == "neg":
        return [inner.inputs[0]]
    return None


@node_rewriter([Elemwise])
def log_of_softmax(fgraph, node):
    """log(softmax(x)) -> log_softmax(x)"""
    if _scalar_name(node) != "log":
        return None
    inner = node.inputs[0].owner
    if inner is not None and isinstance(inner.op, Softmax):
        return [LogSoftmax()(inner.inputs[0])]
    return None


@node_rewriter([CrossentropyCategorical1Hot])
def crossentropy_of_softmax(fgraph, node):
    """categorical_crossentropy(softmax(x), y_int) -> crossentropy_softmax(x, y)"""
    p, y = node.inputs
    if p.owner is not None and isinstance(p.owner.op, Softmax):
        return [CrossentropySoftmax()(p.owner.inputs[0], y)]
    return None


@node_rewriter([Elemwise])
def log_of_sigmoid(fgraph, node):
    """log(sigmoid(x)) -> -softplus(-x)"""
    if _scalar_name(node) != "log":
        return None
    inner = node.inputs[0].owner
    if inner is not None and _scalar_name(inner) == "sigmoid":
        return [_same_type(-M.softplus(-inner.inputs[0]), node.outputs[0])]
    return None


@node_rewriter([Elemwise])
def log1p_of_neg_sigmoid(fgraph, node):
    """log(1 - sigmoid(x)) -> -softplus(x); log1p(-sigmoid(x)) -> -softplus(x)"""
    name = _scalar_name(node)
    inner = node.inputs[0].owner
    if inner is None:
        return None
    if name == "log1p" and _scalar_name(inner) == "neg":
        s = inner.inputs[0].owner
    elif name == "log" and _scalar_name(inner) == "sub" and _const_value(inner.inputs[0]) == 1:
        s = inner.inputs[1].owner
    else:
        return None
    if s is not None and _scalar_name(s) == "sigmoid":
        return [_same_type(-M.softplus(s.inputs[0]), node.outputs[0])]
    return None


@node_rewriter([SoftmaxGrad])
def log_softmax_grad(fgraph, node):
    """softmax_grad(g / sm, sm) -> g - sum(g, -1) * sm   (the gradient of log(softmax(x)))"""
    dy, sm = node.inputs
    div = dy.owner
    if div is None or _scalar_name(div) != "true_div" or div.inputs[1] is not sm:
        return None
    g = div.inputs[0]
    if g.type != sm.type:
        g = M.second(sm, g)  # the full-size gradient: the sum below must see every entry
    return [_same_type(g - _sum(g, axis=-1, keepdims=True) * sm, node.outputs[0])]


@node_rewriter([SoftmaxGrad])
def crossentropy_softmax_grad(fgraph, node):
    """softmax_grad(xent_grad(gz, softmax(x), y), softmax(x)) -> xent_softmax_grad(gz, x, y)"""
    dy, sm = node.inputs
    inner = dy.owner
    if inner is None or not isinstance(inner.op, CrossentropyCategorical1HotGrad):
        return None
    gz, p, y = inner.inputs
    if p is not sm or sm.owner is None or not isinstance(sm.owner.op, Softmax):
        return None
    return [_same_type(CrossentropySoftmaxGrad()(gz, sm.owner.inputs[0], y), node.outputs[0])]


@node_rewriter([Elemwise])
def div_mul_cancel(fgraph, node):
    """(a / b) * c * b -> a * c, also under negations   (keeps the gradients of log(sigmoid(x))
    and log(1 - sigmoid(x)) finite where b underflows to 0)"""
    if _scalar_name(node) != "mul":
        return None
    factors, negative = _mul_factors(node.outputs[0])
    for k, f in enumerate(factors):
        div = f.owner
        if div is None or _scalar_name(div) != "true_div" or div.inputs[1] not in factors:
            continue
        rest = list(factors)
        rest[k] = div.inputs[0]
        rest.remove(div.inputs[1])
        out = rest[0]
        for r in rest[1:]:
            out = out * r
        out = -out if negative else out
        if out.type == node.outputs[0].type:
            return [out]
    return None


def _mul_factors(v):
    """The factors of a tree of multiplications and negations, and whether the sign flips."""
    node = v.owner
    name = _scalar_name(node) if node is not None else None
    if name == "mul":
        (fa, na), (fb, nb) = (_mul_factors(i) for i in node.inputs)
        return fa + fb, na != nb
    if name == "neg":
        f, neg = _mul_factors(node.inputs[0])
        return f, not neg
    return [v], False


@node_rewriter([Elemwise])
def pow_two_to_sqr(fgraph, node):
    """x ** 2 -> sqr(x)"""
    if _scalar_name(node) != "pow":
        return None
    x, e = node.inputs
    if _const_value(e) == 2:
        return [_same_type(M.sqr(x), node.outputs[0])]
    return None


CANONICALIZE = RuleSet("canonicalize", [mul_by_one, add_zero, double_neg])
STABILIZE = RuleSet("stabilize", [log_of_softmax, crossentropy_of_softmax, log_of_sigmoid,
                                  log1p_of_neg_sigmoid, log_softmax_grad,
                                  crossentropy_softmax_grad, div_mul_cancel])
SPECIALIZE = RuleSet("specialize", [pow_two_to_sqr])
