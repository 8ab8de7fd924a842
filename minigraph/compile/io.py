"""``theano.Out``: a function output with Theano's ``borrow`` flag.

Theano's ``Out(variable, borrow=True)`` let a compiled function return its internal buffer
instead of a copy. minigraph never hands out a buffer it will write again (see
`minigraph.compile.function`: outputs that alias inputs, shared values or other outputs are
copied), so ``borrow`` changes nothing and ``Out`` gives back the variable itself.
"""

from minigraph.graph.basic import GraphError, Variable


def Out(variable, borrow=False):
    """The output ``variable`` for ``function(..., outputs=[Out(v, borrow=True)])``.

    Parameters
    ----------
    variable : Variable
    borrow : bool
        Accepted for Theano compatibility; results are always safe to keep.

    Examples
    --------
    >>> import minigraph as theano, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> f = theano.function([x], theano.Out(x * 2, borrow=True))
    >>> f([1.0, 2.0]).tolist()
    [2.0, 4.0]
    """
    if not isinstance(variable, Variable):
        raise GraphError(f"Out() needs a symbolic variable, got {type(variable).__name__}")
    return variable
