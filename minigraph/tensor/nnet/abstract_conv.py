"""2-D convolution for CNNs: ``T.nnet.conv2d`` and its two gradients, as three ops.

Theano's ``theano.tensor.nnet.abstract_conv`` names and semantics: images ``(batch, channels,
rows, cols)``, filters ``(out_channels, in_channels // num_groups, rows, cols)``; border modes
``'valid'``, ``'full'``, ``'half'``, an int, a pair of ints or a pair of ``(before, after)``
pairs; ``subsample`` (strides), ``filter_dilation``, ``num_groups``; ``filter_flip=True`` is a
true convolution (the kernel flipped), ``False`` a cross-correlation.

The gradients are ops of their own (``AbstractConv2d_gradInputs``, ``AbstractConv2d_gradWeights``)
so graphs and profiles name them, and each is differentiable again: all three are bilinear, so
every derivative is one of the three ops.  The array code lives in ``kernels/conv_cpu.py``
(fast) and ``kernels/conv_ref.py`` (the reference, used by ``perform``).
"""

import numpy as np

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from ..basic import as_tensor_variable
from ..shape import as_shape_vector, int_pair, specify_shape, static_shape_of

__all__ = ["conv2d", "conv2d_transpose", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights",
           "get_conv_output_shape", "AbstractConv2d", "AbstractConv2d_gradInputs",
           "AbstractConv2d_gradWeights"]

BORDER_MODES = ("valid", "full", "half")


def normalize_border_mode(border_mode):
    """``'valid'``/``'full'``/``'half'``, or explicit padding ``((top, bottom), (left, right))``."""
    if isinstance(border_mode, str):
        if border_mode not in BORDER_MODES:
            raise GraphError(f"conv2d: unknown border_mode {border_mode!r}; use one of "
                             f"{', '.join(map(repr, BORDER_MODES))}, an int or a pair of ints")
        return border_mode
    if isinstance(border_mode, (int, np.integer)):
        border_mode = (border_mode, border_mode)
    if isinstance(border_mode, (tuple, list)) and len(border_mode) == 2:
        pads = tuple(int_pair(p, "each padding", "conv2d") for p in border_mode)
        if min(min(p) for p in pads) >= 0:
            return pads
    raise GraphError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int >= 0 or a "
                     f"pair of them (or of (before, after) pairs), got {border_mode!r}")


def resolve_padding(border_mode, kernel_shape, dilation):
    """The explicit ``((top, bottom), (left, right))`` padding for a kernel of that shape."""
    if not isinstance(border_mode, str):
        return border_mode
    pads = []
    for k, d in zip(kernel_shape, dilation):
        dk = (k - 1) * d + 1
        p = {"valid": 0, "full": dk - 1, "half": dk // 2}[border_mode]
        pads.append((p, p))
    return tuple(pads)


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample,
                          filter_dilation=(1, 1)):
    """The output shape of a 2-d convolution; entries may be None (unknown) or symbolic.

    >>> get_conv_output_shape((500, 1, 28, 28), (20, 1, 5, 5), 'valid', (1, 1))
    (500, 20, 24, 24)
    """
    border_mode = normalize_border_mode(border_mode)
    out = [image_shape[0], kernel_shape[0]]
    for i in range(2):
        size, k, s, d = image_shape[2 + i], kernel_shape[2 + i], subsample[i], filter_dilation[i]
        if size is None or k is None:
            out.append(None)
            continue
        dk = (k - 1) * d + 1
        if border_mode == "valid":
            lo_hi = 0
        elif border_mode == "full":
            lo_hi = 2 * (dk - 1)
        elif border_mode == "half":
            lo_hi = 2 * (dk // 2)
        else:
            lo_hi = sum(border_mode[i])
        out.append((size + lo_hi - dk) // s + 1)
    return tuple(out)


class _ConvBase(Op):
    """What the three ops share: their parameters, the padding, dtype and shape checks."""

    __props__ = ("border_mode", "subsample", "filter_flip", "filter_dilation", "num_groups")

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_flip=True,
                 filter_dilation=(1, 1), num_groups=1):
        self.border_mode = normalize_border_mode(border_mode)
        self.subsample = int_pair(subsample, "subsample", "conv2d")
        self.filter_dilation = int_pair(filter_dilation, "filter_dilation", "conv2d")
        if min(self.subsample) < 1 or min(self.filter_dilation) < 1:
            raise GraphError(f"conv2d: subsample and filter_dilation must be >= 1, got "
                             f"{self.subsample} and {self.filter_dilation}")
        self.filter_flip = bool(filter_flip)
        self.num_groups = int(num_groups)
        if self.num_groups < 1:
            raise GraphError(f"conv2d: num_groups must be >= 1, got {num_groups}")

    # The function of kernels/conv_ref.py (perform) and kernels/conv_cpu.py (compiled) that
    # runs the op, wrapped by the subclass's ``_run(node, kernel)``.
    _kernel = None

    def perform(self, node, inputs, output_storage):
        from kernels import conv_ref

        output_storage[0][0] = self._run(node, getattr(conv_ref, self._kernel))(*inputs)

    def make_py_callable(self, node):
        from kernels import conv_cpu

        return self._run(node, getattr(conv_cpu, self._kernel))

    def _params(self, kernel_shape):
        pad = resolve_padding(self.border_mode, kernel_shape, self.filter_dilation)
        return pad, self.subsample, self.filter_dilation, self.num_groups

    def _same_float(self, *vs):
        from ..math import cast

        dt = np.result_type(*(v.dtype for v in vs))
        if dt.kind != "f":
            raise GraphError(f"conv2d: images and filters must be floats, got "
                             f"{', '.join(v.dtype for v in vs)}{where(vs[0])}")
        return [v if v.dtype == dt else cast(v, str(dt)) for v in vs]

    def _check_4d(self, **named):
        for name, v in named.items():
            if v.ndim != 4:
                raise GraphError(f"conv2d: {name} must be 4-d (batch, channels, rows, cols) "
                                 f"or, for filters, (out_channels, in_channels, rows, cols); "
                                 f"got {v.type.short()} ({v.describe()}){where(v)}")

    def _check_channels(self, channels, w_in, groups_out=None):
        g = self.num_groups
        if channels is not None and w_in is not None and channels != w_in * g:
            raise GraphError(f"conv2d: the images have {channels} channels but the filters "
                             f"expect {w_in * g} ({w_in} per group x {g} groups)")
        if groups_out is not None and groups_out % g:
            raise GraphError(f"conv2d: {groups_out} filters cannot be split into {g} groups")

    def _check_runtime(self, node, n_channels, w_shape):
        g = self.num_groups
        if n_channels != w_shape[1] * g or w_shape[0] % g:
            raise ValueError(f"conv2d: images with {n_channels} channels do not fit filters of "
                             f"shape {w_shape} with num_groups={g} (node created at "
                             f"{node.trace})")


def _shape2(x):
    """``x``'s last two dims as a shape vector, constant where statically known."""
    return as_shape_vector([s if s is not None else x.shape[i + 2]
                            for i, s in enumerate(x.type.shape[2:])])


class AbstractConv2d(_ConvBase):
    """``conv2d(images, filters)``; see :func:`conv2d`."""

    _kernel = "conv2d_fwd"

    def make_node(self, img, kern):
        img, kern = (as_tensor_variable(v) for v in (img, kern))
        self._check_4d(input=img, filters=kern)
        img, kern = self._same_float(img, kern)
        self._check_channels(img.type.shape[1], kern.type.shape[1], kern.type.shape[0])
        shp = get_conv_output_shape(img.type.shape, kern.type.shape, self.border_mode,
                                    self.subsample, self.filter_dilation)
        if any(s is not None and s < 1 for s in shp[2:]):
            raise GraphError(f"conv2d: images {img.type.shape[2:]} are too small for filters "
                             f"{kern.type.shape[2:]} with border_mode={self.border_mode!r} and "
                             f"filter_dilation={self.filter_dilation}")
        return Apply(self, [img, kern], [TensorType(img.dtype, shape=shp)()])

    def _run(self, node, fwd):
        flip = self.filter_flip

        def run(x, w):
            self._check_runtime(node, x.shape[1], w.shape)
            if flip:
                w = w[:, :, ::-1, ::-1]
            pad = self._params(w.shape[2:])[0]
            if min(_out_len(x.shape, w.shape, pad, self.subsample, self.filter_dilation)) < 1:
                raise ValueError(f"conv2d: images {x.shape[2:]} are too small for filters "
                                 f"{w.shape[2:]} (node created at {node.trace})")
            return fwd(x, w, *self._params(w.shape[2:]))

        return run

    def grad(self, inputs, outputs, output_grads):
        x, w = inputs
        gy = output_grads[0]
        args = self._props()
        gx = AbstractConv2d_gradInputs(*args)(w, gy, _shape2(x))
        gw = AbstractConv2d_gradWeights(*args)(x, gy, _shape2(w))
        return [gx, gw]

    def infer_shape(self, node, input_shapes):
        xs, ws = input_shapes
        return [get_conv_output_shape(xs, ws, self.border_mode, self.subsample,
                                      self.filter_dilation)]


def _out_len(x_shape, w_shape, pad, stride, dilation):
    return tuple((x_shape[2 + i] + sum(pad[i]) - (w_shape[2 + i] - 1) * dilation[i] - 1)
                 // stride[i] + 1 for i in range(2))


class AbstractConv2d_gradInputs(_ConvBase):  # noqa: N801 - Theano's name
    """The gradient of :class:`AbstractConv2d` with respect to its images.

    Inputs: ``filters``, ``output_grad`` and the images' ``(rows, cols)`` (with strides the
    output does not determine them).
    """

    _kernel = "conv2d_bwd_input"

    def make_node(self, kern, topgrad, shape):
        kern, topgrad = (as_tensor_variable(v) for v in (kern, topgrad))
        self._check_4d(filters=kern, output_grad=topgrad)
        kern, topgrad = self._same_float(kern, topgrad)
        shape = as_shape_vector(shape)
        chans = None if kern.type.shape[1] is None else kern.type.shape[1] * self.num_groups
        out = (topgrad.type.shape[0], chans) + static_shape_of(shape, 2)
        return Apply(self, [kern, topgrad, shape], [TensorType(kern.dtype, shape=out)()])

    def _run(self, node, bwd):
        def run(w, gy, shape):
            x_shape = (gy.shape[0], w.shape[1] * self.num_groups, int(shape[0]), int(shape[1]))
            if self.filter_flip:
                w = w[:, :, ::-1, ::-1]
            return bwd(gy, w, x_shape, *self._params(w.shape[2:]))

        return run

    def grad(self, inputs, outputs, output_grads):
        w, gy, shape = inputs
        ggx = output_grads[0]
        args = self._props()
        gw = AbstractConv2d_gradWeights(*args)(ggx, gy, _shape2(w))
        ggy = AbstractConv2d(*args)(ggx, w)
        return [gw, ggy, None]

    def infer_shape(self, node, input_shapes):
        w, gy, shape = node.inputs
        return [(input_shapes[1][0], input_shapes[0][1] * self.num_groups, shape[0], shape[1])]


class AbstractConv2d_gradWeights(_ConvBase):  # noqa: N801 - Theano's name
    """The gradient of :class:`AbstractConv2d` with respect to its filters.

    Inputs: the images, ``output_grad`` and the filters' ``(rows, cols)``.
    """

    _kernel = "conv2d_bwd_filter"

    def make_node(self, img, topgrad, shape):
        img, topgrad = (as_tensor_variable(v) for v in (img, topgrad))
        self._check_4d(input=img, output_grad=topgrad)
        img, topgrad = self._same_float(img, topgrad)
        shape = as_shape_vector(shape)
        cg = None if img.type.shape[1] is None else img.type.shape[1] // self.num_groups
        out = (topgrad.type.shape[1], cg) + static_shape_of(shape, 2)
        return Apply(self, [img, topgrad, shape], [TensorType(img.dtype, shape=out)()])

    def _run(self, node, bwd):
        def run(x, gy, shape):
            w_shape = (gy.shape[1], x.shape[1] // self.num_groups, int(shape[0]), int(shape[1]))
            gw = bwd(x, gy, w_shape, *self._params(w_shape[2:]))
            return np.ascontiguousarray(gw[:, :, ::-1, ::-1]) if self.filter_flip else gw

        return run

    def grad(self, inputs, outputs, output_grads):
        x, gy, shape = inputs
        ggw = output_grads[0]
        args = self._props()
        gx = AbstractConv2d_gradInputs(*args)(ggw, gy, _shape2(x))
        ggy = AbstractConv2d(*args)(x, ggw)
        return [gx, ggy, None]

    def infer_shape(self, node, input_shapes):
        x, gy, shape = node.inputs
        return [(input_shapes[1][1], input_shapes[0][1] // self.num_groups, shape[0], shape[1])]


def _hint(v, shape, what):
    """Check a user's ``input_shape``/``filter_shape`` hint against ``v`` and apply it."""
    if shape is None:
        return v
    shape = tuple(None if s is None else int(s) for s in shape)
    if len(shape) != 4:
        raise GraphError(f"conv2d: {what} must have 4 entries, got {shape}")
    for known, given in zip(v.type.shape, shape):
        if known is not None and given is not None and known != given:
            raise GraphError(f"conv2d: {what}={shape} does not match {v.describe()} of shape "
                             f"{v.type.shape}{where(v)}")
    return specify_shape(v, [g if g is not None else k for g, k in zip(shape, v.type.shape)])


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None, filter_dilation=(1, 1),
           num_groups=1, **kwargs):
    """``theano.tensor.nnet.conv2d``: a 2-d convolution over a batch of multi-channel images.

    Parameters
    ----------
    input : 4-d tensor ``(batch, channels, rows, cols)``
    filters : 4-d tensor ``(out_channels, channels // num_groups, rows, cols)``
    input_shape, filter_shape : tuples of 4 ints or None, optional
        Static shapes, checked when the function runs (``image_shape`` is the old name).
    border_mode : 'valid', 'full', 'half', int, (int, int) or ((int, int), (int, int))
        ``'valid'``: no padding; ``'full'``: every overlap (pad ``k - 1``); ``'half'``: pad
        ``k // 2`` (same size for odd ``k``); ints: zero padding per side.
    subsample : (int, int)
        Strides.
    filter_flip : bool
        True (default): convolution, the kernel flipped; False: cross-correlation.
    filter_dilation : (int, int)
        Spacing between kernel taps.
    num_groups : int
        Grouped convolution: channels and filters split into that many independent groups.

    Returns
    -------
    4-d tensor ``(batch, out_channels, out_rows, out_cols)``

    Examples
    --------
    >>> import numpy as np, minigraph, minigraph.tensor as T
    >>> x, w = T.tensor4("x"), T.tensor4("w")
    >>> f = minigraph.function([x, w], T.nnet.conv2d(x, w, border_mode="half"))
    >>> f(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)))[0, 0]
    array([[4., 6., 4.],
           [6., 9., 6.],
           [4., 6., 4.]])
    """
    if kwargs:
        raise GraphError(f"conv2d: unexpected arguments {', '.join(sorted(kwargs))}")
    if image_shape is not None:
        if input_shape is not None:
            raise GraphError("conv2d: give input_shape or its old name image_shape, not both")
        input_shape = image_shape
    img = _hint(as_tensor_variable(input), input_shape, "input_shape")
    kern = _hint(as_tensor_variable(filters), filter_shape, "filter_shape")
    op = AbstractConv2d(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    return op(img, kern)


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1), num_groups=1):
    """The gradient of :func:`conv2d` with respect to its images (a "transposed convolution").

    ``input_shape`` is the images' shape (4 entries; only the last two are used).
    """
    kern = _hint(as_tensor_variable(filters), filter_shape, "filter_shape")
    op = AbstractConv2d_gradInputs(border_mode, subsample, filter_flip, filter_dilation,
                                   num_groups)
    return op(kern, output_grad, list(input_shape)[-2:])


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1), num_groups=1):
    """The gradient of :func:`conv2d` with respect to its filters, of shape ``filter_shape``."""
    img = _hint(as_tensor_variable(input), input_shape, "input_shape")
    op = AbstractConv2d_gradWeights(border_mode, subsample, filter_flip, filter_dilation,
                                    num_groups)
    return op(img, output_grad, list(filter_shape)[-2:])


def conv2d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid",
                     input_dilation=(1, 1), filter_flip=True, filter_dilation=(1, 1),
                     num_groups=1):
    """``T.nnet.conv2d_transpose``: the transpose of :func:`conv2d` ("deconvolution").

    The gradient of a ``conv2d`` with ``subsample=input_dilation`` with respect to its images,
    applied to ``input``; ``output_shape`` is the shape of those images (the result's shape).

    >>> import numpy as np, minigraph, minigraph.tensor as T
    >>> x, w = T.tensor4("x"), T.tensor4("w")
    >>> y = conv2d_transpose(x, w, output_shape=(1, 1, 3, 3))
    >>> minigraph.function([x, w], y)(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    return conv2d_grad_wrt_inputs(input, filters, output_shape, filter_shape, border_mode,
                                  input_dilation, filter_flip, filter_dilation, num_groups)
