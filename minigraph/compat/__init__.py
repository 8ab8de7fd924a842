"""Run Theano programs unchanged on minigraph.

``python -m minigraph.compat PROGRAM.py [args]`` (or the ``minigraph-theano`` command) runs a
program written for Theano with ``theano`` and all its submodules mapped to minigraph (see
`minigraph.compat.finder`); a Theano name minigraph lacks stops it with one line naming the
name and the program's line. In a notebook or a test, `install` maps ``theano`` in-process.

Examples
--------
>>> from minigraph.compat import install
>>> _ = install()
>>> import theano
>>> theano.tensor.nnet.sigmoid is __import__("minigraph").tensor.nnet.sigmoid
True
"""

from .finder import MissingModule, MissingName, TheanoFinder, install, uninstall  # noqa: F401
from .runner import main, run_module, run_path  # noqa: F401
