"""minigraph: a small, fast, Theano-style symbolic-graph framework.

``import minigraph as theano`` and ``import minigraph.tensor as T`` give Theano's API:
symbolic variables, ``shared``, ``grad``, ``scan`` and ``function``.
"""

from . import config as _config_module
from .config import change_flags, config  # noqa: F401
from .compile.function import Function, In, Param, function  # noqa: F401
from .compile.mode import FAST_COMPILE, FAST_RUN, Mode  # noqa: F401
from .compile.sharedvalue import SharedVariable, shared  # noqa: F401
from .gradient import grad  # noqa: F401
from .tensor.blas import dot  # noqa: F401
from . import gradient  # noqa: F401
from . import tensor  # noqa: F401
from . import printing  # noqa: F401
from .printing import pp  # noqa: F401
from . import updates  # noqa: F401
from .compile.builders import OpFromGraph  # noqa: F401
from .compile.io import Out  # noqa: F401
from .graph.basic import Apply, Constant, Variable  # noqa: F401
from .graph.fg import FunctionGraph  # noqa: F401
from .graph.op import Op  # noqa: F401
from .graph.type import Type  # noqa: F401
from .scan import scan  # noqa: F401
from . import scan_module  # noqa: F401
from .scan_views import clone, foldl, foldr, map, reduce  # noqa: F401

__version__ = "0.1.0"
del _config_module
