"""``kernels.conv_cpu`` against ``kernels.conv_ref``, and ``conv_ref`` against the definitions.

The reference is checked two independent ways: against a scalar loop written straight from the
formula (tiny sizes), and by adjointness (``<conv(x, w), g> == <x, bwd_input(g)> ==
<w, bwd_filter(g)>``), which pins both gradients to the forward.  The fast kernels must then
match the reference on every geometry: padding (symmetric and not), strides, dilation, groups,
batch 1, odd sizes, images smaller than the padded kernel.
"""

import itertools

import numpy as np
import pytest

from kernels import conv_cpu, conv_ref

# (x shape, w shape, pad, stride, dilation, groups)
GEOMETRIES = [
    ((2, 3, 7, 6), (4, 3, 3, 2), ((0, 0), (0, 0)), (1, 1), (1, 1), 1),
    ((1, 4, 9, 8), (6, 2, 3, 3), ((1, 2), (2, 0)), (2, 3), (1, 2), 2),
    ((3, 2, 5, 5), (2, 2, 5, 5), ((4, 4), (4, 4)), (1, 1), (1, 1), 1),  # 'full'
    ((2, 1, 6, 7), (3, 1, 2, 3), ((1, 1), (1, 1)), (3, 2), (2, 1), 1),
    ((5, 3, 4, 4), (3, 1, 1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 3),  # 1x1, depthwise
    ((1, 1, 1, 9), (1, 1, 1, 4), ((0, 0), (3, 3)), (1, 1), (1, 1), 1),  # one row
]


def _assert_adjoint(a, ga, b, gb, rel):
    """<a, ga> == <b, gb> up to rounding. The inner products of random-sign terms may nearly
    cancel, so the tolerance is ``rel`` times the sums of |terms|, not the (tiny) result."""
    a, ga, b, gb = (np.asarray(v, dtype="float64") for v in (a, ga, b, gb))
    scale = np.vdot(np.abs(a), np.abs(ga)) + np.vdot(np.abs(b), np.abs(gb))
    np.testing.assert_allclose(np.vdot(a, ga), np.vdot(b, gb), rtol=0, atol=rel * scale)


def _loop_conv(x, w, pad, stride, dilation):
    """The definition, one scalar at a time (groups=1)."""
    xp = np.pad(x, ((0, 0), (0, 0)) + pad)
    n_f, c, kh, kw = w.shape
    oh = conv_ref.conv_output_size(x.shape[2], kh, pad[0], stride[0], dilation[0])
    ow = conv_ref.conv_output_size(x.shape[3], kw, pad[1], stride[1], dilation[1])
    y = np.zeros((x.shape[0], n_f, oh, ow))
    for n, f, i, j, ci, a, b in itertools.product(range(x.shape[0]), range(n_f), range(oh),
                                                  range(ow), range(c), range(kh), range(kw)):
        y[n, f, i, j] += (xp[n, ci, i * stride[0] + a * dilation[0],
                             j * stride[1] + b * dilation[1]] * w[f, ci, a, b])
    return y


def test_reference_matches_the_scalar_definition(rng):
    for xs, ws, pad, st, dil, g in GEOMETRIES:
        if g != 1:
            continue
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        np.testing.assert_allclose(conv_ref.conv2d_fwd(x, w, pad, st, dil),
                                   _loop_conv(x, w, pad, st, dil), rtol=1e-12, atol=1e-12)


def test_reference_gradients_are_the_adjoints_of_the_forward(rng):
    for xs, ws, pad, st, dil, g in GEOMETRIES:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        y = conv_ref.conv2d_fwd(x, w, pad, st, dil, g)
        gy = rng.standard_normal(y.shape)
        gx = conv_ref.conv2d_bwd_input(gy, w, x.shape, pad, st, dil, g)
        gw = conv_ref.conv2d_bwd_filter(x, gy, w.shape, pad, st, dil, g)
        assert gx.shape == x.shape and gw.shape == w.shape
        _assert_adjoint(y, gy, x, gx, 1e-12)
        _assert_adjoint(y, gy, w, gw, 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: "x".join(map(str, g[0])))
def test_cpu_matches_reference(rng, dtype, geometry):
    xs, ws, pad, st, dil, g = geometry
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    y = conv_cpu.conv2d_fwd(x, w, pad, st, dil, g)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, conv_ref.conv2d_fwd(x, w, pad, st, dil, g), **tol)
    gy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(conv_cpu.conv2d_bwd_input(gy, w, x.shape, pad, st, dil, g),
                               conv_ref.conv2d_bwd_input(gy, w, x.shape, pad, st, dil, g), **tol)
    np.testing.assert_allclose(conv_cpu.conv2d_bwd_filter(x, gy, w.shape, pad, st, dil, g),
                               conv_ref.conv2d_bwd_filter(x, gy, w.shape, pad, st, dil, g), **tol)


def test_cpu_chunks_a_large_batch_like_a_small_one(rng, monkeypatch):
    # a tiny chunk budget forces one image per chunk: the result must not depend on chunking
    x, w = rng.standard_normal((7, 3, 8, 9)), rng.standard_normal((4, 3, 3, 3))
    args = (((1, 1), (0, 2)), (2, 1), (1, 1), 1)
    y = conv_cpu.conv2d_fwd(x, w, *args)
    gy = rng.standard_normal(y.shape)
    gw = conv_cpu.conv2d_bwd_filter(x, gy, w.shape, *args)
    gx = conv_cpu.conv2d_bwd_input(gy, w, x.shape, *args)
    monkeypatch.setattr(conv_cpu, "CHUNK_BYTES", 1)

    def close(got, want):
        # chunking changes the order of the sums (the filter gradient adds over the batch):
        # rounding relative to the array's scale, not to an element that nearly cancels
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())

    close(conv_cpu.conv2d_fwd(x, w, *args), y)
    close(conv_cpu.conv2d_bwd_filter(x, gy, w.shape, *args), gw)
    close(conv_cpu.conv2d_bwd_input(gy, w, x.shape, *args), gx)


def _loop_pool(x, ws, st, pad, ignore_border, mode):
    """Theano's definition, one window at a time on a 2-d array."""
    h, w = x.shape
    oh = conv_ref.pool_output_size(h, ws[0], st[0], pad[0], ignore_border)
    ow = conv_ref.pool_output_size(w, ws[1], st[1], pad[1], ignore_border)
    y = np.zeros((oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        rows = [r - pad[0] for r in range(i * st[0], min(i * st[0] + ws[0], h + 2 * pad[0]))]
        cols = [c - pad[1] for c in range(j * st[1], min(j * st[1] + ws[1], w + 2 * pad[1]))]
        vals = [x[r, c] for r in rows for c in cols if 0 <= r < h and 0 <= c < w]
        size = len(rows) * len(cols) if mode == "average_inc_pad" else len(vals)
        y[i, j] = max(vals) if mode == "max" else sum(vals) / (1 if mode == "sum" else size)
    return y


# (x shape, ws, stride, pad, ignore_border)
POOLS = [((2, 3, 7, 6), (2, 2), (2, 2), (0, 0), True),
         ((2, 3, 7, 6), (2, 2), (2, 2), (0, 0), False),
         ((2, 5, 7), (3, 2), (1, 2), (1, 1), True),
         ((7, 6), (3, 3), (2, 2), (0, 0), False),
         ((7, 6), (2, 3), (3, 4), (0, 0), False),  # stride > window: gaps
         ((1, 1, 5, 5), (3, 3), (1, 1), (2, 2), True)]


@pytest.mark.parametrize("mode", conv_ref.POOL_MODES)
def test_pool_reference_and_cpu_match_the_definition(rng, mode):
    for xs, ws, st, pad, ib in POOLS:
        x = rng.standard_normal(xs)
        want = np.stack([_loop_pool(p, ws, st, pad, ib, mode)
                         for p in x.reshape((-1,) + xs[-2:])]).reshape(
            xs[:-2] + conv_ref.pool2d_fwd(x, ws, st, pad, ib, mode).shape[-2:])
        # a window's sum can cancel to near 0 (seed 2292540796: 1.05e-05 off by 2.2e-16):
        # summation order, so an absolute bound too
        np.testing.assert_allclose(conv_ref.pool2d_fwd(x, ws, st, pad, ib, mode), want,
                                   rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(conv_cpu.pool2d_fwd(x, ws, st, pad, ib, mode), want,
                                   rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", conv_ref.POOL_MODES)
def test_pool_gradients_cpu_match_reference_and_are_adjoint(rng, dtype, mode):
    for xs, ws, st, pad, ib in POOLS:
        x = rng.standard_normal(xs).astype(dtype)
        y = conv_cpu.pool2d_fwd(x, ws, st, pad, ib, mode)
        assert y.dtype == np.dtype(dtype)
        gy = rng.standard_normal(y.shape).astype(dtype)
        want = conv_ref.pool2d_bwd(x, y, gy, ws, st, pad, ib, mode)
        got = conv_cpu.pool2d_bwd(x, y, gy, ws, st, pad, ib, mode)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        if mode != "max":  # linear: the gradient is the adjoint
            _assert_adjoint(y, gy, x, got, 1e-5 if dtype == "float32" else 1e-12)


def test_max_pool_gradient_goes_to_every_tied_maximum():
    x = np.array([[1.0, 3.0], [3.0, 0.0]])
    y = conv_cpu.pool2d_fwd(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(conv_cpu.pool2d_bwd(x, y, np.ones_like(y), (2, 2), (2, 2)),
                                  [[0.0, 1.0], [1.0, 0.0]])


def test_theano_documented_pool_sizes():
    # pool_2d's docs: a (5, 5) input with ws=(2, 2) gives (2, 2), or (3, 3) without
    # ignore_border
    x = np.arange(25.0).reshape(5, 5)
    assert conv_cpu.pool2d_fwd(x, (2, 2), (2, 2), ignore_border=True).shape == (2, 2)
    np.testing.assert_array_equal(conv_cpu.pool2d_fwd(x, (2, 2), (2, 2), ignore_border=False),
                                  [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


def test_max_pool_grad_grad_is_the_adjoint_of_the_max_pool_gradient(rng):
    for xs, ws, st, pad, ib in POOLS:
        x = rng.standard_normal(xs)
        y = conv_ref.pool2d_fwd(x, ws, st, pad, ib, "max")
        gy, ggx = rng.standard_normal(y.shape), rng.standard_normal(x.shape)
        gx = conv_ref.pool2d_bwd(x, y, gy, ws, st, pad, ib, "max")
        ggy = conv_ref.max_pool2d_grad_grad(x, y, ggx, ws, st, pad, ib)
        _assert_adjoint(gx, ggx, gy, ggy, 1e-12)


def test_small_problems_on_one_thread_give_the_same_result(rng, monkeypatch):
    # below PARALLEL_MIN_ELEMENTS the kernels run on the calling thread; the switch must not
    # change results nor leave Numba's thread count changed
    import numba

    x, w = rng.standard_normal((3, 2, 6, 7)), rng.standard_normal((4, 2, 3, 3))
    threads = numba.get_num_threads()
    monkeypatch.setattr(conv_cpu, "PARALLEL_MIN_ELEMENTS", 1 << 40)
    small = conv_cpu.conv2d_fwd(x, w), conv_cpu.pool2d_fwd(x, (2, 2), (1, 2))
    assert numba.get_num_threads() == threads
    monkeypatch.setattr(conv_cpu, "PARALLEL_MIN_ELEMENTS", 0)
    np.testing.assert_allclose(conv_cpu.conv2d_fwd(x, w), small[0], rtol=1e-12)
    np.testing.assert_allclose(conv_cpu.pool2d_fwd(x, (2, 2), (1, 2)), small[1], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [2, 3])
def test_batch_parts_on_threads_match_reference(rng, monkeypatch, dtype, threads):
    # several threads: one part of the batch per Python thread (kernels.blas_threads), each
    # with its own chunks and scratch; parts of unequal size, fewer images than threads,
    # groups, padding and strides must give the reference's result, and leave the thread
    # counts (Numba's, OpenBLAS's) as they were
    import numba

    from kernels import blas_threads

    if not blas_threads.available():
        pytest.skip("OpenBLAS's thread count cannot be set here: the parts path is off")
    monkeypatch.setattr(conv_cpu, "_threads", lambda: threads)
    monkeypatch.setattr(conv_cpu, "PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(conv_cpu, "CHUNK_BYTES", 600)  # several chunks in each part
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-12}
    numba_before, blas_before = numba.get_num_threads(), blas_threads._CONTROLS[1]()
    for xs, ws, pad, st, dil, g in GEOMETRIES[:2] + [((7, 3, 9, 8), (4, 3, 3, 2),
                                                    ((1, 0), (2, 1)), (2, 1), (1, 1), 1)]:
        x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
        plan = conv_cpu._Plan(xs, ws, pad, st, dil, g, np.dtype(dtype))
        assert plan.parts == min(threads, xs[0])
        y = conv_cpu.conv2d_fwd(x, w, pad, st, dil, g)
        np.testing.assert_allclose(y, conv_ref.conv2d_fwd(x, w, pad, st, dil, g), **tol)
        gy = rng.standard_normal(y.shape).astype(dtype)
        np.testing.assert_allclose(conv_cpu.conv2d_bwd_input(gy, w, xs, pad, st, dil, g),
                                   conv_ref.conv2d_bwd_input(gy, w, xs, pad, st, dil, g), **tol)
        gw = conv_cpu.conv2d_bwd_filter(x, gy, ws, pad, st, dil, g)
        assert gw.dtype == np.dtype(dtype)
        np.testing.assert_allclose(gw, conv_ref.conv2d_bwd_filter(x, gy, ws, pad, st, dil, g),
                                   **tol)
    assert numba.get_num_threads() == numba_before
    assert blas_threads._CONTROLS[1]() == blas_before
