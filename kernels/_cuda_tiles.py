"""Device code of the CUDA GRU: tiled, fused step bodies and the kernels built from them.

``build(dtype, tiles)`` returns the compiled-on-first-launch kernels for one dtype and one tile
shape (``Tiles``); the tile sizes are closure constants, so the same source gives tiny tiles
for the simulator and big ones on a GPU.  Every loop over tiles is *tile-stride* (a block
takes tiles ``blockIdx.x, blockIdx.x + gridDim.x, ...``), so any grid size, including the
single block the simulator's grid sync needs, covers the whole problem.

Thread layout per block: ``(TJ, TB // RB)``.  Thread ``(tx, ty)`` owns hidden unit ``j0 + tx``
for all three gates and the ``RB`` batch rows ``b0 + ty + i * (TB // RB)``: ``3 * RB``
accumulators in registers (register blocking).

Every kernel is one skeleton (``_make_tile_loop``: tile-stride loop over output tiles, K-loop
with a barrier after the shared-tile load and after the multiply-accumulate) filled with its
own ``load``, ``mac`` and ``finish`` device functions; the kernel's arrays travel as one tuple.

* forward tile: ``gh = h @ W_h`` for TB rows x TJ units x 3 gates, K-loop over H through shared
  tiles ``h[TB, TK]`` and ``W_h[TK, 3 TJ]``; bias and gate math in registers; gh never goes to
  global memory.
* backward tile: computes ``dh_prev = dh * z + dgh @ W_h^T``.  While loading its K-tile of
  ``dgh`` into shared memory the block *computes* it from the saved gates (cheap elementwise
  work, repeated by each column tile of blocks), so the step needs no separate elementwise
  launch; the blocks of column tile 0 also store ``dgx`` and ``dgh`` for the weight gradient.
* ``atb``: ``C = A^T @ Bm`` plus the column sums of ``Bm`` (a virtual row of ones in ``A``),
  used for ``dW_h`` and ``db_h`` after the loop, in one launch.
* persistent kernels run all T steps in one cooperative launch with ``grid.sync()`` between
  steps (``docs/kernels.md``, "Sequences").

Simulator constraints honoured (``docs/kernels.md``): one ``cuda.shared.array`` per source line, no
warp intrinsics, API reached as ``cuda.<name>``, shared shapes as closure constants, typed
constants (no float64 literals), helpers inlined so ``compile_ptx`` works without a driver.
"""

from collections import namedtuple
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from kernels.gru_math import libm_exp, make_gru_math

__all__ = ["Tiles", "MAX_SHARED_BYTES", "build", "shared_bytes", "signatures"]

Tiles = namedtuple("Tiles", "TB TJ TK RB")
Tiles.__doc__ = "Tile shape: TB rows x TJ hidden units per block, K-step TK, RB rows per thread."

MAX_SHARED_BYTES = 48 * 1024  # static shared memory per block; Numba has no opt-in to more


def shared_bytes(dtype, tiles):
    """Shared memory per block of the largest kernel (backward step) for ``tiles``.

    Parameters
    ----------
    dtype : numpy dtype
    tiles : Tiles

    Returns
    -------
    int
        Bytes: three (TB, TK) gate-gradient tiles and a (TK, 3 TJ + 1) weight tile.
    """
    TB, TJ, TK, _ = tiles
    return np.dtype(dtype).itemsize * (3 * TB * TK + TK * (3 * TJ + 1))


# fastmath=True would turn expf/division into approximate PTX; the gate math is a tiny part of
# the work, so accuracy wins.
FASTMATH = False


def build(dtype, tiles):
    """Build the kernels for one dtype and tile shape (compiled on first launch).

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}
    tiles : Tiles
        ``TB`` must be a multiple of ``RB``; the backward step's shared memory must fit in
        ``MAX_SHARED_BYTES``.

    Returns
    -------
    types.SimpleNamespace
        ``fwd_step``, ``bwd_step``, ``fwd_seq``, ``bwd_seq`` (persistent), ``atb`` kernels,
        ``block`` (the block shape) and ``tiles``.
    """
    dtype = np.dtype(dtype).type
    TB, TJ, TK, RB = tiles
    if min(tiles) < 1 or TB % RB:
        raise ValueError(f"bad tiles {tiles}: all must be >= 1 and TB a multiple of RB")
    if shared_bytes(dtype, tiles) > MAX_SHARED_BYTES:
        raise ValueError(
            f"tiles {tiles} need {shared_bytes(dtype, tiles)} bytes of shared memory per block "
            f"in {np.dtype(dtype).name}; Numba allows {MAX_SHARED_BYTES} (static)"
        )
    fwd_tiles = _make_fwd_tiles(dtype, tiles)
    bwd_tiles = _make_bwd_tiles(dtype, tiles)
    k = _make_step_and_seq_kernels(dtype, tiles, fwd_tiles, bwd_tiles)
    k.atb = _make_atb(dtype, tiles)
    k.block, k.tiles = (TJ, TB // RB), tiles
    return k


def _make_gate_weights(tiles):
    """Device function ``gate_weights(sh_w, kk, tx)``: row kk of a (TK, 3 TJ) weight tile.

    Returns column ``tx`` of each gate's TJ-wide slice (r, z, n).
    """
    TJ = tiles.TJ

    @cuda.jit(device=True, inline="always")
    def gate_weights(sh_w, kk, tx):
        return sh_w[kk, tx], sh_w[kk, TJ + tx], sh_w[kk, 2 * TJ + tx]

    return gate_weights


def _make_tile_loop(dtype, tiles, nacc, load, mac, finish):
    """Device function ``tile_loop(rows, cols, depth, args)``: the skeleton of every tiled kernel.

    For each (TB rows x TJ columns) output tile of this block it clears ``nacc`` register
    accumulators, walks the reduction dimension ``depth`` in TK-steps (``load`` fills the
    shared tiles, ``mac`` accumulates from them, with a barrier after each) and hands the
    accumulators to ``finish``.  ``args`` is the kernel's tuple of arrays, passed through.
    All parts are ``inline="always"``, so the PTX check needs no driver (``docs/kernels.md``).
    """
    TB, TJ, TK, _ = tiles
    nbt, zero = numba.from_dtype(np.dtype(dtype)), dtype(0.0)

    @cuda.jit(device=True, inline="always")
    def tile_loop(rows, cols, depth, args):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TJ + tx
        ntj = (cols + TJ - 1) // TJ
        acc = cuda.local.array(nacc, nbt)
        for tile in range(cuda.blockIdx.x, ntj * ((rows + TB - 1) // TB), cuda.gridDim.x):
            j0 = (tile % ntj) * TJ
            b0 = (tile // ntj) * TB
            for i in range(nacc):
                acc[i] = zero
            for k0 in range(0, depth, TK):
                load(args, b0, j0, k0, tid)
                cuda.syncthreads()
                mac(args, acc, tx, ty)
                cuda.syncthreads()
            finish(args, acc, b0, j0 + tx, ty)

    return tile_loop


def _make_fwd_tiles(dtype, tiles):
    """Device function: forward step over all tiles of this block (GEMM tile + gate math)."""
    TB, TJ, TK, RB = tiles
    TY, TJ3 = TB // RB, 3 * TJ
    NT = TJ * TY  # threads per block
    zero = dtype(0.0)
    gru_point = make_gru_math(dtype, libm_exp).gru_point
    gate_weights = _make_gate_weights(tiles)

    @cuda.jit(device=True, inline="always")
    def load(args, b0, j0, k0, tid):
        # sh_h = h[b0:, k0:] and sh_w[kk, g * TJ + jj] = W[k0 + kk, g * H + j0 + jj], zero-padded.
        _, h, W, _, _, _, _, _, _, sh_h, sh_w = args
        B = h.shape[0]
        H = h.shape[1]
        for e in range(tid, TB * TK, NT):
            bb = e // TK
            kk = e - bb * TK
            v = zero
            if b0 + bb < B and k0 + kk < H:
                v = h[b0 + bb, k0 + kk]
            sh_h[bb, kk] = v
        for e in range(tid, TK * TJ3, NT):
            kk = e // TJ3
            g = (e - kk * TJ3) // TJ
            jj = e - kk * TJ3 - g * TJ
            v = zero
            if k0 + kk < H and j0 + jj < H:
                v = W[k0 + kk, g * H + j0 + jj]
            sh_w[kk, g * TJ + jj] = v

    @cuda.jit(device=True, inline="always")
    def mac(args, acc, tx, ty):
        _, _, _, _, _, _, _, _, _, sh_h, sh_w = args
        for kk in range(TK):
            w_r, w_z, w_n = gate_weights(sh_w, kk, tx)
            for i in range(RB):
                hv = sh_h[ty + i * TY, kk]
                acc[3 * i] += hv * w_r
                acc[3 * i + 1] += hv * w_z
                acc[3 * i + 2] += hv * w_n

    @cuda.jit(device=True, inline="always")
    def finish(args, acc, b0, j, ty):
        # Bias and gate math in registers; gh never goes to global memory.
        gx, h, _, b, h_out, R, Z, N, GHN, _, _ = args
        B = h.shape[0]
        H = h.shape[1]
        for i in range(RB):
            bi = b0 + ty + i * TY
            if j < H and bi < B:
                ghn = acc[3 * i + 2] + b[2 * H + j]
                r, z, n, hn = gru_point(
                    gx[bi, j], gx[bi, H + j], gx[bi, 2 * H + j],
                    acc[3 * i] + b[j], acc[3 * i + 1] + b[H + j], ghn, h[bi, j],
                )  # fmt: skip
                R[bi, j] = r
                Z[bi, j] = z
                N[bi, j] = n
                GHN[bi, j] = ghn
                h_out[bi, j] = hn

    tile_loop = _make_tile_loop(dtype, tiles, 3 * RB, load, mac, finish)

    @cuda.jit(device=True, inline="always")
    def fwd_tiles(gx, h, W, b, h_out, R, Z, N, GHN, sh_h, sh_w):
        args = (gx, h, W, b, h_out, R, Z, N, GHN, sh_h, sh_w)
        tile_loop(h.shape[0], h.shape[1], h.shape[1], args)

    return fwd_tiles


def _make_bwd_tiles(dtype, tiles):
    """Device function: backward step over all tiles of this block (gate grads + dgh @ W^T)."""
    TB, TJ, TK, RB = tiles
    TY = TB // RB
    NT = TJ * TY
    zero = dtype(0.0)
    gru_point_bwd = make_gru_math(dtype, libm_exp).gru_point_bwd
    gate_weights = _make_gate_weights(tiles)

    @cuda.jit(device=True, inline="always")
    def load_gate_grads(args, b, u, store):
        # Gradients of the three gate pre-activations at (b, u); stores dgx/dgh when asked.
        dh_out, carry_in, has_carry, R, Z, N, GHN, h, _, dgx, dgh, _, _, _, _, _ = args
        H = h.shape[1]
        d = dh_out[b, u]
        if has_carry:
            d += carry_in[b, u]
        r = R[b, u]
        ar, az, an, _ = gru_point_bwd(d, r, Z[b, u], N[b, u], GHN[b, u], h[b, u])
        anr = an * r
        if store:
            dgx[b, u] = ar
            dgx[b, H + u] = az
            dgx[b, 2 * H + u] = an
            dgh[b, u] = ar
            dgh[b, H + u] = az
            dgh[b, 2 * H + u] = anr
        return ar, az, anr

    @cuda.jit(device=True, inline="always")
    def load(args, b0, j0, u0, tid):
        # Computes this K-tile of dgh into shared memory, and the matching tile of W_h.
        _, _, _, _, _, _, _, h, W, _, _, _, sh_ar, sh_az, sh_an, sh_w = args
        B = h.shape[0]
        H = h.shape[1]
        for e in range(tid, TB * TK, NT):
            bb = e // TK
            kk = e - bb * TK
            ar = zero
            az = zero
            anr = zero
            if b0 + bb < B and u0 + kk < H:
                ar, az, anr = load_gate_grads(args, b0 + bb, u0 + kk, j0 == 0)
            sh_ar[bb, kk] = ar
            sh_az[bb, kk] = az
            sh_an[bb, kk] = anr
        # sh_w[kk, g * TJ + jj] = W_h[j0 + jj, g * H + u0 + kk]: coalesced along kk.
        for e in range(tid, TJ * 3 * TK, NT):
            jj = e // (3 * TK)
            g = (e - jj * 3 * TK) // TK
            kk = e - jj * 3 * TK - g * TK
            v = zero
            if j0 + jj < H and u0 + kk < H:
                v = W[j0 + jj, g * H + u0 + kk]
            sh_w[kk, g * TJ + jj] = v

    @cuda.jit(device=True, inline="always")
    def mac(args, acc, tx, ty):
        _, _, _, _, _, _, _, _, _, _, _, _, sh_ar, sh_az, sh_an, sh_w = args
        for kk in range(TK):
            w_r, w_z, w_n = gate_weights(sh_w, kk, tx)
            for i in range(RB):
                row = ty + i * TY
                acc[i] += sh_ar[row, kk] * w_r + sh_az[row, kk] * w_z
                acc[i] += sh_an[row, kk] * w_n

    @cuda.jit(device=True, inline="always")
    def finish(args, acc, b0, j, ty):
        # dh_prev = dh * z + dgh @ W_h^T
        dh_out, carry_in, has_carry, _, Z, _, _, h, _, _, _, carry_out, _, _, _, _ = args
        B = h.shape[0]
        H = h.shape[1]
        for i in range(RB):
            bi = b0 + ty + i * TY
            if j < H and bi < B:
                d = dh_out[bi, j]
                if has_carry:
                    d += carry_in[bi, j]
                carry_out[bi, j] = d * Z[bi, j] + acc[i]

    tile_loop = _make_tile_loop(dtype, tiles, RB, load, mac, finish)

    @cuda.jit(device=True, inline="always")
    def bwd_tiles(dh_out, carry_in, has_carry, R, Z, N, GHN, h, W, dgx, dgh, carry_out,
                  sh_ar, sh_az, sh_an, sh_w):  # fmt: skip
        args = (dh_out, carry_in, has_carry, R, Z, N, GHN, h, W, dgx, dgh, carry_out,
                sh_ar, sh_az, sh_an, sh_w)  # fmt: skip
        tile_loop(h.shape[0], h.shape[1], h.shape[1], args)

    return bwd_tiles


def _make_step_and_seq_kernels(dtype, tiles, fwd_tiles, bwd_tiles):
    """Kernels: per-step launches, and persistent ones with a grid barrier per step."""
    TB, TJ, TK, _ = tiles
    TJ3 = 3 * TJ
    TJ3P = TJ3 + 1  # padded pitch: transposed stores into sh_w would hit one bank otherwise
    nbt = numba.from_dtype(np.dtype(dtype))

    @cuda.jit(fastmath=FASTMATH)
    def fwd_step(gx, h, W, b, h_out, R, Z, N, GHN):
        sh_h = cuda.shared.array((TB, TK), nbt)
        sh_w = cuda.shared.array((TK, TJ3), nbt)
        fwd_tiles(gx, h, W, b, h_out, R, Z, N, GHN, sh_h, sh_w)

    @cuda.jit(fastmath=FASTMATH)
    def fwd_seq(gx, hs, W, b, R, Z, N, GHN):
        # hs is (T + 1, B, H) with hs[0] = h0; step t reads hs[t] and writes hs[t + 1].
        sh_h = cuda.shared.array((TB, TK), nbt)
        sh_w = cuda.shared.array((TK, TJ3), nbt)
        grid = cuda.cg.this_grid()
        for t in range(gx.shape[0]):
            fwd_tiles(gx[t], hs[t], W, b, hs[t + 1], R[t], Z[t], N[t], GHN[t], sh_h, sh_w)
            grid.sync()

    @cuda.jit(fastmath=FASTMATH)
    def bwd_step(dh_out, carry_in, has_carry, R, Z, N, GHN, h, W, dgx, dgh, carry_out):
        sh_ar = cuda.shared.array((TB, TK), nbt)
        sh_az = cuda.shared.array((TB, TK), nbt)
        sh_an = cuda.shared.array((TB, TK), nbt)
        sh_w = cuda.shared.array((TK, TJ3P), nbt)
        bwd_tiles(dh_out, carry_in, has_carry, R, Z, N, GHN, h, W, dgx, dgh, carry_out,
                  sh_ar, sh_az, sh_an, sh_w)  # fmt: skip

    @cuda.jit(fastmath=FASTMATH)
    def bwd_seq(dhs, hs, W, R, Z, N, GHN, dgx, dgh, carry):
        # carry is (2, B, H): ping-pong between the gradient read and the one written.
        sh_ar = cuda.shared.array((TB, TK), nbt)
        sh_az = cuda.shared.array((TB, TK), nbt)
        sh_an = cuda.shared.array((TB, TK), nbt)
        sh_w = cuda.shared.array((TK, TJ3P), nbt)
        grid = cuda.cg.this_grid()
        T = dhs.shape[0]
        for s in range(T):
            t = T - 1 - s
            bwd_tiles(dhs[t], carry[s % 2], s > 0, R[t], Z[t], N[t], GHN[t], hs[t], W,
                      dgx[t], dgh[t], carry[(s + 1) % 2], sh_ar, sh_az, sh_an, sh_w)  # fmt: skip
            grid.sync()

    return SimpleNamespace(fwd_step=fwd_step, fwd_seq=fwd_seq, bwd_step=bwd_step, bwd_seq=bwd_seq)


def _make_atb(dtype, tiles):
    """Kernel ``atb(A, Bm, C, colsum)``: C = A^T @ Bm and colsum = ones @ Bm, in one launch."""
    TB, TJ, TK, RB = tiles
    TY = TB // RB
    NT = TJ * TY
    nbt, zero, one = numba.from_dtype(np.dtype(dtype)), dtype(0.0), dtype(1.0)

    @cuda.jit(device=True, inline="always")
    def load(args, i0, j0, m0, tid):
        # sh_a = A[m0:, i0:] with row NI of the virtual A^T all ones; sh_b = Bm[m0:, j0:].
        A, Bm, _, _, sh_a, sh_b = args
        M = A.shape[0]
        NI = A.shape[1]
        for e in range(tid, TK * TB, NT):
            kk = e // TB
            ii = e - kk * TB
            v = zero
            if m0 + kk < M:
                if i0 + ii < NI:
                    v = A[m0 + kk, i0 + ii]
                elif i0 + ii == NI:
                    v = one
            sh_a[kk, ii] = v
        for e in range(tid, TK * TJ, NT):
            kk = e // TJ
            jj = e - kk * TJ
            v = zero
            if m0 + kk < M and j0 + jj < Bm.shape[1]:
                v = Bm[m0 + kk, j0 + jj]
            sh_b[kk, jj] = v

    @cuda.jit(device=True, inline="always")
    def mac(args, acc, tx, ty):
        _, _, _, _, sh_a, sh_b = args
        for kk in range(TK):
            bv = sh_b[kk, tx]
            for i in range(RB):
                acc[i] += sh_a[kk, ty + i * TY] * bv

    @cuda.jit(device=True, inline="always")
    def finish(args, acc, i0, j, ty):
        A, Bm, C, colsum, _, _ = args
        NI = A.shape[1]
        for i in range(RB):
            ii = i0 + ty + i * TY
            if j < Bm.shape[1]:
                if ii < NI:
                    C[ii, j] = acc[i]
                elif ii == NI:
                    colsum[j] = acc[i]

    tile_loop = _make_tile_loop(dtype, tiles, RB, load, mac, finish)

    @cuda.jit(fastmath=FASTMATH)
    def atb(A, Bm, C, colsum):
        sh_a = cuda.shared.array((TK, TB), nbt)
        sh_b = cuda.shared.array((TK, TJ), nbt)
        # NI + 1 rows: the virtual row of ones gives the column sums.
        tile_loop(A.shape[1] + 1, Bm.shape[1], A.shape[0], (A, Bm, C, colsum, sh_a, sh_b))

    return atb


def signatures(dtype):
    """Argument types of every kernel of ``build`` for ``dtype`` (C-contiguous arrays).

    Used to compile each kernel ahead of time (``cuda.compile_ptx``) in the tests.

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}

    Returns
    -------
    dict
        Kernel name -> tuple of Numba types.
    """
    f = numba.from_dtype(np.dtype(dtype))
    a1, a2, a3 = (numba.types.Array(f, n, "C") for n in (1, 2, 3))
    flag = numba.types.boolean
    return {
        "fwd_step": (a2, a2, a2, a1) + (a2,) * 5,
        "fwd_seq": (a3, a3, a2, a1) + (a3,) * 4,
        "bwd_step": (a2, a2, flag) + (a2,) * 9,
        "bwd_seq": (a3, a3, a2) + (a3,) * 7,
        "atb": (a2, a2, a2, a1),
    }
