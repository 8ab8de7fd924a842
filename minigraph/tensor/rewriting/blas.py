"""``gemm``: products that BLAS can finish in the same call (``tensor/blas.py``).

* ``dot(x, W) + b`` becomes one ``DotAdd`` call (a bias added into the product's buffer);
* ``z - a * dot(x, y)``, ``z + a * dot(x, y)`` and ``z - dot(x, y)`` of matrices, with ``a``
  a scalar, become one ``Gemm``: the SGD update ``W - lr * dot(h.T, g)`` of every weight
  matrix, computed as one ``gemm`` into a copy of ``W`` (or into ``z`` itself, when the
  ``inplace`` pass finds it dying there), where NumPy makes the product, then the scaled
  product, then the difference.

The rules fire only when the product (and its scaling) has no other reader, and only when
the result has exactly the type of the expression replaced.
"""

import numpy as np

from minigraph.graph.basic import Constant
from minigraph.graph.rewriting import P, RuleSet

from .. import math as M
from ..basic import constant
from ..blas import Dot, DotAdd, Gemm
from ..elemwise import DimShuffle
from .utils import exact, rule


@rule(P("add", P(Dot, "x", "W", name="d"), "b", commute=True), fit=exact)
def dot_plus_bias(fgraph, node, d, x, W, b):
    """dot(x, W) + b -> DotAdd(x, W, b)"""
    out = node.outputs[0]
    clients = fgraph.clients.get(d, [])
    if d.type != out.type or b.dtype != out.dtype or len(clients) != 1 \
            or clients[0][0] == "output":
        return None
    new = DotAdd().make_node(x, W, _unexpanded(b))
    new.trace = node.trace
    return new.outputs[0]


def _unexpanded(b):
    """``b`` without the leading broadcastable axes the addition gave it (a bias vector
    made a row): ``+=`` broadcasts it anyway, and the graph is one node shorter."""
    op = getattr(b.owner, "op", None)
    if isinstance(op, DimShuffle):
        n_new = len(op.new_order) - op.input_ndim
        if op.new_order == ("x",) * n_new + tuple(range(op.input_ndim)):
            return b.owner.inputs[0]
    return b


def _only_reader(fgraph, v, node):
    clients = fgraph.clients.get(v, [])
    return len(clients) == 1 and clients[0][0] is node


def _scalar(a):
    """The 0-d variable that the all-broadcastable ``a`` repeats (a scalar made a matrix by
    a ``DimShuffle``, or a one-element constant), else None."""
    if a.ndim == 0:
        return a
    if not all(a.broadcastable):
        return None
    if isinstance(a, Constant):
        return constant(np.asarray(a.data).reshape(()))
    op = getattr(a.owner, "op", None)
    if isinstance(op, DimShuffle) and op.input_ndim == 0:
        return a.owner.inputs[0]
    return None


def _negated(fgraph, a):
    """``-a``: a constant's negation, or the graph's ``neg(a)`` node where it has one (every
    weight's update scales by the same ``-lr``), else a new one."""
    if isinstance(a, Constant):
        return constant(-np.asarray(a.data))
    for client, _ in fgraph.clients.get(a, []):
        if client != "output" and getattr(client.op, "pattern_key", None) == "neg":
            return client.outputs[0]
    return M.neg(a)


def _gemm(fgraph, node, z, d, x, y, alpha, scale=None):
    """``Gemm(z, alpha, x, y, 1)`` for ``node``'s output, or None when it does not fit."""
    out = node.outputs[0]
    if z.ndim != 2 or d.ndim != 2 or z.type != out.type or d.dtype != out.dtype \
            or not _only_reader(fgraph, d, scale.owner if scale is not None else node) \
            or (scale is not None and not _only_reader(fgraph, scale, node)):
        return None
    dtype = out.dtype
    if alpha.dtype != dtype:
        alpha = M.cast(alpha, dtype)
    new = Gemm().make_node(z, alpha, x, y, constant(np.ones((), dtype)))
    new.trace = node.trace
    return new.outputs[0]


_DOT = P(Dot, "x", "y", name="d")
_SCALED = P("mul", _DOT, "a", commute=True, name="s")


@rule(P("sub", "z", _SCALED), P("add", "z", _SCALED, commute=True), fit=exact)
def dot_update(fgraph, node, z, d, x, y, a, s):
    """z -+ a * dot(x, y) -> Gemm(z, -+a, x, y, 1), for a scalar a"""
    alpha = _scalar(a)
    if alpha is None:
        return None
    if node.op.pattern_key == "sub":
        alpha = _negated(fgraph, alpha)
    return _gemm(fgraph, node, z, d, x, y, alpha, s)


@rule(P("sub", "z", _DOT), fit=exact)
def dot_subtracted(fgraph, node, z, d, x, y):
    """z - dot(x, y) -> Gemm(z, -1, x, y, 1)"""
    return _gemm(fgraph, node, z, d, x, y, constant(-np.ones((), z.dtype)))


GEMM = RuleSet("gemm", [dot_plus_bias, dot_update, dot_subtracted])
