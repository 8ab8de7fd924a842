"""GEMM forms: ``dot(x, W) + b`` becomes one ``DotAdd`` call.

NumPy evaluates ``dot(x, W) + b`` into two fresh arrays; ``DotAdd`` computes the product
once and adds the bias into that same buffer, so the layer costs one allocation and one
pass less. The rewrite fires only when the product has no other reader.
"""

import numpy as np

from minigraph.graph.basic import Apply
from minigraph.graph.op import Op
from minigraph.graph.rewriting import RuleSet, node_rewriter

from .blas import Dot, pooled_dot
from .elemwise import DimShuffle, Elemwise


class DotAdd(Op):
    """``dot(x, W) + b`` with ``b`` broadcastable to the product (a bias vector, typically),
    computed in one buffer."""

    def make_node(self, x, W, b):
        # the type is exactly that of the expression it replaces
        from .basic import as_tensor_variable
        from .math import add

        x, W, b = (as_tensor_variable(v) for v in (x, W, b))
        return Apply(self, [x, W, b], [add(Dot()(x, W), b).type()])

    def make_py_callable(self, node):
        dtype = np.dtype(node.outputs[0].dtype)

        def run(x, W, b):
            r = pooled_dot(x, W, dtype)
            if r.dtype != dtype or type(r) is not np.ndarray:
                r = np.asarray(r, dtype=dtype)
            r += b
            return r

        return run

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import _fit_grad

        x, W, b = inputs
        gz = output_grads[0]
        return Dot().grad([x, W], [None], [gz]) + [_fit_grad(gz, b)]


@node_rewriter([Elemwise])
def dot_plus_bias(fgraph, node):
    """dot(x, W) + b -> DotAdd(x, W, b)"""
    op = node.op
    if op.scalar_op.name != "add" or op.inplace is not None:
        return None
    out = node.outputs[0]
    for k, (d, b) in enumerate((node.inputs, node.inputs[::-1])):
        if d.owner is None or not isinstance(d.owner.op, Dot) or d.type != out.type:
            continue
        if len(fgraph.clients.get(d, [])) != 1 or any(c == "output" for c, _ in
                                                       fgraph.clients.get(d, [])):
            continue
        if b.dtype != out.dtype:
            continue
        x, W = d.owner.inputs
        new = DotAdd().make_node(x, W, _unexpanded(b))
        if new.outputs[0].type != out.type:
            return None
        new.trace = node.trace
        return [new.outputs[0]]
    return None


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
