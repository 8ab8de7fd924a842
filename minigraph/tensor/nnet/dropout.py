"""``dropout_dot``: a dense layer on a dropped-out input, without keeping the dropped-out input.

``dot(x * mask * scale, W) + b`` written out keeps ``x * mask * scale`` alive from the forward
to the backward (the weight gradient needs it), next to ``x`` itself when ``x`` is kept for
another reason (a GRU's outputs are: its backward reads them). For Gorner's char-RNN that is
12 MB per layer (T=30, B=200, H=512, float32) held through the whole step. ``DropoutDot``
computes the dropped-out input into a scratch array that dies with the GEMM, and the weight
gradient (``DropoutDotGradW``) computes it again from ``x`` and the ``int8`` mask, which are
kept anyway: one extra elementwise pass per layer for 12 MB less at the peak.
"""

import functools

import numpy as np

from kernels.workspace import SHARED
from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from ..basic import as_tensor_variable
from ..blas import dot, pooled_dot
from ..math import cast

__all__ = ["dropout_dot", "DropoutDot", "DropoutDotGradW"]


@functools.lru_cache(maxsize=None)
def _masked():
    import numba  # imported on first use, as everywhere in minigraph (kernels._target first)

    @numba.njit(error_model="numpy", fastmath={"contract"}, parallel=True)
    def masked(x, mask, scale, out):
        # out = x * mask * scale, rows in parallel
        for i in numba.prange(x.shape[0]):
            for k in range(x.shape[1]):
                out[i, k] = x[i, k] * mask[i, k] * scale

    return masked


def _dropped(x, mask, scale):
    """``x * mask * scale`` in a workspace array (reused once the caller drops it)."""
    out = SHARED.empty(x.shape, x.dtype)
    _masked()(np.ascontiguousarray(x), np.ascontiguousarray(mask), x.dtype.type(scale), out)
    return out


def _check_rows(what, x, mask):
    if x.shape != mask.shape:
        raise ValueError(f"{what}: x has shape {x.shape} but mask {mask.shape}; the mask must "
                         f"have the input's shape")


class DropoutDot(Op):
    """``dot(x * mask * scale, W) + b`` for a 2-d ``x``; see :func:`dropout_dot`."""

    __props__ = ("scale",)

    def __init__(self, scale):
        self.scale = float(scale)

    def make_node(self, x, mask, W, b):
        x, mask, W, b = (as_tensor_variable(v) for v in (x, mask, W, b))
        for name, v, nd in (("x", x, 2), ("mask", mask, 2), ("W", W, 2), ("b", b, 1)):
            if v.ndim != nd:
                raise GraphError(f"dropout_dot: {name} must be {nd}-d, got {v.type.short()} "
                                 f"({v.describe()}){where(v)}")
        if np.dtype(x.dtype).kind != "f" or W.dtype != x.dtype or b.dtype != x.dtype:
            raise GraphError(f"dropout_dot: x, W and b must share one float dtype, got "
                             f"{x.dtype}, {W.dtype}, {b.dtype}{where(x)}")
        if np.dtype(mask.dtype).kind not in "biuf":
            raise GraphError(f"dropout_dot: mask must be numeric, got {mask.dtype}{where(mask)}")
        k, kw = x.type.shape[1], W.type.shape[0]
        if k is not None and kw is not None and k != kw:
            raise GraphError(f"dropout_dot: x {x.type.short()} and W {W.type.short()} are not "
                             f"aligned: {k} != {kw}{where(x)}")
        m, mb = W.type.shape[1], b.type.shape[0]
        if m is not None and mb is not None and m != mb:
            raise GraphError(f"dropout_dot: b {b.type.short()} must have W's {m} columns, got "
                             f"{mb}{where(b)}")
        out = TensorType(x.dtype, shape=(x.type.shape[0], W.type.shape[1]))
        return Apply(self, [x, mask, W, b], [out()])

    def make_py_callable(self, node):
        scale, trace = self.scale, node.trace

        def run(x, mask, W, b):
            _check_rows(f"dropout_dot (node created at {trace})", x, mask)
            if x.shape[1] != W.shape[0] or b.shape != W.shape[1:]:
                raise ValueError(f"dropout_dot: x {x.shape}, W {W.shape} and b {b.shape} do "
                                 f"not fit (x @ W + b; node created at {trace})")
            out = pooled_dot(_dropped(x, mask, scale), W, x.dtype)  # the scratch dies here
            out += b
            return out

        return run

    def grad(self, inputs, outputs, output_grads):
        x, mask, W, b = inputs
        gz = output_grads[0]
        scale = np.asarray(self.scale, dtype=x.dtype)
        gx = dot(gz, W.T) * cast(mask, x.dtype) * scale
        gW, gb = DropoutDotGradW(self.scale)(x, mask, gz)
        return [gx, None, gW, gb]

    def infer_shape(self, node, input_shapes):
        return [(input_shapes[0][0], input_shapes[2][1])]


class DropoutDotGradW(Op):
    """``(dot((x * mask * scale).T, gz), gz.sum(0))``: the weight and bias gradients of
    :class:`DropoutDot`.

    Scheduled as soon as ``gz`` exists (``schedule_early``): its outputs are the size of the
    weights, and running it early lets ``gz`` (a layer's whole input gradient) die early.
    """

    __props__ = ("scale",)
    schedule_early = True

    def __init__(self, scale):
        self.scale = float(scale)

    def make_node(self, x, mask, gz):
        x, mask, gz = (as_tensor_variable(v) for v in (x, mask, gz))
        out = TensorType(x.dtype, shape=(x.type.shape[1], gz.type.shape[1]))
        return Apply(self, [x, mask, gz], [out(), TensorType(x.dtype, shape=gz.type.shape[1:])()])

    def make_py_callable(self, node):
        scale, trace = self.scale, node.trace

        def run(x, mask, gz):
            _check_rows(f"dropout_dot gradient (node created at {trace})", x, mask)
            return np.dot(_dropped(x, mask, scale).T, gz), gz.sum(axis=0)

        return run

    def infer_shape(self, node, input_shapes):
        return [(input_shapes[0][1], input_shapes[2][1]), (input_shapes[2][1],)]


def dropout_dot(x, mask, W, b, scale=1.0):
    """``dot(x * mask * scale, W) + b``, recomputing ``x * mask * scale`` in the backward.

    The usual dropout-then-dense layer (``scale = 1 / keep``), as one op that never keeps the
    dropped-out input: use it when ``x`` is kept anyway, so recomputing costs one elementwise
    pass and saves an array of ``x``'s size for the whole step.

    Parameters
    ----------
    x : (N, K) float tensor
    mask : (N, K) tensor
        The dropout mask (0/1, any numeric dtype; ``int8`` is a quarter of float32).
    W : (K, M) tensor
    b : (M,) tensor
    scale : float
        Multiplies the kept units (``1 / keep`` for inverted dropout).

    Examples
    --------
    >>> import numpy as np, minigraph.tensor as T
    >>> x, m = T.matrix("x"), T.bmatrix("m")
    >>> W, b = T.matrix("W"), T.vector("b")
    >>> y = T.nnet.dropout_dot(x, m, W, b, scale=2.0)
    >>> y.eval({x: np.ones((1, 2), "float32"), m: np.array([[1, 0]], "int8"),
    ...         W: np.ones((2, 3), "float32"), b: np.zeros(3, "float32")}).tolist()
    [[2.0, 2.0, 2.0]]
    """
    return DropoutDot(scale)(x, mask, W, b)
