"""``T.nnet.neighbours``: ``images2neibs`` and ``neibs2images``, as Theano's.

``images2neibs`` cuts every image of a 4-d ``(batch, channels, rows, cols)`` tensor into
windows of ``neib_shape`` taken every ``neib_step`` pixels and returns one flattened window
per row, in order (image by image, windows row-major, pixels row-major). Its gradient adds
each window's gradient back where the window came from (`Neibs2ImagesGrad`), which in turn
has the cutting as its gradient. ``neibs2images`` is the inverse for non-overlapping
windows, composed from reshape and dimshuffle.
"""

import numpy as np

from minigraph.graph.basic import Apply, Constant, GraphError, Variable, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from ..basic import as_tensor_variable
from ..shape import reshape, zeros
from ..subtensor import set_subtensor

_MODES = ("valid", "ignore_borders")


def _pair(v, what):
    if isinstance(v, Constant):
        v = v.data
    if isinstance(v, Variable):
        raise GraphError(f"images2neibs: {what} must be known when the graph is built (ints), "
                         f"got the symbolic {v}")
    pair = tuple(int(s) for s in np.asarray(v).reshape(-1))
    if len(pair) != 2 or min(pair) < 1:
        raise GraphError(f"images2neibs: {what} must be two positive ints, got {v!r}")
    return pair


def _grid(op, rows, cols, trace):
    """Number of windows down and across, checking 'valid' mode's exact fit."""
    (nh, nw), (sh, sw) = op.neib_shape, op.neib_step
    if rows < nh or cols < nw:
        raise ValueError(f"images2neibs: images of {rows}x{cols} are smaller than the "
                         f"{nh}x{nw} window (node created at {trace})")
    if op.mode == "valid" and ((rows - nh) % sh or (cols - nw) % sw):
        raise ValueError(f"images2neibs: mode='valid' needs the {nh}x{nw} windows with "
                         f"steps {sh}x{sw} to tile the {rows}x{cols} images exactly; use "
                         f"mode='ignore_borders' (node created at {trace})")
    return (rows - nh) // sh + 1, (cols - nw) // sw + 1


class Images2Neibs(Op):
    """Windows of a 4-d tensor as rows of a matrix (see the module docstring)."""

    __props__ = ("neib_shape", "neib_step", "mode")

    def __init__(self, neib_shape, neib_step, mode="valid"):
        self.neib_shape, self.neib_step, self.mode = neib_shape, neib_step, mode

    def make_node(self, ten4):
        ten4 = as_tensor_variable(ten4)
        if ten4.ndim != 4:
            raise GraphError(f"images2neibs needs a 4-d tensor (batch, channels, rows, cols), "
                             f"got {ten4.type.short()}{where(ten4)}")
        width = self.neib_shape[0] * self.neib_shape[1]
        return Apply(self, [ten4], [TensorType(ten4.dtype, shape=(None, width))()])

    def perform(self, node, inputs, output_storage):
        x = inputs[0]
        nr, nc = _grid(self, x.shape[2], x.shape[3], node.trace)
        (nh, nw), (sh, sw) = self.neib_shape, self.neib_step
        win = np.lib.stride_tricks.sliding_window_view(x, (nh, nw), axis=(2, 3))
        win = win[:, :, : (nr - 1) * sh + 1 : sh, : (nc - 1) * sw + 1 : sw]
        output_storage[0][0] = np.ascontiguousarray(win).reshape(-1, nh * nw)

    def grad(self, inputs, outputs, output_grads):
        return [Neibs2ImagesGrad(self.neib_shape, self.neib_step, self.mode)(
            output_grads[0], inputs[0])]


class Neibs2ImagesGrad(Op):
    """The adjoint of `Images2Neibs`: window rows added back into an array shaped like ``x``
    (``x`` gives only the shape); pixels outside every window get zero."""

    __props__ = ("neib_shape", "neib_step", "mode")

    def __init__(self, neib_shape, neib_step, mode="valid"):
        self.neib_shape, self.neib_step, self.mode = neib_shape, neib_step, mode

    def make_node(self, gz, x):
        gz, x = as_tensor_variable(gz), as_tensor_variable(x)
        return Apply(self, [gz, x], [TensorType(gz.dtype, shape=x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        gz, x = inputs
        b, c, rows, cols = x.shape
        nr, nc = _grid(self, rows, cols, node.trace)
        (nh, nw), (sh, sw) = self.neib_shape, self.neib_step
        g = gz.reshape(b, c, nr, nc, nh, nw)
        out = np.zeros(x.shape, dtype=gz.dtype)
        for i in range(nh):  # one strided add per pixel of the window: overlaps accumulate
            for j in range(nw):
                out[:, :, i : i + (nr - 1) * sh + 1 : sh, j : j + (nc - 1) * sw + 1 : sw] += \
                    g[:, :, :, :, i, j]
        output_storage[0][0] = out

    def grad(self, inputs, outputs, output_grads):
        return [Images2Neibs(self.neib_shape, self.neib_step, self.mode)(output_grads[0]),
                None]


def images2neibs(ten4, neib_shape, neib_step=None, mode="valid"):
    """Every ``neib_shape`` window of each image of ``ten4``, one flattened window per row.

    Parameters
    ----------
    ten4 : 4-d tensor
        ``(batch, channels, rows, cols)``.
    neib_shape : pair of ints
        Window height and width.
    neib_step : pair of ints, optional
        Distance between window starts; defaults to ``neib_shape`` (no overlap).
    mode : {'valid', 'ignore_borders'}
        'valid' requires the windows to tile each image exactly; 'ignore_borders' drops the
        pixels left over at the bottom and right.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dtensor4("x")
    >>> T.nnet.neighbours.images2neibs(x, (2, 2)).eval(
    ...     {x: np.arange(8.0).reshape(1, 1, 2, 4)}).tolist()
    [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0]]
    """
    if mode not in _MODES:
        raise GraphError(f"images2neibs: mode must be one of {_MODES}, got {mode!r}")
    shape = _pair(neib_shape, "neib_shape")
    step = shape if neib_step is None else _pair(neib_step, "neib_step")
    return Images2Neibs(shape, step, mode)(ten4)


def neibs2images(neibs, neib_shape, original_shape, mode="valid"):
    """The images back from non-overlapping windows made by ``images2neibs``.

    ``original_shape`` is the 4-d shape of the images (ints or a symbolic shape). With
    'ignore_borders' the pixels no window covered are zero.

    >>> import minigraph.tensor as T, numpy as np
    >>> x = T.dtensor4("x")
    >>> v = np.arange(8.0).reshape(1, 1, 2, 4)
    >>> back = T.nnet.neighbours.neibs2images(T.nnet.neighbours.images2neibs(x, (2, 2)),
    ...                                       (2, 2), x.shape)
    >>> bool((back.eval({x: v}) == v).all())
    True
    """
    if mode not in _MODES:
        raise GraphError(f"neibs2images: mode must be one of {_MODES}, got {mode!r}")
    nh, nw = _pair(neib_shape, "neib_shape")
    neibs = as_tensor_variable(neibs)
    b, c, rows, cols = (original_shape[i] for i in range(4))
    nr, nc = rows // nh, cols // nw
    grid = reshape(neibs, (b, c, nr, nc, nh, nw), ndim=6).dimshuffle(0, 1, 2, 4, 3, 5)
    images = reshape(grid, (b, c, nr * nh, nc * nw), ndim=4)
    if mode == "valid":
        return images
    return set_subtensor(zeros((b, c, rows, cols), dtype=neibs.dtype)[:, :, : nr * nh,
                                                                      : nc * nw], images)
