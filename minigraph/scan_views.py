"""``theano.map``, ``theano.reduce``, ``theano.foldl`` and ``theano.foldr``: ``scan`` with a
fixed shape of loop (Theano's ``theano.scan_module.scan_views``).

``map`` applies ``fn`` to each step of the sequences with nothing fed back; ``reduce`` feeds
its outputs back and keeps only the last step's value; ``foldl``/``foldr`` are ``reduce``
running forwards/backwards. Each returns ``(outputs, updates)`` as ``scan`` does.
``clone`` (``theano.clone``, which Theano also kept with scan) copies a graph with some
variables replaced.
"""

from minigraph.graph.basic import GraphError, Variable, clone_replace
from minigraph.scan import scan


def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False,
        mode=None, name=None):
    """``fn`` applied to every step of ``sequences`` (the results stacked).

    >>> import numpy as np, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> sq, _ = map(lambda v: v ** 2, x)
    >>> sq.eval({x: np.array([1.0, 2.0, 3.0])}).tolist()
    [1.0, 4.0, 9.0]
    """
    return scan(fn, sequences=sequences, outputs_info=[], non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode,
                name=name)


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None,
           name=None):
    """The last step of ``scan(fn, sequences, outputs_info, non_sequences)``: a reduction
    whose running value(s) ``fn`` receives after the sequence entries.

    >>> import numpy as np, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> total, _ = reduce(lambda v, acc: acc + v, x, T.constant(0.0, dtype="float64"))
    >>> float(total.eval({x: np.array([1.0, 2.0, 3.0])}))
    6.0
    """
    outs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info,
                         non_sequences=non_sequences, go_backwards=go_backwards, mode=mode,
                         name=name)
    if isinstance(outs, (list, tuple)):
        return [o[-1] for o in outs], updates
    return outs[-1], updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the first step to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, mode=mode,
                  name=name)


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the last step to the first.

    >>> import numpy as np, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> first, _ = foldr(lambda v, acc: v, x, T.constant(0.0, dtype="float64"))
    >>> float(first.eval({x: np.array([1.0, 2.0, 3.0])}))
    1.0
    """
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, mode=mode,
                  name=name)


def clone(output, replace=None, strict=True, share_inputs=True):
    """A copy of the graph computing ``output`` with ``replace`` = {old: new} substituted.

    ``output`` is a variable or a list of them; ``replace`` a dict or a list of pairs. With
    ``strict`` a replacement must have the type of the variable it replaces.

    >>> import numpy as np, minigraph.tensor as T
    >>> x, y = T.dscalars("x", "y")
    >>> z = clone(x * 2 + 1, replace={x: y})
    >>> float(z.eval({y: 3.0}))
    7.0
    """
    if not share_inputs:
        raise GraphError("clone(share_inputs=False) is not supported: the copy always uses "
                         "the original graph inputs")
    pairs = list(replace.items()) if isinstance(replace, dict) else list(replace or ())
    for old, new in pairs:
        if not isinstance(old, Variable) or not isinstance(new, Variable):
            raise GraphError(f"clone: replace must map variables to variables, got "
                             f"{old!r} -> {new!r}")
        if strict and old.type != new.type:
            raise GraphError(f"clone: {new.describe()} of type {new.type} cannot replace "
                             f"{old.describe()} of type {old.type} (pass strict=False)")
    single = not isinstance(output, (list, tuple))
    outs = clone_replace([output] if single else list(output), dict(pairs))
    return outs[0] if single else outs
