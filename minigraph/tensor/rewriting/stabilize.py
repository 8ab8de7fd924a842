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
from .utils import cast_to, const, find, key, mul_factors, product, rule, same, sum_terms

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

_ONE_PLUS_EXP = P("add", const(1), P("exp", "u"), commute=True)


def _neg(u):
    """``-u``, without a double negation when ``u`` is already ``-x``."""
    return u.owner.inputs[0] if key(u) == "neg" else -u


@rule(P("true_div", const(1), _ONE_PLUS_EXP), P("pow", _ONE_PLUS_EXP, const(-1)))
def sigmoid_of_exp(u):
    """1 / (1 + exp(u)) -> sigmoid(-u); (1 + exp(u)) ** -1 -> sigmoid(-u)"""
    return M.sigmoid(_neg(u))


@rule(P("log", _ONE_PLUS_EXP), P("log1p", P("exp", "u")))
def log1p_exp_to_softplus(u):
    """log(1 + exp(u)) -> softplus(u); log1p(exp(u)) -> softplus(u)"""
    return M.softplus(u)


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
        if key(f) != "true_div":
            continue
        others = factors[:k] + factors[k + 1:]
        j = find(f.owner.inputs[1], others)
        if j is None:
            continue
        out = product([f.owner.inputs[0]] + others[:j] + others[j + 1:], negative)
        if out.type == node.outputs[0].type:
            return [out]
    return None


@node_rewriter(["mul"])
def distribute_over_quotients(fgraph, node):
    """(a / b + c) * b -> a / b * b + c * b   (then div_mul_cancel: a + c * b; the gradient of
    -y * log(p) - (1 - y) * log(1 - p) is such a sum times p * (1 - p))"""
    factors, negative = mul_factors(node.outputs[0])
    for k, f in enumerate(factors):
        terms = sum_terms(f)
        if len(terms) < 2:
            continue
        others = factors[:k] + factors[k + 1:]
        for j, b in enumerate(others):
            if not any(_divides_by(t, b) for t, _ in terms):
                continue
            t0, neg0 = terms[0]
            spread = -(t0 * b) if neg0 else t0 * b
            for t, neg in terms[1:]:
                spread = spread - t * b if neg else spread + t * b
            out = product([spread] + others[:j] + others[j + 1:], negative)
            return [cast_to(out, node.outputs[0])]
    return None


def _divides_by(term, b):
    return any(key(f) == "true_div" and same(f.owner.inputs[1], b)
               for f in mul_factors(term)[0])


_B = P("add", const(1), P("exp", "u"), commute=True, name="b")


@rule(P("true_div", "a", P("mul", _B, "b")), P("true_div", "a", P("sqr", _B)),
      P("mul", "a", P("pow", _B, const(-2)), commute=True))
def div_by_square_of_one_plus_exp(a, b, u):
    """a / (1 + exp(u))**2 -> a * sigmoid(-u) * sigmoid(-u), also a * (1 + exp(u))**-2
    (the gradient of 1 / (1 + exp(u)), whose square overflows where the sigmoid is 0)"""
    s = M.sigmoid(_neg(u))
    return a * s * s


@node_rewriter(["mul"])
def sigmoid_times_exp(fgraph, node):
    """sigmoid(x) * exp(-x) -> 1 - sigmoid(x)   (the gradient of 1 / (1 + exp(-x)) again)"""
    factors, negative = mul_factors(node.outputs[0])
    for i, s in enumerate(factors):
        if key(s) != "sigmoid":
            continue
        x = s.owner.inputs[0]
        for j, e in enumerate(factors):
            if key(e) == "exp" and _negates(e.owner.inputs[0], x):
                rest = [f for k, f in enumerate(factors) if k not in (i, j)]
                return [cast_to(product(rest + [1 - s], negative), node.outputs[0])]
    return None


def _negates(a, b):
    """Whether ``a == -b`` as written: one of them is the negation of the other."""
    return (key(a) == "neg" and same(a.owner.inputs[0], b)) or (
        key(b) == "neg" and same(b.owner.inputs[0], a))


STABILIZE = RuleSet("stabilize", [log_of_softmax, crossentropy_of_softmax, sigmoid_of_exp,
                                  log1p_exp_to_softplus, log_of_sigmoid,
                                  log1p_of_neg_sigmoid, log_softmax_grad,
                                  crossentropy_softmax_grad, div_by_square_of_one_plus_exp,
                                  sigmoid_times_exp, distribute_over_quotients, div_mul_cancel])
