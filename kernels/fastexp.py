"""The GRU's vectorisable ``exp``, now part of :mod:`kernels.vecmath` (kept for imports)."""

from kernels.vecmath import fast_exp32, fast_exp64, make_fast_exp

__all__ = ["make_fast_exp", "fast_exp32", "fast_exp64"]
