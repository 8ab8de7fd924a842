"""``theano.tensor.nnet.conv``: the old ``conv2d`` (``image_shape``, ``'valid'``/``'full'``).

The deeplearning.net tutorials of Theano's 0.x years call
``conv.conv2d(input, filters, filter_shape=..., image_shape=...)``; it is the same true
(flipped-kernel) convolution as ``T.nnet.conv2d``, with only two border modes and the shapes
named differently, so it is built on :mod:`minigraph.tensor.nnet.abstract_conv`.
"""

from minigraph.graph.basic import GraphError

from . import abstract_conv

__all__ = ["conv2d"]


def conv2d(input, filters, image_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), **kargs):
    """``theano.tensor.nnet.conv.conv2d``: a convolution of a batch of images with filters.

    Parameters
    ----------
    input : 4-d tensor ``(batch, channels, rows, cols)``
    filters : 4-d tensor ``(n_filters, channels, rows, cols)``
    image_shape, filter_shape : tuples of 4 ints, optional
        Static shapes, checked when the function runs.
    border_mode : {'valid', 'full'}
    subsample : (int, int)
        Strides.

    Examples
    --------
    >>> import numpy as np, minigraph, minigraph.tensor as T
    >>> from minigraph.tensor.nnet import conv
    >>> x, w = T.tensor4("x"), T.tensor4("w")
    >>> f = minigraph.function([x, w], conv.conv2d(x, w, border_mode="full"))
    >>> f(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    if border_mode not in ("valid", "full"):
        raise GraphError(f"conv.conv2d: border_mode must be 'valid' or 'full', got "
                         f"{border_mode!r} (T.nnet.conv2d also has 'half' and paddings)")
    unknown = set(kargs) - {"verbose", "unroll_batch", "unroll_kern", "unroll_patch",
                            "imshp_logical", "kshp_logical", "kshp_logical_top_aligned", "openmp"}
    if unknown:  # the old op's tuning knobs are accepted and ignored; anything else is a typo
        raise GraphError(f"conv.conv2d: unexpected arguments {', '.join(sorted(unknown))}")
    return abstract_conv.conv2d(input, filters, input_shape=image_shape,
                                filter_shape=filter_shape, border_mode=border_mode,
                                subsample=subsample, filter_flip=True)
