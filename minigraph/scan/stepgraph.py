"""Graph helpers for the backward step of :mod:`minigraph.scan.grad`.

* :func:`clone_with_memo`: ``clone_replace`` that tells which clone each variable got, so the
  backward step can find the forward step's values it recomputes;
* :func:`is_view`: whether a value is only a view (or the shape) of the step's inputs, free
  to recompute rather than store;
* :func:`join_slice_grads`: the gradient of a value read as slices that tile one axis (an
  LSTM's four gates cut out of one product, a state split into ``h`` and ``c``) is built
  by ``grad`` as zeros plus one ``inc_subtensor`` per slice, summed; a join of the slices'
  gradients is the same array with one copy instead of an allocation, one copy and one
  addition per slice (the rewrite itself is ``join_tiled_slices`` of
  ``minigraph/tensor/rewriting/canonicalize.py``, which the canonicalize pass also applies
  to every graph; here it runs before the backward step decides what to store).
"""

from minigraph.graph.basic import clone_replace, toposort
from minigraph.graph.rewriting import is_op
from minigraph.tensor.elemwise import DimShuffle
from minigraph.tensor.shape import Reshape, Shape, SpecifyShape
from minigraph.tensor.rewriting.canonicalize import join_tiled_slices
from minigraph.tensor.subtensor import Subtensor


def clone_with_memo(outputs, replace, memo):
    """``clone_replace(outputs, replace)`` that also fills ``memo`` = {old: new}.

    >>> import minigraph.tensor as T
    >>> x, y = T.dscalar("x"), T.dscalar("y")
    >>> memo = {}
    >>> [out] = clone_with_memo([T.exp(x) + 1], {x: y}, memo)
    >>> memo[x] is y and len(memo) == 3  # x, exp(x) and the sum
    True
    """
    return clone_replace(outputs, replace, memo)


def is_view(v):
    """True when ``v`` is a view (or the shape) of leaves: free to recompute."""
    views = (DimShuffle, Reshape, Shape, SpecifyShape, Subtensor)
    while v.owner is not None:
        if not isinstance(v.owner.op, views):
            return False
        if any(i.owner is not None and not is_view(i) for i in v.owner.inputs[1:]):
            return False
        v = v.owner.inputs[0]
    return True


def join_slice_grads(values):
    """``values`` with each sum of slice gradients that tile an axis of one value replaced by
    the join of those gradients (see the module docstring); sums are rebuilt inputs first,
    so a sum that reads a joined one sees the join."""
    memo = {}
    for node in toposort([v for v in values if v is not None]):
        new_inputs = [memo.get(i, i) for i in node.inputs]
        outs = node.outputs
        if any(a is not b for a, b in zip(new_inputs, node.inputs)):
            outs = node.clone_with_new_inputs(new_inputs).outputs
        memo.update(zip(node.outputs, outs))
        if is_op(outs[0], "add"):
            memo[node.outputs[0]] = join_tiled_slices(outs[0]) or outs[0]
    return [None if v is None else memo.get(v, v) for v in values]
