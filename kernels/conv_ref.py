"""Convolution and pooling in plain NumPy, written from their definitions: the specification.

Every function here loops over output positions (one window at a time) so that the code reads
as the formula; ``kernels.conv_cpu`` implements the same signatures fast, and the tests compare
the two.  Arrays in, arrays out: nothing here knows about graphs.

Conventions (shared with ``kernels.conv_cpu``):

* images are ``(batch, channels, rows, cols)``; filters ``(out_channels, in_channels // groups,
  rows, cols)``;
* the convolution is a *cross-correlation* (no kernel flip; callers flip for a true
  convolution); ``pad`` is ``((top, bottom), (left, right))`` zero padding, ``stride`` and
  ``dilation`` are pairs;
* pooling works on the last two axes of any array with at least two; ``mode`` is one of
  ``POOL_MODES`` with Theano's meaning (see :func:`pool2d_fwd`).
"""

import numpy as np

__all__ = ["POOL_MODES", "conv_output_size", "pool_output_size", "conv2d_fwd",
           "conv2d_bwd_input", "conv2d_bwd_filter", "pool2d_fwd", "pool2d_bwd",
           "max_pool2d_grad_grad"]

POOL_MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def conv_output_size(size, k, pad, stride, dilation):
    """Output length along one axis: ``(size + lo + hi - dilated_k) // stride + 1``.

    >>> conv_output_size(28, 5, (0, 0), 1, 1)
    24
    """
    dk = (k - 1) * dilation + 1
    return (size + pad[0] + pad[1] - dk) // stride + 1


def pool_output_size(size, ws, stride, pad, ignore_border, maximum=max):
    """Number of pooling windows along one axis, as Theano counts them.

    With ``ignore_border`` only whole windows (of the padded input) count; without it a last,
    partial window covers the leftover rows. ``size`` may also be symbolic, with ``maximum``
    the graph's elementwise maximum (``minigraph.tensor.signal.pool`` infers shapes so).

    >>> pool_output_size(5, 2, 2, 0, True), pool_output_size(5, 2, 2, 0, False)
    (2, 3)
    """
    n = size + 2 * pad
    if ignore_border:
        return maximum(0, (n - ws) // stride + 1)
    if stride >= ws:
        return (n - 1) // stride + 1
    return maximum(0, (n - 1 - ws + stride) // stride) + 1


def _window(o, k, stride, dilation):
    """The slice of the padded input that output position ``o`` reads."""
    start = o * stride
    return slice(start, start + (k - 1) * dilation + 1, dilation)


def _geometry(x_shape, w_shape, pad, stride, dilation):
    oh = conv_output_size(x_shape[2], w_shape[2], pad[0], stride[0], dilation[0])
    ow = conv_output_size(x_shape[3], w_shape[3], pad[1], stride[1], dilation[1])
    return oh, ow


def conv2d_fwd(x, w, pad=((0, 0), (0, 0)), stride=(1, 1), dilation=(1, 1), groups=1):
    """``y[n, f, i, j] = sum_{c, a, b} xpad[n, c, i*s0 + a*d0, j*s1 + b*d1] * w[f, c, a, b]``.

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d_fwd(x, np.ones((1, 1, 2, 2)))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pad))
    oh, ow = _geometry(x.shape, w.shape, pad, stride, dilation)
    n_f, cg, kh, kw = w.shape
    fg = n_f // groups
    y = np.zeros((x.shape[0], n_f, oh, ow), dtype=np.result_type(x, w))
    for g in range(groups):
        xs, ws = xp[:, g * cg:(g + 1) * cg], w[g * fg:(g + 1) * fg]
        for i in range(oh):
            for j in range(ow):
                win = xs[:, :, _window(i, kh, stride[0], dilation[0]),
                         _window(j, kw, stride[1], dilation[1])]
                y[:, g * fg:(g + 1) * fg, i, j] = np.tensordot(win, ws, ([1, 2, 3], [1, 2, 3]))
    return y


def conv2d_bwd_input(gy, w, x_shape, pad=((0, 0), (0, 0)), stride=(1, 1), dilation=(1, 1),
                     groups=1):
    """The gradient of :func:`conv2d_fwd` with respect to ``x`` (of shape ``x_shape``).

    Each output position sends ``gy[n, f, i, j] * w[f]`` back to the window it read.
    """
    (pt, pb), (pl, pr) = pad
    n, c, h, wd = x_shape
    gxp = np.zeros((n, c, h + pt + pb, wd + pl + pr), dtype=np.result_type(gy, w))
    n_f, cg, kh, kw = w.shape
    fg = n_f // groups
    for g in range(groups):
        ws = w[g * fg:(g + 1) * fg]
        for i in range(gy.shape[2]):
            for j in range(gy.shape[3]):
                win = (slice(None), slice(g * cg, (g + 1) * cg),
                       _window(i, kh, stride[0], dilation[0]),
                       _window(j, kw, stride[1], dilation[1]))
                gxp[win] += np.tensordot(gy[:, g * fg:(g + 1) * fg, i, j], ws, (1, 0))
    return gxp[:, :, pt:pt + h, pl:pl + wd]


def conv2d_bwd_filter(x, gy, w_shape, pad=((0, 0), (0, 0)), stride=(1, 1), dilation=(1, 1),
                      groups=1):
    """The gradient of :func:`conv2d_fwd` with respect to ``w`` (of shape ``w_shape``)."""
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pad))
    n_f, cg, kh, kw = w_shape
    fg = n_f // groups
    gw = np.zeros(w_shape, dtype=np.result_type(x, gy))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(gy.shape[2]):
            for j in range(gy.shape[3]):
                win = xs[:, :, _window(i, kh, stride[0], dilation[0]),
                         _window(j, kw, stride[1], dilation[1])]
                gw[g * fg:(g + 1) * fg] += np.tensordot(gy[:, g * fg:(g + 1) * fg, i, j], win,
                                                        (0, 0))
    return gw


def _pool_windows(h, w, ws, stride, pad, ignore_border, mode):
    """Yield ``(i, j, rows, cols, count)``: each output position, the slices of the
    *unpadded* input its window covers, and the divisor an average uses.

    Theano's rule: windows are cut from the padded image (clipped to it); ``max``, ``sum`` and
    ``average_exc_pad`` then drop the padding, ``average_inc_pad`` counts it in the divisor.
    """
    oh = pool_output_size(h, ws[0], stride[0], pad[0], ignore_border)
    ow = pool_output_size(w, ws[1], stride[1], pad[1], ignore_border)
    for i in range(oh):
        r0 = i * stride[0]
        r1 = min(r0 + ws[0], h + 2 * pad[0])
        for j in range(ow):
            c0 = j * stride[1]
            c1 = min(c0 + ws[1], w + 2 * pad[1])
            rows = slice(max(r0, pad[0]) - pad[0], min(r1, h + pad[0]) - pad[0])
            cols = slice(max(c0, pad[1]) - pad[1], min(c1, w + pad[1]) - pad[1])
            if mode == "average_inc_pad":
                count = (r1 - r0) * (c1 - c0)
            else:
                count = (rows.stop - rows.start) * (cols.stop - cols.start)
            yield i, j, rows, cols, count


def pool2d_fwd(x, ws, stride, pad=(0, 0), ignore_border=True, mode="max"):
    """Pool the last two axes of ``x`` over ``ws`` windows moved by ``stride``.

    ``max`` and ``sum`` see only the real (unpadded) values of a window, ``average_exc_pad``
    divides their sum by their count, ``average_inc_pad`` by the window's size including
    padding (clipped to the padded image).

    >>> pool2d_fwd(np.arange(16.0).reshape(4, 4), (2, 2), (2, 2))
    array([[ 5.,  7.],
           [13., 15.]])
    """
    h, w = x.shape[-2:]
    oh = pool_output_size(h, ws[0], stride[0], pad[0], ignore_border)
    ow = pool_output_size(w, ws[1], stride[1], pad[1], ignore_border)
    y = np.zeros(x.shape[:-2] + (oh, ow), dtype=x.dtype)
    for i, j, rows, cols, count in _pool_windows(h, w, ws, stride, pad, ignore_border, mode):
        win = x[..., rows, cols]
        if mode == "max":
            y[..., i, j] = win.max(axis=(-2, -1))
        else:
            y[..., i, j] = win.sum(axis=(-2, -1)) / (1 if mode == "sum" else count)
    return y


def pool2d_bwd(x, y, gy, ws, stride, pad=(0, 0), ignore_border=True, mode="max"):
    """The gradient of :func:`pool2d_fwd` with respect to ``x``.

    ``max`` sends a window's gradient to every position holding the window's maximum (all of
    them on ties, as Theano does); the other modes spread it over the window like the forward.
    """
    h, w = x.shape[-2:]
    gx = np.zeros(x.shape, dtype=np.result_type(x, gy))
    for i, j, rows, cols, count in _pool_windows(h, w, ws, stride, pad, ignore_border, mode):
        g = gy[..., i, j, None, None]
        if mode == "max":
            gx[..., rows, cols] += g * (x[..., rows, cols] == y[..., i, j, None, None])
        else:
            gx[..., rows, cols] += g / (1 if mode == "sum" else count)
    return gx


def max_pool2d_grad_grad(x, y, ggx, ws, stride, pad=(0, 0), ignore_border=True):
    """The derivative of the max-pool gradient with respect to the output gradient, applied to
    ``ggx``: each window sums ``ggx`` over the positions holding its maximum (the adjoint of
    :func:`pool2d_bwd` in ``max`` mode, which is linear in ``gy``).
    """
    h, w = x.shape[-2:]
    ggy = np.zeros(y.shape, dtype=np.result_type(x, ggx))
    for i, j, rows, cols, _ in _pool_windows(h, w, ws, stride, pad, ignore_border, "max"):
        hit = x[..., rows, cols] == y[..., i, j, None, None]
        ggy[..., i, j] = (ggx[..., rows, cols] * hit).sum(axis=(-2, -1))
    return ggy
