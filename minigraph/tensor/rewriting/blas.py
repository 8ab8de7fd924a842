"""``gemm``: ``dot(x, W) + b`` becomes one ``DotAdd`` call (``tensor/blas.py``).

The rule fires only when the product has no other reader: ``DotAdd`` writes the bias into
the product's buffer.
"""

from minigraph.graph.rewriting import P, RuleSet

from ..blas import Dot, DotAdd
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


GEMM = RuleSet("gemm", [dot_plus_bias])
