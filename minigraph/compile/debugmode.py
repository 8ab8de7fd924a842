"""``mode='DEBUG'``: run every call twice, unoptimised and optimised, and compare.

The unoptimised graph (FAST_COMPILE's passes, with a NaN/Inf check after every node) gives
the results the user receives; the FAST_RUN graph is run on the same inputs and must agree,
output by output and update by update. A disagreement names the output and the largest
difference, which points at a faulty rewrite or kernel.
"""

import numpy as np

from minigraph.graph.fg import FunctionGraph

from .linker import link
from .mode import FAST_RUN


class DebugModeError(AssertionError):
    """The optimised graph disagrees with the unoptimised one."""


def link_reference(in_vars, roots, n_outputs, name):
    """Compile the FAST_RUN version of the same graph (no checks)."""
    fgraph = FunctionGraph(in_vars, roots)
    for p in FAST_RUN.pipeline():
        p.apply(fgraph, exclude=FAST_RUN.exclude)
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
