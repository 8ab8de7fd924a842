"""Test values (Theano's ``config.compute_test_value``): find shape errors while building.

With the flag on, every new node computes its outputs' test values at once, with its op's
``perform``, from its inputs' test values: ``x.tag.test_value`` set by the user, the value
of a constant or of a shared variable. A shape error then stops the program at the line
that built the node, not later inside a compiled function. The flag says what to do when
an input has no test value: ``'ignore'`` (skip the node), ``'warn'``, ``'raise'`` or
``'pdb'`` (open the debugger).

Nodes built while compiling (rewrites, scan bodies) follow ``compute_test_value_opt``
instead, ``'off'`` by default as in Theano, so compiling costs nothing more.
"""

import contextlib
import sys
import warnings

import numpy as np

from minigraph.config import config

from .basic import UserLineError, with_user_line

_MISSING = object()


class TestValueError(UserLineError, ValueError):
    """An input has no test value (``compute_test_value='raise'``)."""

    __test__ = False  # a library class, not a pytest test


def filter_test_value(var, value):
    """``value`` checked and converted to ``var``'s type (a downcast is allowed)."""
    if hasattr(var.type, "dtype") and hasattr(var.type, "shape"):
        return var.type.filter(value, allow_downcast=True,
                               what=f"test value of {var.describe()}")
    return var.type.filter(value)


def get_test_value(var, default=None):
    """The test value of ``var``: its tag's, a constant's data, or a shared variable's value
    (``default`` when it has none).

    >>> import numpy as np, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> x.tag.test_value = [1.0, 2.0]
    >>> get_test_value(x).tolist(), get_test_value(T.constant(3.0)).tolist()
    ([1.0, 2.0], 3.0)
    >>> get_test_value(x * 2) is None  # computed only while config.compute_test_value is on
    True
    """
    if hasattr(var, "data") and var.owner is None:
        return var.data
    if hasattr(var, "get_value") and var.owner is None:
        return var.get_value(borrow=True)
    return var.tag.get("test_value", default)


_quiet = [0]  # > 0 inside library code building inner graphs (scan bodies and gradients)


@contextlib.contextmanager
def quietly():
    """Nodes built inside get test values only when every input has one, silently: inner
    graphs read placeholders that have none, which is not the user's mistake."""
    _quiet[0] += 1
    try:
        yield
    finally:
        _quiet[0] -= 1


def compute_test_values(node):
    """Give ``node``'s outputs test values (called for every new node while the flag is on)."""
    mode = config.compute_test_value
    if _compiling():
        mode = config.compute_test_value_opt
    elif _quiet[0] and mode != "off":
        mode = "ignore"
    if mode == "off":
        return
    values = []
    for i, inp in enumerate(node.inputs):
        value = get_test_value(inp, default=_MISSING)
        if value is _MISSING:
            _missing(node, i, inp, mode)
            return
        values.append(value)
    destroyed = {i for ins in getattr(node.op, "destroy_map", {}).values() for i in ins}
    values = [np.copy(v) if i in destroyed else v for i, v in enumerate(values)]
    cells = [[None] for _ in node.outputs]
    try:
        node.op.perform(node, values, cells)
    except Exception as e:
        raise _retyped(e, node, values) from e
    for out, cell in zip(node.outputs, cells):
        out.tag["test_value"] = filter_test_value(out, cell[0])


def _compiling():
    """True inside ``function()``: its rewrites build nodes the user never sees."""
    from minigraph.compile.function import function  # compile/ sits above graph/

    code = function.__code__
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def _missing(node, i, inp, mode):
    if mode == "ignore":
        return
    name = inp.name or "the input"
    msg = with_user_line(
        f"compute_test_value is {mode!r}: input {i} ({inp.describe()}) of {node.op} has no "
        f"test value; set {name}.tag.test_value = <an array>, or config.compute_test_value "
        f"= 'off'")
    if mode == "warn":
        warnings.warn(msg, stacklevel=4)
    elif mode == "pdb":
        import pdb  # the debugger, only when compute_test_value='pdb' asks for it

        print(msg, file=sys.stderr)
        pdb.set_trace()
    else:
        raise TestValueError(msg)


def _retyped(e, node, values):
    shapes = ", ".join(str(np.shape(v)) for v in values)
    msg = with_user_line(f"{e}\n  computing the test value of {node.op} on inputs of shapes "
                         f"{shapes} (config.compute_test_value is on)")
    try:
        return type(e)(msg)
    except Exception:
        return TestValueError(msg)
