"""``theano.OpFromGraph``: a graph packaged as one op.

``OpFromGraph(inputs, outputs)`` is an op whose ``perform`` runs the compiled inner graph and
whose gradient is the inner graph's gradient, built by replacing the inner inputs with the
node's actual inputs and back-propagating the output gradients through the copy.
"""

import numpy as np

from minigraph.graph.basic import Apply, Constant, GraphError, Variable, clone_replace, where
from minigraph.gradient import grad
from minigraph.graph.op import Op
from minigraph.tensor.basic import as_tensor_variable

from .function import function


class OpFromGraph(Op):
    """An op computing ``outputs`` from ``inputs`` (symbolic variables of an inner graph).

    Parameters
    ----------
    inputs : list of Variable
        The inner graph's inputs (owner-less, not constants or shared variables).
    outputs : Variable or list of Variable
    inline : bool
        Accepted for Theano compatibility; the op always runs its compiled inner function.
    name : str, optional
    grad_overrides, lop_overrides, rop_overrides, connection_pattern
        Only their defaults are supported: the gradient is always the inner graph's.

    Examples
    --------
    >>> import numpy as np, minigraph.tensor as T
    >>> a, b = T.dmatrices("a", "b")
    >>> axpb = OpFromGraph([a, b], [2 * a + b])
    >>> x, y = T.dmatrices("x", "y")
    >>> axpb(x, y).eval({x: np.ones((1, 2)), y: np.ones((1, 2))}).tolist()
    [[3.0, 3.0]]
    """

    def __init__(self, inputs, outputs, inline=False, grad_overrides="default",
                 lop_overrides="default", rop_overrides="default", connection_pattern=None,
                 name=None, **kwargs):
        custom = [k for k, v in (("grad_overrides", grad_overrides),
                                 ("lop_overrides", lop_overrides),
                                 ("rop_overrides", rop_overrides),
                                 ("connection_pattern", connection_pattern))
                  if v not in ("default", None)]
        if custom:
            raise GraphError(f"OpFromGraph: {', '.join(custom)} are not supported; the "
                             f"gradient is the inner graph's")
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        for v in list(inputs) + list(outputs):
            if not isinstance(v, Variable):
                raise GraphError(f"OpFromGraph: inputs and outputs must be symbolic "
                                 f"variables, got {type(v).__name__}")
        for v in inputs:
            if v.owner is not None or isinstance(v, Constant):
                raise GraphError(f"OpFromGraph: input {v.describe()} must be a free input "
                                 f"variable, not computed or constant{where(v)}")
        self.inner_inputs, self.inner_outputs = list(inputs), list(outputs)
        self.name = name
        self._fn = None

    # identity, not structure: two OpFromGraphs are different ops even with equal graphs
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __str__(self):
        return self.name or f"OpFromGraph{{{len(self.inner_inputs)}->" \
                            f"{len(self.inner_outputs)}}}"

    def make_node(self, *inputs):
        if len(inputs) != len(self.inner_inputs):
            raise GraphError(f"{self}: takes {len(self.inner_inputs)} inputs, got "
                             f"{len(inputs)}")
        ins = []
        for i, (v, inner) in enumerate(zip(inputs, self.inner_inputs)):
            v = as_tensor_variable(v)
            if v.dtype != inner.dtype or v.ndim != inner.ndim:
                raise GraphError(f"{self}: input {i} must be {inner.type.short()} like "
                                 f"{inner.describe()}, got {v.type.short()}{where(v)}")
            ins.append(v)
        return Apply(self, ins, [o.type() for o in self.inner_outputs])

    def perform(self, node, inputs, output_storage):
        if self._fn is None:  # compiled on first use, once per op
            self._fn = function(self.inner_inputs, self.inner_outputs,
                                on_unused_input="ignore")
        results = self._fn(*inputs)
        for cell, value, out in zip(output_storage, results, node.outputs):
            cell[0] = np.asarray(value, dtype=out.dtype)

    def grad(self, inputs, outputs, output_grads):
        copies = clone_replace(self.inner_outputs, dict(zip(self.inner_inputs, inputs)))
        known = {c: g for c, g in zip(copies, output_grads)
                 if g is not None and np.dtype(c.dtype).kind in "fc"}
        floats = [v for v in inputs if np.dtype(v.dtype).kind in "fc"]
        if not known or not floats:
            return [None] * len(inputs)
        gs = dict(zip(floats, grad(None, floats, known_grads=known,
                                   disconnected_inputs="ignore")))
        return [gs.get(v) for v in inputs]
