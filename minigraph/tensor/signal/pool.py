"""``theano.tensor.signal.pool``: max, sum and average pooling over the last two axes.

``pool_2d`` with Theano's signature and meaning: windows ``ws`` moved by ``stride`` over the
input zero-padded by ``pad``; with ``ignore_border=False`` a partial last window covers leftover
rows and columns.  The ops have Theano's names: ``Pool``; its gradients ``MaxPoolGrad`` (the
gradient goes to every position holding a window's maximum) and ``AveragePoolGrad`` (also for
``sum``); ``MaxPoolGradGrad`` for second derivatives.  The array code is
``kernels/conv_cpu.py`` (fast) and ``kernels/conv_ref.py`` (reference, used by ``perform``).
"""

import warnings

import numpy as np

from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from ..basic import as_tensor_variable
from ..shape import int_pair

__all__ = ["pool_2d", "max_pool_2d_same_size", "Pool", "MaxPoolGrad", "MaxPoolGradGrad",
           "AveragePoolGrad"]

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


class _PoolBase(Op):
    """The parameters shared by the pooling op and its gradients, checked once."""

    __props__ = ("ws", "stride", "pad", "ignore_border", "mode")

    def __init__(self, ws, ignore_border=False, stride=None, pad=(0, 0), mode="max"):
        self.ws = int_pair(ws, "ws", "pool_2d")
        self.stride = self.ws if stride is None else int_pair(stride, "stride", "pool_2d")
        self.pad = int_pair(pad, "pad", "pool_2d")
        self.ignore_border = bool(ignore_border)
        self.mode = "max" if mode == "max_deterministic" else mode
        if self.mode not in MODES:
            raise GraphError(f"pool_2d: unknown mode {mode!r}; use one of "
                             f"{', '.join(map(repr, MODES))}")
        if min(self.ws) < 1 or min(self.stride) < 1 or min(self.pad) < 0:
            raise GraphError(f"pool_2d: ws and stride must be >= 1 and pad >= 0, got "
                             f"ws={self.ws}, stride={self.stride}, pad={self.pad}")
        if self.pad != (0, 0) and not self.ignore_border:
            raise GraphError("pool_2d: padding works only with ignore_border=True")
        if self.pad[0] >= self.ws[0] or self.pad[1] >= self.ws[1]:
            raise GraphError(f"pool_2d: pad {self.pad} must be smaller than the window "
                             f"{self.ws} (a window of padding only would have no value)")

    @property
    def args(self):
        return self.ws, self.stride, self.pad, self.ignore_border, self.mode

    def out_shape(self, shape):
        from kernels.conv_ref import pool_output_size

        dims = [None if s is None else
                pool_output_size(s, self.ws[i], self.stride[i], self.pad[i], self.ignore_border)
                for i, s in enumerate(shape[-2:])]
        return tuple(shape[:-2]) + tuple(dims)

    def _check_input(self, x):
        if x.ndim < 2:
            raise GraphError(f"pool_2d: the input must have at least 2 dimensions (the last two "
                             f"are pooled), got {x.type.short()} ({x.describe()}){where(x)}")
        kind = np.dtype(x.dtype).kind
        if kind not in "fiu" or (kind != "f" and self.mode.startswith("average")):
            raise GraphError(f"pool_2d: mode {self.mode!r} needs a "
                             f"{'float' if kind in 'iu' else 'numeric'} input, got {x.dtype}"
                             f"{where(x)}")


class Pool(_PoolBase):
    """Pooling of the last two axes; see :func:`pool_2d`."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        self._check_input(x)
        return Apply(self, [x], [TensorType(x.dtype, shape=self.out_shape(x.type.shape))()])

    def perform(self, node, inputs, output_storage):
        from kernels.conv_ref import pool2d_fwd

        output_storage[0][0] = pool2d_fwd(inputs[0], *self.args)

    def make_py_callable(self, node):
        from kernels.conv_cpu import pool2d_fwd

        args = self.args
        return lambda x: pool2d_fwd(x, *args)

    def grad(self, inputs, outputs, output_grads):
        (x,), (y,), (gy,) = inputs, outputs, output_grads
        if self.mode == "max":
            return [MaxPoolGrad(*self._init_args())(x, y, gy)]
        return [AveragePoolGrad(*self._init_args())(x, gy)]

    def _init_args(self):
        return self.ws, self.ignore_border, self.stride, self.pad, self.mode

    def infer_shape(self, node, input_shapes):
        shp = input_shapes[0]
        return [tuple(shp[:-2]) + tuple(_out_len(s, self.ws[i], self.stride[i], self.pad[i],
                                                 self.ignore_border)
                                        for i, s in enumerate(shp[-2:]))]


def _out_len(size, ws, stride, pad, ignore_border):
    """``kernels.conv_ref.pool_output_size`` for an int or a symbolic size."""
    from kernels.conv_ref import pool_output_size

    from ..math import maximum

    top = max if isinstance(size, (int, np.integer)) else maximum
    return pool_output_size(size, ws, stride, pad, ignore_border, maximum=top)


class MaxPoolGrad(_PoolBase):
    """The gradient of max pooling: inputs ``(x, maxout, output_grad)``; each window's gradient
    goes to every position of ``x`` that holds the window's maximum."""

    def make_node(self, x, maxout, gz):
        x, maxout, gz = (as_tensor_variable(v) for v in (x, maxout, gz))
        self._check_input(x)
        return Apply(self, [x, maxout, gz], [TensorType(gz.dtype, shape=x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        from kernels.conv_ref import pool2d_bwd

        output_storage[0][0] = pool2d_bwd(*inputs, *self.args)

    def make_py_callable(self, node):
        from kernels.conv_cpu import pool2d_bwd

        args = self.args
        return lambda x, y, gy: pool2d_bwd(x, y, gy, *args)

    def grad(self, inputs, outputs, output_grads):
        # linear in gz; x and maxout only choose the positions (piecewise constant there)
        from ..math import zeros_like

        x, maxout, gz = inputs
        ggz = MaxPoolGradGrad(self.ws, self.ignore_border, self.stride, self.pad)(
            x, maxout, output_grads[0])
        return [zeros_like(x), zeros_like(maxout), ggz]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class MaxPoolGradGrad(_PoolBase):
    """The gradient of :class:`MaxPoolGrad` with respect to its output gradient: inputs
    ``(x, maxout, ggx)``; each window sums ``ggx`` over the positions holding its maximum."""

    def make_node(self, x, maxout, ggx):
        x, maxout, ggx = (as_tensor_variable(v) for v in (x, maxout, ggx))
        self._check_input(x)
        return Apply(self, [x, maxout, ggx], [TensorType(ggx.dtype, shape=maxout.type.shape)()])

    def perform(self, node, inputs, output_storage):
        from kernels.conv_ref import max_pool2d_grad_grad

        x, y, ggx = inputs
        output_storage[0][0] = max_pool2d_grad_grad(x, y, ggx, self.ws, self.stride, self.pad,
                                                    self.ignore_border)

    def grad(self, inputs, outputs, output_grads):
        from ..math import zeros_like

        x, maxout, _ = inputs
        return [zeros_like(x), zeros_like(maxout),
                MaxPoolGrad(self.ws, self.ignore_border, self.stride, self.pad)(
                    x, maxout, output_grads[0])]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]


class AveragePoolGrad(_PoolBase):
    """The gradient of sum and average pooling: inputs ``(x, output_grad)`` (``x`` only for its
    shape); each window's gradient is spread over the window as the forward averaged it."""

    def make_node(self, x, gz):
        x, gz = (as_tensor_variable(v) for v in (x, gz))
        self._check_input(x)
        return Apply(self, [x, gz], [TensorType(gz.dtype, shape=x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        from kernels.conv_ref import pool2d_bwd

        x, gy = inputs
        output_storage[0][0] = pool2d_bwd(x, None, gy, *self.args)

    def make_py_callable(self, node):
        from kernels.conv_cpu import pool2d_bwd

        args = self.args
        return lambda x, gy: pool2d_bwd(x, gy, gy, *args)  # y unused outside max mode

    def grad(self, inputs, outputs, output_grads):
        # the gradient is linear in gz, and its adjoint is the pooling itself
        init = (self.ws, self.ignore_border, self.stride, self.pad, self.mode)
        return [None, Pool(*init)(output_grads[0])]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def _renamed(new, new_name, old, old_name):
    if old is None:
        return new
    if new is not None:
        raise GraphError(f"pool_2d: give {new_name} or its old name {old_name}, not both")
    warnings.warn(f"pool_2d: '{old_name}' is deprecated, use '{new_name}'",
                  DeprecationWarning, stacklevel=3)
    return old


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max", ds=None,
            st=None, padding=None):
    """``theano.tensor.signal.pool.pool_2d``: pool the last two axes of ``input``.

    Parameters
    ----------
    input : tensor with at least 2 dimensions
    ws : (int, int)
        Window size (``ds`` is its old name).
    ignore_border : bool
        True: only whole windows (a (5, 5) input with ws=(2, 2) gives (2, 2)); False: a last
        partial window too ((3, 3)). None, as in Theano, warns and means False.
    stride : (int, int), optional
        Window step; default ``ws`` (``st`` is its old name).
    pad : (int, int)
        Zero padding of each border (``padding`` is its old name); needs ignore_border=True.
    mode : {'max', 'sum', 'average_inc_pad', 'average_exc_pad'}
        ``max`` and ``sum`` ignore the padding; the averages divide by the window's size with
        (``inc``) or without (``exc``) the padded positions.

    Examples
    --------
    >>> import numpy as np, minigraph, minigraph.tensor as T
    >>> from minigraph.tensor.signal import pool
    >>> x = T.matrix("x")
    >>> f = minigraph.function([x], pool.pool_2d(x, (2, 2), ignore_border=True))
    >>> f(np.arange(16.0).reshape(4, 4))
    array([[ 5.,  7.],
           [13., 15.]])
    """
    ws = _renamed(ws, "ws", ds, "ds")
    stride = _renamed(stride, "stride", st, "st")
    if padding is not None:
        pad = _renamed(None if tuple(pad) == (0, 0) else pad, "pad", padding, "padding")
    if ws is None:
        raise GraphError("pool_2d: give the window size ws")
    if ignore_border is None:
        warnings.warn("pool_2d: ignore_border was not given; as in Theano it defaults to "
                      "False. Pass ignore_border=True (or False) explicitly.", stacklevel=2)
        ignore_border = False
    return Pool(ws, ignore_border, stride, pad, mode)(input)


def max_pool_2d_same_size(input, patch_size):
    """Keep each ``patch_size`` window's maximum where it is and zero the rest of the window.

    >>> import numpy as np, minigraph, minigraph.tensor as T
    >>> x = T.matrix("x")
    >>> f = minigraph.function([x], max_pool_2d_same_size(x, (2, 2)))
    >>> f(np.array([[1.0, 2.0], [4.0, 3.0]]))
    array([[0., 0.],
           [4., 0.]])
    """
    op = Pool(patch_size, True)
    out = op(input)
    return MaxPoolGrad(patch_size, True)(input, out, out)
