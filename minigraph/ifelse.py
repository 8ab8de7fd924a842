"""``theano.ifelse.ifelse``: choose between two whole values on a scalar condition.

Unlike ``T.switch``, which picks elementwise and needs both branches to broadcast together,
``ifelse`` returns one branch or the other, whatever their shapes. Theano evaluates only the
branch it takes; minigraph's linker runs a graph straight through, so here both branches are
computed and `IfElse` picks one: the results and gradients are Theano's, the saving of work
is not. Programs use it for values, not to skip an expensive branch, so this is rarely felt.
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType
from minigraph.tensor.basic import as_tensor_variable


class IfElse(Op):
    """``outputs[i] = then[i] if cond else else_[i]`` for ``n_outs`` pairs of values.

    Inputs are ``cond, then_0 .. then_{n-1}, else_0 .. else_{n-1}``. Each output has the
    dtype both branches upcast to and the static shape the two branches agree on.
    """

    __props__ = ("n_outs",)

    def __init__(self, n_outs):
        self.n_outs = n_outs

    def make_node(self, cond, *branches):
        cond = as_tensor_variable(cond)
        if cond.ndim != 0:
            raise GraphError(f"ifelse: the condition must be a scalar, got {cond.describe()}")
        branches = [as_tensor_variable(b) for b in branches]
        if len(branches) != 2 * self.n_outs:
            raise GraphError(f"ifelse: {self.n_outs} outputs need {2 * self.n_outs} branch "
                             f"values, got {len(branches)}")
        outputs = []
        for then, other in zip(branches[:self.n_outs], branches[self.n_outs:]):
            if then.ndim != other.ndim:
                raise GraphError(f"ifelse: the branches differ in rank: {then.describe()} "
                                 f"and {other.describe()}")
            shape = [a if a == b else None for a, b in zip(then.type.shape, other.type.shape)]
            dtype = np.result_type(then.dtype, other.dtype).name
            outputs.append(TensorType(dtype, shape=shape)())
        return Apply(self, [cond, *branches], outputs)

    def perform(self, node, inputs, output_storage):
        n = self.n_outs
        chosen = inputs[1:1 + n] if inputs[0] else inputs[1 + n:]
        for value, out, storage in zip(chosen, node.outputs, output_storage):
            # a copy: the output may be overwritten in place and must not alias a branch
            storage[0] = np.array(value, dtype=out.dtype, copy=True)

    def grad(self, inputs, outputs, output_grads):
        from minigraph.tensor.math import zeros_like

        cond, n = inputs[0], self.n_outs
        thens, others = inputs[1:1 + n], inputs[1 + n:]
        to_then = [_cast(ifelse(cond, g, zeros_like(g)), t) for g, t in zip(output_grads, thens)]
        to_else = [_cast(ifelse(cond, zeros_like(g), g), e) for g, e in zip(output_grads, others)]
        return [None, *to_then, *to_else]


def _cast(g, like):
    from minigraph.tensor.math import cast

    return g if g.dtype == like.dtype else cast(g, like.dtype)


def ifelse(condition, then_branch, else_branch, name=None):
    """``then_branch`` if the scalar ``condition`` is true, else ``else_branch``.

    Parameters
    ----------
    condition : scalar tensor
        Any dtype; nonzero means true.
    then_branch, else_branch : tensor or list of tensors
        Values of equal rank, pairwise; shapes may differ. Lists give a list back.
    name : str, optional
        A name for the output(s).

    Returns
    -------
    TensorVariable or list of TensorVariable

    Examples
    --------
    >>> import numpy as np, minigraph as theano, minigraph.tensor as T
    >>> a, b = T.dscalar("a"), T.dvector("b")
    >>> f = theano.function([a, b], ifelse(T.lt(a, 0), b[:2], b * a))
    >>> f(-1.0, np.array([1., 2., 3.])), f(2.0, np.array([1., 2., 3.]))
    (array([1., 2.]), array([2., 4., 6.]))
    """
    as_list = isinstance(then_branch, (list, tuple))
    thens = list(then_branch) if as_list else [then_branch]
    others = list(else_branch) if isinstance(else_branch, (list, tuple)) else [else_branch]
    if len(thens) != len(others):
        raise GraphError(f"ifelse: {len(thens)} 'then' values but {len(others)} 'else' values")
    outs = IfElse(len(thens)).make_node(condition, *thens, *others).outputs
    for i, out in enumerate(outs):
        out.name = name if name is None or len(outs) == 1 else f"{name}[{i}]"
    return list(outs) if as_list else outs[0]
