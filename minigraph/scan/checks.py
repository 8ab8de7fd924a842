"""A run-time guard the builder puts on sequences whose length is only known at run time.

``sequences=dict(input=x, taps=[-2, 0])`` needs ``x`` to have at least two rows; when ``x``'s
length is symbolic the check happens when the function runs, with a message naming the
scan and the user's line instead of an empty loop or a NumPy error.
"""

from minigraph.graph.basic import Apply
from minigraph.graph.op import Op


class CheckLength(Op):
    """Identity on ``x`` that raises when ``x`` has fewer than ``span`` rows."""

    __props__ = ("span", "what", "where")
    view_map = {0: [0]}

    def __init__(self, span, what, where):
        self.span, self.what, self.where = span, what, where

    def __str__(self):
        return f"CheckLength{{>={self.span}}}"

    def make_node(self, x):
        return Apply(self, [x], [x.type()])

    def make_py_callable(self, node):
        span, what, where = self.span, self.what, self.where

        def run(x):
            if len(x) < span:
                raise ValueError(f"{what} needs at least {span} rows, got a sequence of shape "
                                 f"{x.shape} (scan called at {where})")
            return x

        return run

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = self.make_py_callable(node)(inputs[0])

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0]]


def check_length(x, span, what, where):
    """``x``, checked at run time to have at least ``span`` rows."""
    return CheckLength(span, what, where)(x)
