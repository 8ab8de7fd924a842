"""``until``: the stop condition a scan step may return (Theano's ``scan_module.until``).

The builder takes it out of what ``fn`` returned (:func:`take_until`) and gives the
condition to :func:`~minigraph.scan.op.make_scan`, which then builds a
:class:`~minigraph.scan.op.ScanUntil`.
"""

import minigraph.tensor as T
from minigraph.graph.basic import GraphError


class until:
    """Return ``outputs, until(condition)`` from scan's ``fn`` to stop the loop after the
    first step where the scalar ``condition`` is true (Theano's ``scan_module.until``).

    The outputs then hold the steps run, that step included; ``n_steps`` (or the
    sequences) bound the number of steps.

    >>> import minigraph as theano, minigraph.tensor as T
    >>> limit = T.dscalar("limit")
    >>> powers, _ = theano.scan(lambda p, m: (p * 2, until(p * 2 > m)), outputs_info=1.0,
    ...                         non_sequences=limit, n_steps=1024)
    >>> powers.eval({limit: 45.0}).tolist()
    [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    """

    def __init__(self, condition):
        cond = T.as_tensor_variable(condition)
        if cond.ndim != 0:
            raise GraphError(f"until: the condition must be a scalar, got a {cond.ndim}-d "
                             f"{cond.type.short()} ({cond.describe()}); reduce it, e.g. "
                             f"T.any(...) or T.all(...)")
        self.condition = cond


def take_until(result, ctx):
    """``(result without the until, [condition] or [])``."""
    if isinstance(result, until):
        return [], [result.condition]
    if not isinstance(result, (list, tuple)):
        return result, []
    stops = [r for r in result if isinstance(r, until)]
    if not stops:
        return result, []
    if len(stops) > 1:
        raise ctx.error("fn returned more than one until(...)")
    rest = [r for r in result if not isinstance(r, until)]
    return (rest[0] if len(rest) == 1 else rest), [stops[0].condition]
