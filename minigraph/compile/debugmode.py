"""``mode='DEBUG'``: run every call twice, unoptimised and optimised, and compare.

The unoptimised graph (FAST_COMPILE's passes, with a NaN/Inf check after every node) gives
the results the user receives; the FAST_RUN graph is run on the same inputs and must agree,
output by output and update by update. A disagreement names the output and the largest
difference, which points at a faulty rewrite or kernel.
"""

import numpy as np

from minigraph.graph.fg import FunctionGraph

from .linker import link
from .mode import FAST_RUN, Mode, get_mode


class DebugModeError(AssertionError):
    """The optimised graph disagrees with the unoptimised one."""


def DebugMode(optimizer=FAST_RUN):
    """Theano's ``DebugMode``: each call compared against the graph ``optimizer`` compiles.

    Parameters
    ----------
    optimizer : Mode or str
        The mode (or mode name) whose optimised graph every call is checked against; a mode
        with an extra pass (``FAST_RUN.register(my_pass)``) checks that pass.

    Examples
    --------
    >>> import minigraph as theano, minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> f = theano.function([x], T.exp(x) * 1, mode=DebugMode())
    >>> f([0.0]).tolist()
    [1.0]
    """
    return Mode("DebugMode", passes=["merge"], check="debug", reference=get_mode(optimizer))


def link_reference(mode, in_vars, roots, n_outputs, name):
    """Compile the optimised version of the same graph (no checks): ``mode.reference``'s
    passes, FAST_RUN's by default."""
    ref = mode.reference or FAST_RUN
    fgraph = FunctionGraph(in_vars, roots)
    for p in ref.pipeline():
        p.apply(fgraph, exclude=ref.exclude)
    return link(fgraph, n_outputs, name=f"{name or 'fn'}_fast_run")


def compare(fn, values, outs, new_values):
    """Run the optimised graph on ``values`` and check it against ``outs``/``new_values``."""
    ref_outs, ref_new = fn._debug_ref.run(*values)
    names = [f"output {i}" for i in range(len(outs))] + [
        f"update of {t.describe()}" for t in fn._update_targets]
    for what, a, b in zip(names, list(outs) + list(new_values), list(ref_outs) + list(ref_new)):
        if not isinstance(a, np.ndarray):
            continue
        a, b = np.asarray(a), np.asarray(b)
        tol = 1e-4 if a.dtype in (np.float32, np.float16) else 1e-7
        if a.shape != b.shape or not np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True):
            diff = np.max(np.abs(a - b)) if a.shape == b.shape else "shape"
            raise DebugModeError(
                f"DEBUG mode: {what} of {fn._what()} differs between the unoptimised and the "
                f"FAST_RUN graph (max abs difference {diff}, shapes {a.shape} vs {b.shape})")
