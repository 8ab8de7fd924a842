"""Fast CPU convolution and pooling: Numba im2col / col2im around one OpenBLAS GEMM per chunk.

Same functions and signatures as ``kernels.conv_ref`` (see its docstring for the conventions).

How the convolution is laid out, and why:

* The batch is cut into chunks whose patch matrix fits in about ``CHUNK_BYTES`` per thread
  (1 MB: it stays in L2 between im2col and the GEMM); each chunk's patches are written as
  ``cols[k, n, p]`` (``k`` = channel x kernel offset, ``n`` = image, ``p`` = output
  position), one ``(K, n*P)`` matrix.  Forward, input gradient and filter gradient are then
  each one GEMM per chunk and group (``w @ cols``, ``w.T @ gy``, ``gy @ cols.T``).  Per-image
  GEMMs are as fast on one thread, but with several OpenBLAS threads each call wakes the
  pool, and 500 small calls per layer cost more than they compute.
* The GEMM's ``(F, n*P)`` result goes to NCHW (and ``gy`` comes from it) by a Numba copy of
  runs of ``P`` while the chunk is still in cache.
* Several threads never alternate two pools.  With a batch of two or more images the batch
  is cut into one part per thread (``kernels.blas_threads.run_parts``): each part does its
  own chunks start to finish on its own thread, Numba loops serial, GEMMs on OpenBLAS's
  calling thread only, one fork and one join per call.  Waking Numba's OpenMP workers and
  OpenBLAS's in turn, once per chunk, made LeNet's batch 500 run 3 to 8 times slower on 2
  threads than on 1 on a loaded 2-core machine (an idle pool's workers spin or must be
  scheduled again); see ``benchmarks/conv.py``.  One large image keeps one part: parallel
  loops and OpenBLAS's threads; small work runs on the calling thread alone.
* The Numba loops are ``parallel=True`` over independent rows (no two iterations write the same
  element), index arrays directly (a row view costs an atomic refcount in Numba, a large share
  of LeNet's 8-element rows), take a branch-free path where the window lies inside the image,
  use ``error_model="numpy"`` so LLVM can vectorise, and ``cache=True`` so a later process
  loads them instead of compiling.

Pooling is a direct Numba loop over windows, parallel over the ``(batch x channel)`` planes;
the max-pool backward of non-overlapping windows is one select per input position, and of
overlapping ones a select-and-add per window position (no branch).
"""

import math

import numba
import numpy as np

from kernels import blas_threads
from kernels.conv_ref import POOL_MODES, conv_output_size, pool_output_size
from kernels.workspace import SHARED as WORKSPACE

__all__ = ["conv2d_fwd", "conv2d_bwd_input", "conv2d_bwd_filter", "pool2d_fwd", "pool2d_bwd",
           "CHUNK_BYTES", "PARALLEL_MIN_ELEMENTS"]

CHUNK_BYTES = 1 << 20  # patch matrix per chunk and thread

PARALLEL_MIN_ELEMENTS = 1 << 16  # below this a kernel runs on the calling thread alone

# nogil: kernels.blas_threads runs them on several Python threads at once
_jit = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")


def _launch(kernel, n_elements, *args):
    """Run a parallel kernel, on one thread when the work is too small to share.

    Waking Numba's workers costs more than a small kernel computes (batch 1 at LeNet's sizes
    ran 6x slower on 2 threads than on 1); ``set_num_threads`` is per calling thread and cheap.
    """
    threads = numba.get_num_threads()
    if threads == 1 or n_elements >= PARALLEL_MIN_ELEMENTS:
        kernel(*args)
        return
    numba.set_num_threads(1)
    try:
        kernel(*args)
    finally:
        numba.set_num_threads(threads)


def _threads():
    return numba.get_num_threads()  # one place, so the tests can ask for more parts than cores


@numba.njit(cache=True)
def _valid_range(n_out, offset, stride, size):
    """Output indices ``o`` in ``[lo, hi)`` with ``0 <= o * stride + offset < size``."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = 0 if size - 1 - offset < 0 else (size - 1 - offset) // stride + 1
    hi = min(hi, n_out)
    return lo, max(lo, hi)


@_jit
def _im2col(x, n0, cols, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    # cols[k, n, i*ow + j] = xpad[n0 + n, c, i*sh + a*dh, j*sw + b*dw], k = (c, a, b).
    # Plain indexing, no row views (Numba refcounts each view), and a branch-free loop for
    # the rows whose window lies inside the image with stride 1: 2x faster at LeNet's sizes.
    n_k, n_b, _ = cols.shape
    h, w = x.shape[2], x.shape[3]
    for k in numba.prange(n_k):
        c, a, b = k // (kh * kw), (k // kw) % kh, k % kw
        off = b * dw - pl
        j_lo, j_hi = _valid_range(ow, off, sw, w)
        i_lo, i_hi = _valid_range(oh, a * dh - pt, sh, h)
        inside = j_lo == 0 and j_hi == ow and i_lo == 0 and i_hi == oh and sw == 1
        for n in range(n_b):
            if inside:
                for i in range(oh):
                    r = i * sh + a * dh - pt
                    for j in range(ow):
                        cols[k, n, i * ow + j] = x[n0 + n, c, r, j + off]
                continue
            for q in range(oh * ow):
                cols[k, n, q] = 0
            for i in range(i_lo, i_hi):
                r = i * sh + a * dh - pt
                for j in range(j_lo, j_hi):
                    cols[k, n, i * ow + j] = x[n0 + n, c, r, j * sw + off]


@_jit
def _col2im(gcols, n0, gx, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    # the adjoint of _im2col: gx[n0 + n, c] = the sum of every patch entry that read it
    _, n_b, _ = gcols.shape
    n_c, h, w = gx.shape[1], gx.shape[2], gx.shape[3]
    for idx in numba.prange(n_b * n_c):
        n = idx // n_c
        c = idx - n * n_c
        for r in range(h):
            for q in range(w):
                gx[n0 + n, c, r, q] = 0
        for a in range(kh):
            i_lo, i_hi = _valid_range(oh, a * dh - pt, sh, h)
            for b in range(kw):
                k = (c * kh + a) * kw + b
                off = b * dw - pl
                j_lo, j_hi = _valid_range(ow, off, sw, w)
                if sw == 1 and j_lo == 0 and j_hi == ow:  # the common case, as in _im2col
                    for i in range(i_lo, i_hi):
                        r = i * sh + a * dh - pt
                        for j in range(ow):
                            gx[n0 + n, c, r, j + off] += gcols[k, n, i * ow + j]
                    continue
                for i in range(i_lo, i_hi):
                    r = i * sh + a * dh - pt
                    for j in range(j_lo, j_hi):
                        gx[n0 + n, c, r, j * sw + off] += gcols[k, n, i * ow + j]


@_jit
def _move_rows(yt, n0, y, into_y):
    # y[n0 + n, f, p] <-> yt[f, n*P + p], in runs of P: into_y, the chunk's GEMM result into
    # NCHW; else y's chunk into the GEMM layout. The branch is loop-invariant, so LLVM hoists
    # it (timed equal to one kernel per direction).
    n_f, n_p = y.shape[1], y.shape[2]
    n_b = yt.shape[1] // n_p
    for n in numba.prange(n_b):
        for f in range(n_f):
            for q in range(n_p):
                if into_y:
                    y[n0 + n, f, q] = yt[f, n * n_p + q]
                else:
                    yt[f, n * n_p + q] = y[n0 + n, f, q]


class _Plan:
    """Geometry of one convolution, the split of its batch into parts and chunks, its scratch.

    With several threads and a batch of at least two images, the batch is cut into one part
    per thread, each run start to finish on its own thread (``kernels.blas_threads``: serial
    loops, single-threaded GEMMs, one fork and join per call); otherwise one part on the
    calling thread, its loops parallel and its GEMMs on OpenBLAS's threads if the work is
    big (one large image), all on the calling thread if not (LeNet's batch 1 took 44 ms
    instead of 0.2 ms with OpenBLAS waking its 2 threads on a loaded 2-core machine).
    """

    def __init__(self, x_shape, w_shape, pad, stride, dilation, groups, dtype):
        self.n, self.c = x_shape[0], x_shape[1]
        self.f, self.cg, self.kh, self.kw = w_shape
        self.groups, self.fg = groups, self.f // groups
        self.kg = self.cg * self.kh * self.kw
        self.k = self.c * self.kh * self.kw
        self.oh = conv_output_size(x_shape[2], self.kh, pad[0], stride[0], dilation[0])
        self.ow = conv_output_size(x_shape[3], self.kw, pad[1], stride[1], dilation[1])
        self.p = self.oh * self.ow
        self.dtype = dtype
        threads = _threads()
        self.big = self.n * self.k * self.p >= PARALLEL_MIN_ELEMENTS
        self.parts = min(threads, self.n) if self.big and blas_threads.available() else 1
        per_image = max(1, self.k * self.p * dtype.itemsize)
        # each thread keeps ~1 MB of patches in its L2, whether it runs a part or a loop's share
        budget = CHUNK_BYTES * (1 if self.parts > 1 else threads)
        self.chunk = int(max(1, min(self.n, budget // per_image)))
        self.geom = (self.kh, self.kw, stride[0], stride[1], dilation[0], dilation[1],
                     pad[0][0], pad[1][0], self.oh, self.ow)

    def run(self, body, rows):
        """``body(scratch, lo, hi)`` on each part; scratch: flat arrays of ``rows * chunk * P``.

        The scratch is taken from the workspace here, on the calling thread (the workspace is
        not thread-safe).  Returns the bodies' results in part order.
        """
        size = self.chunk * self.p
        scratch = [[WORKSPACE.empty((r * size,), self.dtype) for r in rows]
                   for _ in range(self.parts)]
        if self.parts == 1 and self.big:
            return [body(scratch[0], 0, self.n)]
        if self.parts == 1:  # small GEMMs: waking OpenBLAS's threads costs more than they do
            with blas_threads.blas_threads(1):
                return [body(scratch[0], 0, self.n)]
        return blas_threads.run_parts(lambda i, lo, hi: body(scratch[i], lo, hi), self.n,
                                      self.parts)

    def chunks(self, lo, hi):
        for n0 in range(lo, hi, self.chunk):
            yield n0, min(self.chunk, hi - n0)

    def group_rows(self, g):
        return slice(g * self.kg, (g + 1) * self.kg), slice(g * self.fg, (g + 1) * self.fg)

    def patches(self, buf, x, n0, nb):
        """The chunk's patch matrix, ``(K, nb * P)``, written into ``buf``."""
        cols = _take(buf, (self.k, nb, self.p))
        _launch(_im2col, cols.size, x, n0, cols, *self.geom)
        return cols.reshape(self.k, nb * self.p)

    def images_last(self, buf, gy3, n0, nb):
        """``gy[n0:n0 + nb]`` as ``(F, nb * P)`` in ``buf``: the GEMM operand layout."""
        gyt = _take(buf, (self.f, nb * self.p))
        _launch(_move_rows, gyt.size, gyt, n0, gy3, False)
        return gyt


def _take(buf, shape):
    return buf[:math.prod(shape)].reshape(shape)


def _contig(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def conv2d_fwd(x, w, pad=((0, 0), (0, 0)), stride=(1, 1), dilation=(1, 1), groups=1):
    """Cross-correlation of ``x`` with ``w``; see ``kernels.conv_ref.conv2d_fwd``."""
    dt = np.result_type(x, w)
    x, w = _contig(x, dt), _contig(w, dt)
    pl = _Plan(x.shape, w.shape, pad, stride, dilation, groups, dt)
    y = np.empty((pl.n, pl.f, pl.oh, pl.ow), dtype=dt)
    if y.size == 0:
        return y
    y3, w2 = y.reshape(pl.n, pl.f, pl.p), w.reshape(pl.f, pl.kg)

    def body(scratch, lo, hi):
        for n0, nb in pl.chunks(lo, hi):
            cols = pl.patches(scratch[0], x, n0, nb)
            yt = _take(scratch[1], (pl.f, nb * pl.p))
            for g in range(groups):
                ks, fs = pl.group_rows(g)
                np.matmul(w2[fs], cols[ks], out=yt[fs])
            _launch(_move_rows, yt.size, yt, n0, y3, True)

    pl.run(body, (pl.k, pl.f))
    return y


def conv2d_bwd_input(gy, w, x_shape, pad=((0, 0), (0, 0)), stride=(1, 1), dilation=(1, 1),
                     groups=1):
    """The gradient with respect to the input; see ``kernels.conv_ref.conv2d_bwd_input``."""
    dt = np.result_type(gy, w)
    w = _contig(w, dt)
    pl = _Plan(tuple(x_shape), w.shape, pad, stride, dilation, groups, dt)
    gx = np.empty(tuple(x_shape), dtype=dt)
    if gx.size == 0 or pl.p == 0:
        gx[...] = 0
        return gx
    gy3, w2 = _contig(gy, dt).reshape(pl.n, pl.f, pl.p), w.reshape(pl.f, pl.kg)

    def body(scratch, lo, hi):
        for n0, nb in pl.chunks(lo, hi):
            gyt = pl.images_last(scratch[0], gy3, n0, nb)
            gcols = _take(scratch[1], (pl.k, nb * pl.p))
            for g in range(groups):
                ks, fs = pl.group_rows(g)
                np.matmul(w2[fs].T, gyt[fs], out=gcols[ks])
            _launch(_col2im, gcols.size, gcols.reshape(pl.k, nb, pl.p), n0, gx, *pl.geom)

    pl.run(body, (pl.f, pl.k))
    return gx


def conv2d_bwd_filter(x, gy, w_shape, pad=((0, 0), (0, 0)), stride=(1, 1), dilation=(1, 1),
                      groups=1):
    """The gradient with respect to the filters; see ``kernels.conv_ref.conv2d_bwd_filter``."""
    dt = np.result_type(x, gy)
    x = _contig(x, dt)
    pl = _Plan(x.shape, tuple(w_shape), pad, stride, dilation, groups, dt)
    if pl.n == 0 or pl.p == 0:
        return np.zeros(tuple(w_shape), dtype=dt)
    gy3 = _contig(gy, dt).reshape(pl.n, pl.f, pl.p)

    def body(scratch, lo, hi):  # this part's sum over its images
        gw, part = np.zeros((pl.f, pl.kg), dtype=dt), np.empty((pl.fg, pl.kg), dtype=dt)
        for n0, nb in pl.chunks(lo, hi):
            cols = pl.patches(scratch[0], x, n0, nb)
            gyt = pl.images_last(scratch[1], gy3, n0, nb)
            for g in range(groups):  # one GEMM per chunk and group, summing over images too
                ks, fs = pl.group_rows(g)
                np.matmul(gyt[fs], cols[ks].T, out=part)
                gw[fs] += part
        return gw

    return sum(pl.run(body, (pl.k, pl.f))).reshape(tuple(w_shape))


_MODE_CODE = {m: i for i, m in enumerate(POOL_MODES)}  # max, sum, average_inc, average_exc


@numba.njit(cache=True)
def _pool_window(i, ws, st, pad, size):
    """Row (or column) range of window ``i`` in unpadded coordinates, and its padded length."""
    r0 = i * st
    r1 = min(r0 + ws, size + 2 * pad)
    return max(r0, pad) - pad, min(r1, size + pad) - pad, r1 - r0


@_jit
def _pool_fwd(x, y, wh, ww, sh, sw, ph, pw, mode):
    n_p, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for p in numba.prange(n_p):
        for i in range(oh):
            r0, r1, rn = _pool_window(i, wh, sh, ph, h)
            for j in range(ow):
                c0, c1, cn = _pool_window(j, ww, sw, pw, w)
                if mode == 0:
                    acc = x[p, r0, c0]
                    for r in range(r0, r1):
                        for c in range(c0, c1):
                            acc = max(acc, x[p, r, c])
                    y[p, i, j] = acc
                else:
                    acc = x.dtype.type(0)
                    for r in range(r0, r1):
                        for c in range(c0, c1):
                            acc += x[p, r, c]
                    if mode == 2:
                        acc /= rn * cn
                    elif mode == 3:
                        acc /= (r1 - r0) * (c1 - c0)
                    y[p, i, j] = acc


@_jit
def _pool_bwd(x, y, gy, gx, wh, ww, sh, sw, ph, pw, mode):
    n_p, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    zero = gx.dtype.type(0)
    for p in numba.prange(n_p):
        for r in range(h):
            for c in range(w):
                gx[p, r, c] = 0
        for i in range(oh):
            r0, r1, rn = _pool_window(i, wh, sh, ph, h)
            for j in range(ow):
                c0, c1, cn = _pool_window(j, ww, sw, pw, w)
                g = gy[p, i, j]
                if mode == 0:  # every position holding the maximum gets the gradient
                    m = y[p, i, j]
                    for r in range(r0, r1):
                        for c in range(c0, c1):  # a select, not a branch: 1.9x faster at 3x3
                            gx[p, r, c] += g if x[p, r, c] == m else zero
                    continue
                if mode == 2:
                    g = g / (rn * cn)
                elif mode == 3:
                    g = g / ((r1 - r0) * (c1 - c0))
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        gx[p, r, c] += g


@_jit
def _max_pool_bwd_disjoint(x, y, gy, gx, wh, ww, sh, sw, ph, pw):
    # Windows that do not overlap (stride >= window): each input position lies in at most one
    # window, so its gradient is one select, written once (no read-modify-write), and only the
    # positions no window covers are zeroed.
    n_p, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    covers_all = sh == wh and sw == ww and ph == 0 and pw == 0 and oh * wh == h and ow * ww == w
    for p in numba.prange(n_p):
        if not covers_all:
            for r in range(h):
                for c in range(w):
                    gx[p, r, c] = 0
        for i in range(oh):
            r0, r1, _ = _pool_window(i, wh, sh, ph, h)
            for j in range(ow):
                c0, c1, _ = _pool_window(j, ww, sw, pw, w)
                m, g = y[p, i, j], gy[p, i, j]
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        gx[p, r, c] = g if x[p, r, c] == m else 0


def _planes(a):
    return np.ascontiguousarray(a).reshape((-1,) + a.shape[-2:])


def pool2d_fwd(x, ws, stride, pad=(0, 0), ignore_border=True, mode="max"):
    """Pool the last two axes; see ``kernels.conv_ref.pool2d_fwd``."""
    h, w = x.shape[-2:]
    oh = pool_output_size(h, ws[0], stride[0], pad[0], ignore_border)
    ow = pool_output_size(w, ws[1], stride[1], pad[1], ignore_border)
    y = np.empty(x.shape[:-2] + (oh, ow), dtype=x.dtype)
    if y.size:
        _launch(_pool_fwd, x.size, _planes(x), y.reshape((-1, oh, ow)), ws[0], ws[1], stride[0],
                stride[1], pad[0], pad[1], _MODE_CODE[mode])
    return y


def pool2d_bwd(x, y, gy, ws, stride, pad=(0, 0), ignore_border=True, mode="max"):
    """The gradient of pooling with respect to ``x``; see ``kernels.conv_ref.pool2d_bwd``."""
    gx = np.empty(x.shape, dtype=np.result_type(x, gy))
    if x.size and not y.size:
        gx[...] = 0
    elif y.size:
        gy = np.ascontiguousarray(gy, dtype=gx.dtype)
        args = (_planes(x), _planes(y), _planes(gy), gx.reshape((-1,) + x.shape[-2:]), ws[0],
                ws[1], stride[0], stride[1], pad[0], pad[1])
        if mode == "max" and stride[0] >= ws[0] and stride[1] >= ws[1]:
            _launch(_max_pool_bwd_disjoint, x.size, *args)
        else:
            _launch(_pool_bwd, x.size, *args, _MODE_CODE[mode])
    return gx
