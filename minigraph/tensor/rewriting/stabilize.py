"""``stabilize``: numerically safe forms of expressions that over- or underflow.

Softmax: ``log(softmax(x))`` becomes ``log_softmax(x)``, the cross-entropy of a softmax one
fused op. Sigmoid: ``1 / (1 + exp(-x))`` becomes ``sigmoid(x)``, its logarithms ``softplus``.
``grad`` differentiates the graph as the user wrote it, before any rewrite, so the gradients
carry the unstable forms too (``g / sigmoid(x) * sigmoid(x) * (1 - sigmoid(x))``); the rules
at the end of this file cancel those.
"""

from minigraph.graph.rewriting import P, RuleSet, node_rewriter

from .. import math as M
from ..nnet.basic import (CrossentropyCategorical1Hot, CrossentropyCategorical1HotGrad,
                          CrossentropySoftmax, CrossentropySoftmaxGrad, LogSoftmax, Softmax,
                          SoftmaxGrad)
from ..reduce import sum as _sum
from .utils import const, key, mul_factors, product, rule

# ---- softmax ---------------------------------------------------------------------------------


@rule(P("log", P(Softmax, "x")))
def log_of_softmax(x):
    """log(softmax(x)) -> log_softmax(x)"""
    return LogSoftmax()(x)


@rule(P(CrossentropyCategorical1Hot, P(Softmax, "x"), "y"))
def crossentropy_of_softmax(x, y):
    """categorical_crossentropy(softmax(x), y_int) -> crossentropy_softmax(x, y)"""
    return CrossentropySoftmax()(x, y)


@rule(P(SoftmaxGrad, P("true_div", "g", "sm"), "sm"))
def log_softmax_grad(g, sm):
    """softmax_grad(g / sm, sm) -> g - sum(g, -1) * sm   (the gradient of log(softmax(x)))"""
    if g.type != sm.type:
        g = M.second(sm, g)  # the full-size gradient: the sum below must see every entry
    return g - _sum(g, axis=-1, keepdims=True) * sm


@rule(P(SoftmaxGrad, P(CrossentropyCategorical1HotGrad, "gz", "sm", "y"),
        P(Softmax, "x", name="sm")))
def crossentropy_softmax_grad(gz, sm, y, x):
    """softmax_grad(xent_grad(gz, softmax(x), y), softmax(x)) -> xent_softmax_grad(gz, x, y)"""
    return CrossentropySoftmaxGrad()(gz, x, y)


# ---- sigmoid ---------------------------------------------------------------------------------


@rule(P("log", P("sigmoid", "x")))
def log_of_sigmoid(x):
    """log(sigmoid(x)) -> -softplus(-x)"""
    return -M.softplus(-x)


@rule(P("log", P("sub", const(1), P("sigmoid", "x"))),
      P("log1p", P("neg", P("sigmoid", "x"))))
def log1p_of_neg_sigmoid(x):
    """log(1 - sigmoid(x)) -> -softplus(x); log1p(-sigmoid(x)) -> -softplus(x)"""
    return -M.softplus(x)


# ---- gradients -------------------------------------------------------------------------------


@node_rewriter(["mul"])
def div_mul_cancel(fgraph, node):
    """(a / b) * c * b -> a * c, also under negations   (keeps the gradients of log(sigmoid(x))
    and log(1 - sigmoid(x)) finite where b underflows to 0)"""
    factors, negative = mul_factors(node.outputs[0])
    for k, f in enumerate(factors):
        if key(f) != "true_div" or f.owner.inputs[1] not in factors:
            continue
        rest = list(factors)
        rest[k] = f.owner.inputs[0]
        rest.remove(f.owner.inputs[1])
        out = product(rest, negative)
        if out.type == node.outputs[0].type:
            return [out]
    return None


STABILIZE = RuleSet("stabilize", [log_of_softmax, crossentropy_of_softmax, log_of_sigmoid,
                                  log1p_of_neg_sigmoid, log_softmax_grad,
                                  crossentropy_softmax_grad, div_mul_cancel])
