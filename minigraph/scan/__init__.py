"""Loops in the graph: ``theano.scan`` and the ``Scan`` op it builds.

* :mod:`.builder`: ``scan()``, Theano's API lowered to one canonical form;
* :mod:`.op`: the ``Scan`` op (sequences, carries, consts in; carry traces and per-step
  outputs out) and :mod:`.loop`, the generated loop it runs;
* :mod:`.grad`: back-propagation through time, as a backward ``Scan`` reading the step
  values the forward loop stored (graph helpers in :mod:`.stepgraph`);
* :mod:`.rewrites`: ``SCAN``, the scan pass of the compilation pipeline (``scan_gru``, which
  fuses loops of ``gru_step``, is in :mod:`.gru_rewrite`; the order is in ``compile/mode.py``).
"""

from .builder import scan  # noqa: F401
from .until import until  # noqa: F401
from .op import Scan  # noqa: F401
