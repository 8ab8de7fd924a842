"""Fast CPU GRU: one OpenBLAS GEMM per step plus one fused Numba epilogue.

A GEMM cannot run inside ``@njit`` without SciPy, so each step is ``np.matmul`` into a
preallocated buffer followed by one ``@njit`` pass that adds the biases, applies the gate math
(``gru_math``, with the vectorisable exp of ``vecmath``) and writes the state and everything
the backward needs, in one sweep over memory (``docs/kernels.md``, "The CPU backend").

* ``error_model="numpy"``: Python's error model puts a ZeroDivisionError branch on each
  division, which stops LLVM from vectorising the loop.
* ``fastmath={"contract"}`` lets LLVM fuse multiply-adds; no reassociation, so results stay
  deterministic and close to the reference.
* The forward epilogue is compiled serial and ``parallel=True`` (``prange`` over the batch);
  the parallel one runs only when Numba has more than one thread and the batch is large
  (``PARALLEL_MIN_ELEMENTS``): on one thread the serial one is as fast without the parfor call.
* The backward epilogue is always compiled with ``parallel=True``, even for one thread: Numba
  marks the arrays of a parfor body ``noalias``, and only then does LLVM vectorise this loop
  with 9 arrays (measured at B=200, H=512, 1 thread: 200 us against 600 us serial).
* For small batches ``h^T @ dgh`` is an outer product that NumPy's matmul runs slowly
  (1.2 ms at B=1, H=512); a Numba loop writes it at memory speed.
* The backward epilogue of step t adds the three contributions to dL/dh_t itself (output
  gradient, ``dh * z`` and ``dgh @ W_h^T`` from step t + 1), so no separate add pass runs.
* Whole-sequence functions allocate every buffer once; ``dW_h`` is one GEMM after the loop
  (split by columns: ``dgh`` equals ``dgx`` except in its n part, so only that part is kept).
  Their big arrays come from a `Workspace`: the previous call's, once the caller dropped
  them, so their pages are already mapped (no page faults on the next call).

Inputs are validated by ``kernels.get_kernel``; these functions assume contiguous arrays of
one float dtype.
"""

import contextlib
import functools

import numba
import numpy as np

from kernels import blas_threads
from kernels.vecmath import make_fast_exp
from kernels.gru_math import make_gru_math
from kernels.workspace import SHARED as WORKSPACE

__all__ = ["gru_step_fwd", "gru_step_bwd", "gru_seq_fwd", "gru_seq_bwd"]

FASTMATH = {"contract"}
PARALLEL_MIN_ELEMENTS = 1 << 15  # B * H below this: thread start-up costs more than it saves


def _make_epilogues(dtype):
    """Compile the forward epilogues (serial, parallel) and the backward one for one dtype."""
    m = make_gru_math(dtype, make_fast_exp(dtype))
    gru_point, gru_point_bwd = m.gru_point, m.gru_point_bwd

    def fwd(gx, gh, b, h, h_new, rzn_out, ghn_out):
        # Inputs and outputs are distinct arrays, and the gates go through one row slice each
        # (r_out, z_out, n_out): stores at j, H + j and 2H + j of one 2-d array keep the
        # serial loop from vectorising (6x slower at B=64, H=512, measured); reading and
        # writing one array would stop it too.
        B, H = h.shape
        for i in numba.prange(B):
            r_out, z_out, n_out = rzn_out[i, :H], rzn_out[i, H : 2 * H], rzn_out[i, 2 * H :]
            for j in range(H):
                ghn = gh[i, 2 * H + j] + b[2 * H + j]
                r, z, n, hn = gru_point(
                    gx[i, j], gx[i, H + j], gx[i, 2 * H + j],
                    gh[i, j] + b[j], gh[i, H + j] + b[H + j], ghn, h[i, j],
                )  # fmt: skip
                r_out[j] = r
                z_out[j] = z
                n_out[j] = n
                ghn_out[i, j] = ghn
                h_new[i, j] = hn

    @numba.njit(error_model="numpy", fastmath=FASTMATH, parallel=True)
    def bwd(dh_out, dh_direct, dh_gemm, accumulate, rzn, ghn, h, dgx, dgh, dh_direct_out):
        # dL/dh_t = dh_out (+ dh_direct + dh_gemm from step t + 1 when accumulate)
        B, H = h.shape
        for i in numba.prange(B):
            for j in range(H):
                dh = dh_out[i, j]
                if accumulate:
                    dh += dh_direct[i, j] + dh_gemm[i, j]
                r = rzn[i, j]
                ar, az, an, dhz = gru_point_bwd(dh, r, rzn[i, H + j], rzn[i, 2 * H + j],
                                                ghn[i, j], h[i, j])
                dgx[i, j] = ar
                dgx[i, H + j] = az
                dgx[i, 2 * H + j] = an
                dgh[i, j] = ar
                dgh[i, H + j] = az
                dgh[i, 2 * H + j] = an * r
                dh_direct_out[i, j] = dhz

    jit = functools.partial(numba.njit, error_model="numpy", fastmath=FASTMATH)
    return jit(parallel=False)(fwd), jit(parallel=True)(fwd), bwd


@functools.lru_cache(maxsize=None)
def _epilogues(dtype):
    return _make_epilogues(np.dtype(dtype).type)


def _parallel(B, H):
    """True when the epilogues of this problem size run on all of Numba's threads: a large
    batch, and OpenBLAS on one thread (its idle threads spin after each GEMM; sharing a
    2-core machine with them, a parallel epilogue waited for a core every step: T=30,
    B=200, H=512, 2 + 2 threads, ``gru_seq_fwd`` 267 ms against 76 serial, ``gru_seq_bwd``
    330 against 156)."""
    return B > 1 and B * H >= PARALLEL_MIN_ELEMENTS and numba.get_num_threads() > 1 and \
        blas_threads.threads() in (None, 1)


def _pick(dtype, B, H):
    """(forward, backward) epilogues for this problem size and the current Numba threads."""
    fwd_serial, fwd_parallel, bwd = _epilogues(np.dtype(dtype))
    return (fwd_parallel if _parallel(B, H) else fwd_serial), bwd


@contextlib.contextmanager
def _bwd_threads(B, H):
    """Run the backward epilogue (compiled ``parallel=True`` for its ``noalias`` arrays, see
    the module docstring) on the calling thread alone below ``PARALLEL_MIN_ELEMENTS``, as
    the forward's serial epilogue does. On all of a 2-core machine's threads, between
    OpenBLAS's 2-thread GEMMs whose idle threads spin, every step waited for a core:
    ``gru_seq_bwd`` at T=50, B=64, H=256 took 440 ms instead of 24 (benchmarks/custom_cell.py's
    fused GRU column)."""
    threads = numba.get_num_threads()
    serial = threads > 1 and not _parallel(B, H)
    if serial:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        if serial:
            numba.set_num_threads(threads)


SMALL_BATCH = 8  # up to here h^T @ dgh goes through _atb_small


@numba.njit(error_model="numpy", fastmath=FASTMATH)
def _atb_small(a, b, out):
    # out = a^T @ b for a few rows: row-wise axpy, vectorised along out's rows.
    for k in range(a.shape[1]):
        row = out[k]
        for c in range(b.shape[1]):
            row[c] = a[0, k] * b[0, c]
        for i in range(1, a.shape[0]):
            for c in range(b.shape[1]):
                row[c] += a[i, k] * b[i, c]


def _atb(a, b):
    """``a.T @ b`` (a: (M, K), b: (M, N)), fast also for tiny M."""
    if a.shape[0] > SMALL_BATCH:
        return np.matmul(a.T, b)
    out = np.empty((a.shape[1], b.shape[1]), dtype=a.dtype)
    _atb_small(a, b, out)
    return out


def gru_step_fwd(gx, h, W_h, b_h):
    """One GRU step forward; see ``kernels.gru_ref.gru_step_fwd`` for the contract."""
    B, H = h.shape
    fwd, _ = _pick(h.dtype, B, H)
    # One allocation for the three results and the GEMM's: at B=1 allocations cost as much
    # as the math.
    out = np.empty(8 * B * H, dtype=h.dtype)
    h_new, ghn = out[: B * H].reshape(B, H), out[B * H : 2 * B * H].reshape(B, H)
    rzn, gh = out[2 * B * H : 5 * B * H].reshape(B, 3 * H), out[5 * B * H :].reshape(B, 3 * H)
    np.matmul(h, W_h, out=gh)
    fwd(gx, gh, b_h, h, h_new, rzn, ghn)
    return h_new, (rzn, ghn)


def gru_step_bwd(dh_new, h, W_h, saved):
    """One GRU step backward; see ``kernels.gru_ref.gru_step_bwd`` for the contract."""
    B, H = h.shape
    _, bwd = _pick(h.dtype, B, H)
    dgx = np.empty((B, 3 * H), dtype=h.dtype)
    dgh = np.empty_like(dgx)
    dh_direct = np.empty_like(h)
    with _bwd_threads(B, H):
        bwd(dh_new, dh_new, dh_new, False, *saved, h, dgx, dgh, dh_direct)
    dh = np.matmul(dgh, W_h.T)
    dh += dh_direct
    return dgx, dh, _atb(h, dgh), dgh.sum(axis=0)


def gru_seq_fwd(gx, h0, W_h, b_h, *, overwrite_gx=False):
    """GRU over a sequence; see ``kernels.gru_ref.gru_seq_fwd`` for the contract.

    With ``overwrite_gx`` the gates ``RZN`` are written over ``gx`` (same shape; each step's
    inputs are dead once read), so the forward allocates 35 MB less per layer at T=30, B=200,
    H=512, float32. The epilogue writes each step's gates into a (B, 3H) scratch, copied over
    ``gx[t]`` after it (2% of the forward): writing them straight over ``gx[t]`` would alias
    the epilogue's input and output, which stops it vectorising.
    """
    T, B, H3 = gx.shape
    H = H3 // 3
    fwd, _ = _pick(h0.dtype, B, H)
    hs, GHN = (WORKSPACE.empty((T, B, H), h0.dtype) for _ in range(2))
    RZN = gx if overwrite_gx else WORKSPACE.empty((T, B, H3), h0.dtype)
    gh = np.empty((B, H3), dtype=h0.dtype)
    step = np.empty((B, H3), dtype=h0.dtype) if overwrite_gx else None
    h = h0
    for t in range(T):
        np.matmul(h, W_h, out=gh)
        if overwrite_gx:
            fwd(gx[t], gh, b_h, h, hs[t], step, GHN[t])
            RZN[t] = step
        else:
            fwd(gx[t], gh, b_h, h, hs[t], RZN[t], GHN[t])
        h = hs[t]
    return hs, (RZN, GHN)


def _hprev_t_at(h0, hs, rows):
    """``Hprev^T @ rows`` for Hprev = [h0; hs[:-1]] and rows (T, B, K), without building Hprev."""
    T, B, H = hs.shape
    out = _atb(h0, rows[0])
    if T > 1:
        out += _atb(hs[: T - 1].reshape((T - 1) * B, H), rows[1:].reshape((T - 1) * B, -1))
    return out


def gru_seq_bwd(dhs, h0, hs, W_h, saved, *, overwrite_saved=False):
    """Backpropagation through a sequence; see ``kernels.gru_ref.gru_seq_bwd``.

    With ``overwrite_saved`` the gradients take the memory of ``saved``: ``dgx`` is written
    over ``RZN`` (each step's gates are dead once read; through a (B, 3H) scratch, as in
    ``gru_seq_fwd``) and the n part of ``dgh`` over ``GHN``, so the backward allocates no
    (T, B, *) array (47 MB per layer at T=30, B=200, H=512, float32); without it both are
    fresh.
    """
    T, B, H = hs.shape
    _, bwd = _pick(hs.dtype, B, H)
    RZN, GHN = saved
    if overwrite_saved:
        dgx, anr = RZN, GHN
        step = np.empty((B, 3 * H), dtype=hs.dtype)
    else:
        dgx, anr = WORKSPACE.empty(RZN.shape, hs.dtype), WORKSPACE.empty(hs.shape, hs.dtype)
    # dgh = [dgx_r | dgx_z | an * r]: one (B, 3H) scratch, hot in cache for the step's GEMM,
    # instead of a (T, B, 3H) array; only its n part is kept (for dW_h), in anr.
    dgh = np.empty((B, 3 * H), dtype=hs.dtype)
    # Ping-pong buffers for the two parts of dL/dh_{t-1} computed at step t.
    direct = [np.empty_like(h0), np.empty_like(h0)]
    gemm = [np.empty_like(h0), np.empty_like(h0)]
    W_hT = W_h.T
    with _bwd_threads(B, H):
        for s, t in enumerate(range(T - 1, -1, -1)):
            cur, nxt = s % 2, (s + 1) % 2
            h_prev = hs[t - 1] if t > 0 else h0
            out = step if overwrite_saved else dgx[t]
            bwd(dhs[t], direct[cur], gemm[cur], s > 0, RZN[t], GHN[t], h_prev, out, dgh,
                direct[nxt])  # fmt: skip
            if overwrite_saved:
                dgx[t] = step
            np.matmul(dgh, W_hT, out=gemm[nxt])
            anr[t] = dgh[:, 2 * H :]
    dh0 = direct[T % 2] + gemm[T % 2]
    # dW_h = Hprev^T @ dGH over all steps, as two GEMMs on [r|z] columns of dgx and on anr.
    dW_h = np.empty((H, 3 * H), dtype=hs.dtype)
    dW_h[:, : 2 * H] = _hprev_t_at(h0, hs, dgx[:, :, : 2 * H])
    dW_h[:, 2 * H :] = _hprev_t_at(h0, hs, anr)
    db_h = np.concatenate(
        [dgx[:, :, : 2 * H].reshape(T * B, 2 * H).sum(axis=0), anr.reshape(T * B, H).sum(axis=0)]
    )
    return dgx, dh0, dW_h, db_h
