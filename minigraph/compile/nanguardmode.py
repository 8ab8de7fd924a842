"""``NanGuardMode``: stop at the first node that produces a NaN, an Inf or a huge value.

The error names the op, the output and the user's line that created the node, which is the
fastest way to find where a training run goes wrong.
"""

import numpy as np

from .mode import Mode


class NanGuardError(FloatingPointError):
    """A node produced NaN/Inf (or a value above 1e10 with ``big_is_error``)."""


class NanGuardMode(Mode):
    """FAST_RUN with a check after every node.

    Parameters
    ----------
    nan_is_error, inf_is_error, big_is_error : bool
        Which values are errors (``big`` means an absolute value above 1e10).
    """

    def __init__(self, nan_is_error=True, inf_is_error=True, big_is_error=False,
                 optimizer="FAST_RUN", **kwargs):
        kwargs.setdefault("exclude", ("fusion", "inplace"))
        kwargs.setdefault("name", "NanGuardMode")
        kwargs.setdefault("check", "nan")
        super().__init__(nan_is_error=nan_is_error, inf_is_error=inf_is_error,
                         big_is_error=big_is_error, **kwargs)


def make_node_check(mode):
    """The ``_check(node, values)`` callback the linker calls after each node."""
    nan, inf, big = mode.nan_is_error, mode.inf_is_error, mode.big_is_error
    if mode.check == "debug":
        nan = inf = True

    def check(node, values):
        for out, v in zip(node.outputs, values):
            if not isinstance(v, np.ndarray) or v.dtype.kind not in "fc" or v.size == 0:
                continue
            problem = None
            if nan and np.isnan(v).any():
                problem = "NaN"
            elif inf and np.isinf(v).any():
                problem = "Inf"
            elif big and np.nanmax(np.abs(v)) > 1e10:
                problem = "a value above 1e10"
            if problem:
                raise NanGuardError(
                    f"{problem} in output {out.index} of {node.op} (inputs: "
                    f"{', '.join(i.describe() for i in node.inputs)}), node created at "
                    f"{node.trace}"
                )

    return check
