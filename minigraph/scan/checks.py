"""The builder's checks: the types ``fn`` returns, and a run-time guard on sequence lengths.

Every message names the scan and the user's line of the ``scan`` call, and where a value
built inside ``fn`` is at fault, the line in ``fn`` that built it. The classic Theano trap
(an initial value with a size-1, broadcastable dimension that ``fn``'s result does not have)
gets a message that says what to change.

``sequences=dict(input=x, taps=[-2, 0])`` needs ``x`` to have at least two rows; when ``x``'s
length is symbolic, :class:`CheckLength` checks it when the function runs, instead of an
empty loop or a NumPy error.
"""

import minigraph.tensor as T
from minigraph.graph.basic import Apply, GraphError
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType


class Ctx:
    """Names the scan and the user's line in build-time errors."""

    def __init__(self, what, where):
        self.what, self.where = what, where

    def error(self, msg):
        return GraphError(f"{self.what}: {msg} (scan called at {self.where})")


def check_carry_type(i, init, want, out, ctx):
    """fn's output ``i`` must have its initial value's dtype, rank and broadcast pattern."""
    got = out.type
    if not isinstance(want, TensorType):
        if got != want:
            raise ctx.error(f"output {i} of fn has type {got} but outputs_info[{i}] is {want}")
        return out
    gs = got.short() if hasattr(got, "short") else str(got)
    head = (f"output {i} of fn has type {gs} but its initial value (outputs_info[{i}]) is "
            f"{want.short()}")
    if not isinstance(got, TensorType) or got.ndim != want.ndim:
        raise ctx.error(f"{head}: the number of dimensions differs; return a value of the "
                        f"initial value's shape{built_at(out)}")
    if got.dtype != want.dtype:
        raise ctx.error(f"{head}: the dtypes differ; cast the result with "
                        f"T.cast(..., '{want.dtype}') or give the initial value dtype "
                        f"{got.dtype}{built_at(out)}")
    for d, (w, g) in enumerate(zip(want.shape, got.shape)):
        if w == 1 and g != 1:
            raise ctx.error(
                f"{head}: dimension {d} is broadcastable (size 1) in the initial value but "
                f"not in fn's result. Make the result broadcastable with "
                f"T.addbroadcast(result, {d}), or build the initial value without a fixed "
                f"size-1 dimension (e.g. T.alloc(0.0, n, ...) with a symbolic n, or a "
                f"T.matrix instead of a T.row){built_at(out)}")
        if w is not None and g is not None and w != g:
            raise ctx.error(f"{head}: dimension {d} has size {g} in the result but {w} in the "
                            f"initial value{built_at(out)}")
    return out


def built_at(var):
    node = var.owner
    return f"; the result was built at {node.trace}" if node is not None else ""


def check_update(shared, value, ctx):
    """An update computed in fn must have its shared variable's type."""
    if isinstance(shared.type, TensorType):
        value = T.as_tensor_variable(value)
    got, want = value.type, shared.type
    if got == want or (isinstance(want, TensorType) and want.is_super(got)):
        return value
    short = [t.short() if hasattr(t, "short") else str(t) for t in (got, want)]
    hint = ""
    if isinstance(got, TensorType) and isinstance(want, TensorType) and got.dtype != want.dtype:
        hint = f"; cast it with T.cast(..., '{want.dtype}')"
    raise ctx.error(f"the update of shared variable {shared.describe()} returned by fn has "
                    f"type {short[0]} but the variable is {short[1]}{hint}{built_at(value)}")




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

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0]]


def check_length(x, span, what, where):
    """``x``, checked at run time to have at least ``span`` rows."""
    return CheckLength(span, what, where)(x)
