"""Output buffers of compiled elementwise kernels: fresh, or reused from the shared workspace.

Its own module because both ``fusion`` (whose kernels call :func:`claim_buffer`) and
``inplace`` (whose ``reuse_buffers`` pass switches it on, and which reads ``FusedElemwise``)
need it; here neither has to import the other's internals back.
"""

import numpy as np

from kernels.workspace import SHARED, fresh_empty


def claim_buffer(reuse, shape, dtype):
    """An array of ``shape``/``dtype`` for a fused kernel's output.

    With ``reuse``, it comes from the workspace the GRU kernels also draw on (an array of a
    finished call that nobody holds any more, so its pages are mapped; shared by all nodes, so
    it holds what is live at once, not one buffer per node), else it is a new one (on huge
    pages when big: ``kernels/workspace.py``'s ``fresh_empty``).

    Examples
    --------
    >>> claim_buffer(False, (2, 3), np.float32).shape
    (2, 3)
    """
    if not reuse:
        return fresh_empty(shape, dtype)
    return SHARED.empty(shape, dtype)
