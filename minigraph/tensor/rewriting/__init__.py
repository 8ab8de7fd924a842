"""Tensor rewrites, one identity per rule, grouped by purpose into the passes of a mode.

* :mod:`.canonicalize` -- ``CANONICALIZE``: algebraic clean-ups (``x * 1 -> x``);
* :mod:`.stabilize` -- ``STABILIZE``: numerically safe forms and their gradients
  (``log(sigmoid(x)) -> -softplus(-x)``);
* :mod:`.specialize` -- ``SPECIALIZE``: cheaper ops (``x ** 2 -> sqr(x)``);
* :mod:`.blas` -- ``GEMM``: ``dot(x, W) + b -> DotAdd(x, W, b)``;
* :mod:`.useless` -- ``USELESS``: fills, copies and reductions gradients leave
  (``inc_subtensor(zeros_like(x)[idx], g)`` without the zeros pass).

Fusion and in-place reuse, which read whole regions rather than one node, are in
``tensor/fusion.py`` and ``tensor/inplace.py``. How rules are written: ``docs/rewrites.md``.
"""

from .blas import GEMM  # noqa: F401
from .canonicalize import CANONICALIZE  # noqa: F401
from .specialize import SPECIALIZE  # noqa: F401
from .stabilize import STABILIZE  # noqa: F401
from .useless import USELESS  # noqa: F401
