"""CUDA GRU backend (Numba-CUDA): host side, launch configuration and sequence driving.

The device code lives in ``_cuda_tiles``; this module picks tile shapes and grids, moves
arrays and drives the sequence.  NumPy arrays in, NumPy arrays out; within a sequence every
buffer stays on the device (inputs are copied up once, results down once).

* Step kernels: forward = one launch (GEMM tile + gate math); backward = one launch (gate
  gradients + ``dgh @ W_h^T`` tile) plus one ``atb`` launch for ``dW_h`` and ``db_h``.
* Sequences: ``seq_mode="persistent"`` runs all T steps in one cooperative launch with a grid
  barrier per step (the design for a real GPU, where per-step launches from Python cost
  tens of microseconds each); ``"per_step"`` launches the step kernel T times.  ``"auto"`` is
  persistent on a real GPU and per-step in the simulator, whose grid sync is only correct for
  a single block (persistent runs there with one block, which tests use).
* Tile shapes are parameters (``Tiles``): tiny in the simulator (each simulated thread costs
  about a millisecond), bigger on a GPU.  The GPU defaults are educated guesses: no GPU was
  available when this was written, so they are untuned.

Inputs are validated by ``kernels.get_kernel``; these functions assume contiguous arrays of
one float dtype.
"""

import functools

import numba
import numpy as np
from numba import cuda

from kernels._cuda_tiles import Tiles, build

__all__ = [
    "Tiles",
    "SIMULATOR",
    "default_tiles",
    "gru_step_fwd",
    "gru_step_bwd",
    "gru_seq_fwd",
    "gru_seq_bwd",
]

SIMULATOR = bool(numba.config.ENABLE_CUDASIM)
SIM_TILES = Tiles(TB=2, TJ=4, TK=4, RB=1)
SIM_MAX_BLOCKS = 2  # tile-stride loops let two simulated blocks cover any problem
SEQ_MODES = ("auto", "persistent", "per_step")


def default_tiles(B, dtype=np.float32):
    """Tile shape for a batch of ``B`` rows on the active target.

    Parameters
    ----------
    B : int
        Batch size.
    dtype : numpy dtype
        float64 tiles use half the K-step, to stay within 48 KB of shared memory.

    Returns
    -------
    Tiles
        Tiny tiles in the simulator; on a GPU fewer rows per block for small batches.

    Examples
    --------
    >>> t = default_tiles(200)
    >>> t.TB % t.RB
    0
    """
    if SIMULATOR:
        return SIM_TILES
    TK = 32 if np.dtype(dtype).itemsize <= 4 else 16
    if B <= 4:
        return Tiles(TB=4, TJ=32, TK=TK, RB=1)
    if B <= 32:
        return Tiles(TB=16, TJ=32, TK=TK, RB=2)
    return Tiles(TB=32, TJ=32, TK=TK, RB=4)


@functools.lru_cache(maxsize=None)
def _kernels(dtype, tiles):
    return build(np.dtype(dtype).type, Tiles(*tiles))


def _setup(dtype, B, tiles):
    return _kernels(np.dtype(dtype), tuple(tiles or default_tiles(B, dtype)))


def _ceil(a, b):
    return (a + b - 1) // b


def _grid(n_tiles):
    """Blocks for a non-cooperative launch: one per tile (capped in the simulator)."""
    return max(1, min(n_tiles, SIM_MAX_BLOCKS) if SIMULATOR else n_tiles)


def _persistent_grid(kernel, args, block, n_tiles):
    """Blocks for a cooperative launch: at most as many as can be co-resident."""
    if SIMULATOR:
        return 1
    compiled = kernel.compile(tuple(kernel.typeof_pyval(a) for a in args))
    return max(1, min(n_tiles, compiled.max_cooperative_grid_blocks(block)))


def _persistent(seq_mode):
    if seq_mode not in SEQ_MODES:
        raise ValueError(f"seq_mode must be one of {', '.join(SEQ_MODES)}, got {seq_mode!r}")
    return seq_mode == "persistent" or (seq_mode == "auto" and not SIMULATOR)


def _empty(shape, dtype):
    return cuda.device_array(shape, dtype=dtype)


def _weight_grads(k, A, dgh):
    """``dW_h = A^T @ dgh`` and ``db_h = dgh.sum(0)`` on the device, in one launch."""
    H, H3 = A.shape[1], dgh.shape[1]
    dW, db = _empty((H, H3), A.dtype), _empty((H3,), A.dtype)
    n_tiles = _ceil(H + 1, k.tiles.TB) * _ceil(H3, k.tiles.TJ)
    k.atb[_grid(n_tiles), k.block](A, dgh, dW, db)
    return dW, db


def _pack(r, z, n, ghn):
    """The contract's ``saved = (rzn, ghn)`` from the device kernels' four gate arrays."""
    parts = [a.copy_to_host() for a in (r, z, n)]
    return np.concatenate(parts, axis=-1), ghn.copy_to_host()


def _unpack(saved):
    """The four device arrays (r, z, n, ghn) the device kernels read, from ``(rzn, ghn)``.

    The device kernels keep the gates in separate arrays; packing happens on the host, next
    to the transfers that already copy every saved array each call.
    """
    rzn, ghn = saved
    H = ghn.shape[-1]
    return [cuda.to_device(np.ascontiguousarray(rzn[..., g * H : (g + 1) * H]))
            for g in range(3)] + [cuda.to_device(ghn)]


def gru_step_fwd(gx, h, W_h, b_h, *, tiles=None):
    """One GRU step forward; see ``kernels.gru_ref.gru_step_fwd`` for the contract.

    ``tiles`` overrides ``default_tiles(B)``.
    """
    B, H = h.shape
    k = _setup(h.dtype, B, tiles)
    out = [_empty((B, H), h.dtype) for _ in range(5)]
    args = [cuda.to_device(a) for a in (gx, h, W_h, b_h)]
    k.fwd_step[_grid(_ceil(B, k.tiles.TB) * _ceil(H, k.tiles.TJ)), k.block](*args, *out)
    return out[0].copy_to_host(), _pack(*out[1:])


def gru_step_bwd(dh_new, h, W_h, saved, *, tiles=None):
    """One GRU step backward; see ``kernels.gru_ref.gru_step_bwd`` for the contract."""
    B, H = h.shape
    k = _setup(h.dtype, B, tiles)
    d_dh, d_h, d_W = (cuda.to_device(a) for a in (dh_new, h, W_h))
    d_saved = _unpack(saved)
    dgx, dgh, dh = _empty((B, 3 * H), h.dtype), _empty((B, 3 * H), h.dtype), _empty((B, H), h.dtype)
    grid = _grid(_ceil(B, k.tiles.TB) * _ceil(H, k.tiles.TJ))
    k.bwd_step[grid, k.block](d_dh, d_dh, False, *d_saved, d_h, d_W, dgx, dgh, dh)
    dW, db = _weight_grads(k, d_h, dgh)
    return dgx.copy_to_host(), dh.copy_to_host(), dW.copy_to_host(), db.copy_to_host()


def gru_seq_fwd(gx, h0, W_h, b_h, *, tiles=None, seq_mode="auto", overwrite_gx=False):
    """GRU over a sequence; see ``kernels.gru_ref.gru_seq_fwd`` for the contract.

    ``seq_mode``: ``"auto"``, ``"persistent"`` (one cooperative launch) or ``"per_step"``.
    ``overwrite_gx`` is accepted and ignored (the device works on copies).
    """
    T, B, H3 = gx.shape
    H = H3 // 3
    k = _setup(h0.dtype, B, tiles)
    persistent = _persistent(seq_mode)
    hs = _empty((T + 1, B, H), h0.dtype)  # hs[0] = h0, hs[t + 1] = h_{t+1}
    hs[0].copy_to_device(h0)
    saved = [_empty((T, B, H), h0.dtype) for _ in range(4)]
    d_gx, d_W, d_b = (cuda.to_device(a) for a in (gx, W_h, b_h))
    n_tiles = _ceil(B, k.tiles.TB) * _ceil(H, k.tiles.TJ)
    if persistent:
        args = (d_gx, hs, d_W, d_b, *saved)
        k.fwd_seq[_persistent_grid(k.fwd_seq, args, k.block, n_tiles), k.block](*args)
    else:
        grid = _grid(n_tiles)
        for t in range(T):
            k.fwd_step[grid, k.block](d_gx[t], hs[t], d_W, d_b, hs[t + 1], *(s[t] for s in saved))
    return hs[1:].copy_to_host(), _pack(*saved)


def gru_seq_bwd(dhs, h0, hs, W_h, saved, *, tiles=None, seq_mode="auto",
                overwrite_saved=False):
    """Backpropagation through a sequence; see ``kernels.gru_ref.gru_seq_bwd``.

    ``overwrite_saved`` is accepted and ignored (the device arrays are copies already).
    ``seq_mode`` as in ``gru_seq_fwd``.  ``dW_h`` and ``db_h`` come from one ``atb`` launch
    over all T * B rows after the loop.
    """
    T, B, H = hs.shape
    k = _setup(hs.dtype, B, tiles)
    persistent = _persistent(seq_mode)
    h_prev = _empty((T, B, H), hs.dtype)  # h_prev[t] = h_{t-1}
    h_prev[0].copy_to_device(h0)
    if T > 1:
        h_prev[1:].copy_to_device(hs[:-1])
    d_dhs, d_W = cuda.to_device(dhs), cuda.to_device(W_h)
    d_saved = _unpack(saved)
    dgx, dgh = _empty((T, B, 3 * H), hs.dtype), _empty((T, B, 3 * H), hs.dtype)
    carry = _empty((2, B, H), hs.dtype)  # dL/dh read at a step / written for the next one
    n_tiles = _ceil(B, k.tiles.TB) * _ceil(H, k.tiles.TJ)
    if persistent:
        args = (d_dhs, h_prev, d_W, *d_saved, dgx, dgh, carry)
        k.bwd_seq[_persistent_grid(k.bwd_seq, args, k.block, n_tiles), k.block](*args)
    else:
        grid = _grid(n_tiles)
        for s in range(T):
            t = T - 1 - s
            k.bwd_step[grid, k.block](
                d_dhs[t], carry[s % 2], s > 0, *(x[t] for x in d_saved), h_prev[t], d_W,
                dgx[t], dgh[t], carry[(s + 1) % 2],
            )  # fmt: skip
    dW, db = _weight_grads(k, h_prev.reshape(T * B, H), dgh.reshape(T * B, 3 * H))
    return dgx.copy_to_host(), carry[T % 2].copy_to_host(), dW.copy_to_host(), db.copy_to_host()
