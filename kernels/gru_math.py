"""The GRU gate math for one (batch row, hidden unit) pair, written once for every target.

The functions are ``@numba.njit(inline="always")``: the CPU epilogues in ``gru_cpu`` inline
them into vectorised loops, and numba-cuda turns the same dispatchers into inlined device
functions inside the kernels of ``gru_cuda`` (``docs/kernels.md``), so CPU, GPU and simulator run
the same formulas.

Numba types float literals as float64, which would silently widen float32 code (and emit f64
instructions on a GPU), so every constant is bound in the target dtype by the factory
``make_gru_math``.  The exponential is a parameter: the CPU passes the vectorisable
``fastexp`` one, CUDA passes ``math.exp`` (libdevice).

Equations (cuDNN / PyTorch variant, gate order r, z, n; ``ghn`` includes ``b_hn``)::

    r = sigmoid(gxr + ghr);  z = sigmoid(gxz + ghz);  n = tanh(gxn + r * ghn)
    h' = (1 - z) * n + z * h = n + z * (h - n)

and for an incoming gradient ``dh`` of ``h'``::

    an = dh * (1 - z) * (1 - n^2)       # d/d(pre-tanh)     = dgx_n
    ar = an * ghn * r * (1 - r)         # d/d(pre-sigmoid r) = dgx_r = dgh_r
    az = dh * (h - n) * z * (1 - z)     # d/d(pre-sigmoid z) = dgx_z = dgh_z
    dgh_n = an * r;  dh_direct = dh * z # the part of dh/dh_prev that skips the GEMM
"""

import math
from types import SimpleNamespace

import numba
import numpy as np

__all__ = ["make_gru_math", "libm_exp"]


@numba.njit(inline="always")
def libm_exp(x):
    """``math.exp`` as a dispatcher, so it can be passed to ``make_gru_math`` (CUDA: libdevice)."""
    return math.exp(x)


def make_gru_math(dtype, exp):
    """Build the scalar GRU helpers for one dtype and one ``exp`` implementation.

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}
        Type of every constant (and so of the arithmetic for arguments of that type).
    exp : numba dispatcher
        A jitted ``exp(x)``, ideally ``inline="always"`` (e.g. ``fastexp.fast_exp32`` or
        ``libm_exp``).

    Returns
    -------
    types.SimpleNamespace
        ``sigmoid(x)``, ``tanh(x)``, ``gru_point(gxr, gxz, gxn, ghr, ghz, ghn, h) ->
        (r, z, n, h_new)`` and ``gru_point_bwd(dh, r, z, n, ghn, h) -> (ar, az, an, dh_z)``,
        all ``@numba.njit(inline="always")``.

    Examples
    --------
    >>> import numpy as np
    >>> m = make_gru_math(np.float64, libm_exp)
    >>> round(m.sigmoid(0.0), 6), round(m.tanh(1.0), 6)
    (0.5, 0.761594)
    """
    dtype = np.dtype(dtype).type
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"make_gru_math: dtype must be float32 or float64, got {dtype}")
    one = dtype(1.0)
    two = dtype(2.0)

    @numba.njit(inline="always")
    def sigmoid(x):
        return one / (one + exp(-x))

    @numba.njit(inline="always")
    def tanh(x):
        # (1 - e) / (1 + e) with e = exp(-2x): one exp, one division, exact saturation at +-1
        # (exp clamps its argument, so e stays finite).  Absolute error ~1 ulp; relative error
        # grows near 0, where only absolute error matters for the GRU.
        e = exp(-two * x)
        return (one - e) / (one + e)

    @numba.njit(inline="always")
    def gru_point(gxr, gxz, gxn, ghr, ghz, ghn, h):
        r = sigmoid(gxr + ghr)
        z = sigmoid(gxz + ghz)
        n = tanh(gxn + r * ghn)
        return r, z, n, n + z * (h - n)

    @numba.njit(inline="always")
    def gru_point_bwd(dh, r, z, n, ghn, h):
        an = dh * (one - z) * (one - n * n)
        ar = an * ghn * r * (one - r)
        az = dh * (h - n) * z * (one - z)
        return ar, az, an, dh * z

    return SimpleNamespace(
        sigmoid=sigmoid, tanh=tanh, gru_point=gru_point, gru_point_bwd=gru_point_bwd
    )
