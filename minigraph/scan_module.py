"""``theano.scan_module``: where Theano programs find ``scan`` and ``until``.

``return outputs, theano.scan_module.until(condition)`` in a scan step stops the loop; see
:class:`minigraph.scan.builder.until`.
"""

from minigraph.scan import scan, until  # noqa: F401
