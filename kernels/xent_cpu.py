"""Softmax cross-entropy over rows, and its gradient, as one pass per row (Numba, CPU).

``minigraph.tensor.nnet``'s ``CrossentropySoftmax`` (``-log(softmax(x)[i, y[i]])``, what
the stabiliser makes of a softmax followed by the cross-entropy of integer targets) and its
gradient ``(softmax(x) - onehot(y)) * gz[:, None]`` ran as NumPy expressions: a max, a
subtraction, an exponential, a sum and a log, each a pass over the logits with its own
temporary. Here each row is done while it is in the first-level cache: its maximum, its
exponentials (``kernels/vecmath.py``'s, which LLVM vectorises) into a row buffer or the
gradient's row, their sum, and the gradient's scaling. ``benchmarks/softmax_xent.py`` times
both on one thread: for a char-RNN's (3200, 65) float32 logits, 0.29 ms against NumPy's 0.45
for the loss and 0.19 against 0.50 for the gradient (1.4-4.7x over its shapes and dtypes);
in a train step of ``benchmarks/custom_cell.py``'s tanh cell (small, 2 threads) NumPy's took
1.8 and 1.2 ms. The loss is ``log1p`` of the other classes' sum: a confident row's small
loss keeps its relative precision.

The kernels run on the calling thread: they follow the logits' GEMM, whose OpenBLAS
threads keep spinning a while after it (``docs/kernels.md``), so a parallel loop here would
wait for a core. The public functions check the targets first: the kernels index by them
unchecked.
"""

import threading
import types

import numba
import numpy as np

from kernels.vecmath import F32, F64

__all__ = ["ready", "supported", "warm", "xent_softmax", "xent_softmax_grad"]


@numba.njit(cache=True, inline="always")
def _row_max(x, i):
    """The maximum of row ``i``, with four running maxima: no chain of dependent compares."""
    n = x.shape[1]
    m0 = m1 = m2 = m3 = x[i, 0]
    j = 0
    while j + 4 <= n:
        m0, m1 = max(m0, x[i, j]), max(m1, x[i, j + 1])
        m2, m3 = max(m2, x[i, j + 2]), max(m3, x[i, j + 3])
        j += 4
    for k in range(j, n):
        m0 = max(m0, x[i, k])
    return max(max(m0, m1), max(m2, m3))


@numba.njit(cache=True, inline="always")
def _sum(e):
    """The sum of the vector ``e``, with four running sums (LLVM keeps a float sum in order,
    so one running sum is a chain of dependent adds)."""
    n = e.shape[0]
    s0 = e[0] - e[0]
    s1 = s2 = s3 = s0
    j = 0
    while j + 4 <= n:
        s0, s1, s2, s3 = s0 + e[j], s1 + e[j + 1], s2 + e[j + 2], s3 + e[j + 3]
        j += 4
    for k in range(j, n):
        s0 += e[k]
    return (s0 + s1) + (s2 + s3)


@numba.njit(cache=True, inline="always")
def _first(x, i, m):
    """The first column of row ``i`` holding ``m``."""
    for j in range(x.shape[1]):
        if x[i, j] == m:
            return j
    return 0


def _loss_rows(x, y, loss):
    e = np.empty(x.shape[1], x.dtype)  # one row's exponentials
    for i in range(x.shape[0]):
        m = _row_max(x, i)
        for j in range(x.shape[1]):  # no reduction here: vectorised
            e[j] = EXP(x[i, j] - m)  # noqa: F821 (the dtype's vectorisable exp, see _build)
        # log(1 + the others' sum), the maximum's 1 left out: a confident row's small loss
        # keeps its relative precision (log of a sum near 1 rounds it to the sum's ulp)
        e[_first(x, i, m)] = 0
        loss[i] = LOG1P(_sum(e)) + (m - x[i, y[i]])  # noqa: F821 (m - x: exact when close)


def _grad_rows(gz, x, y, out):
    for i in range(x.shape[0]):
        m = _row_max(x, i)
        for j in range(x.shape[1]):
            out[i, j] = EXP(x[i, j] - m)  # noqa: F821
        scale = gz[i] / _sum(out[i])
        for j in range(x.shape[1]):
            out[i, j] *= scale
        out[i, y[i]] -= gz[i]


def _build(fn, lib):
    """``fn`` compiled with ``lib``'s exp and log1p (``kernels.vecmath.F32`` or ``F64``): one
    body for both dtypes, one disk-cached specialisation each (their signatures differ)."""
    scope = dict(fn.__globals__, EXP=lib.exp, LOG1P=lib.log1p)
    return numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)(
        types.FunctionType(fn.__code__, scope, fn.__name__))


_KERNELS = {np.dtype(np.float32): (_build(_loss_rows, F32), _build(_grad_rows, F32)),
            np.dtype(np.float64): (_build(_loss_rows, F64), _build(_grad_rows, F64))}


def supported(x):
    """Whether the kernels take ``x`` (a non-empty float32/float64 matrix); else the op
    keeps its NumPy expression."""
    return type(x) is np.ndarray and x.dtype in _KERNELS and x.ndim == 2 and x.shape[1] > 0


_READY = {}  # dtype -> True once both kernels are compiled (or loaded from the disk cache)


def ready(dtype):
    """Whether the kernels of ``dtype`` are compiled; the first call starts compiling them
    in a background thread and says False, so that a caller keeps its NumPy expression
    meanwhile (compiling takes about a second, loading from Numba's disk cache 0.3 s: a
    train step would wait for either). :func:`xent_softmax` itself compiles when needed."""
    state = _READY.get(dtype)
    if state is None:
        _READY[dtype] = False
        threading.Thread(target=_compile, args=(dtype,), daemon=True,
                         name=f"minigraph-compile xent {dtype}").start()
        return False
    return state


def warm(dtypes=(np.float32, np.float64)):
    """Compile (or load) the kernels now, in this thread: what a long run reaches after its
    first steps (the benchmarks' steady state)."""
    for dtype in dtypes:
        _compile(np.dtype(dtype))


def _compile(dtype):
    nb = numba.from_dtype(dtype)
    mat, vec, ids = nb[:, ::1], nb[::1], numba.int64[::1]
    loss, grad = _KERNELS[dtype]
    loss.compile((mat, ids, vec))
    grad.compile((vec, mat, ids, mat))
    _READY[dtype] = True


def _check(x, y):
    """The kernels index rows by ``y`` unchecked: one target per row, each a class of
    ``x``, or a clear error here."""
    y = np.asarray(y)
    if x.ndim != 2 or y.ndim != 1 or len(y) != x.shape[0]:
        raise ValueError(f"softmax cross-entropy: {x.shape} logits need one target per row, "
                         f"got targets of shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"softmax cross-entropy: targets must be integers, got {y.dtype}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= x.shape[1]):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise IndexError(f"softmax cross-entropy: target {bad} out of range for "
                         f"{x.shape[1]} classes")
    return np.ascontiguousarray(y, np.int64)


def xent_softmax(x, y):
    """``-log(softmax(x)[i, y[i]])`` for every row ``i`` of ``x`` (the ``x.dtype`` vector).

    Examples
    --------
    >>> x = np.log(np.array([[1.0, 3.0], [2.0, 2.0]]))
    >>> np.round(xent_softmax(x, np.array([1, 0])), 6).tolist()  # -log(3/4), -log(1/2)
    [0.287682, 0.693147]
    """
    y = _check(x, y)
    loss = np.empty(x.shape[0], x.dtype)
    _KERNELS[x.dtype][0](np.ascontiguousarray(x), y, loss)
    return loss


def xent_softmax_grad(gz, x, y):
    """``(softmax(x) - onehot(y)) * gz[:, None]``: the gradient of :func:`xent_softmax`
    weighted by ``gz`` (one weight per row).

    Examples
    --------
    >>> x = np.log(np.array([[1.0, 3.0]]))
    >>> xent_softmax_grad(np.array([2.0]), x, np.array([1])).round(6).tolist()
    [[0.5, -0.5]]
    """
    y = _check(x, y)
    if np.shape(gz) != (x.shape[0],):
        raise ValueError(f"softmax cross-entropy gradient: {x.shape} logits need one weight "
                         f"per row, got weights of shape {np.shape(gz)}")
    out = np.empty(x.shape, x.dtype)
    _KERNELS[x.dtype][1](np.ascontiguousarray(gz, x.dtype), np.ascontiguousarray(x), y, out)
    return out
