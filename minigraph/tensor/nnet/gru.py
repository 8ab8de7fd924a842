"""The fused GRU ops: ``gru_step`` (one step, for scan bodies and generation) and
``gru_sequence`` (a whole layer's recurrence in one op).

GRU in the cuDNN/PyTorch formulation, gate order r, z, n; ``gx = x @ W_x + b_x`` is computed
by the caller (one big GEMM over all steps)::

    gh = h @ W_h + b_h
    r = sigmoid(gx_r + gh_r); z = sigmoid(gx_z + gh_z); n = tanh(gx_n + r * gh_n)
    h' = (1 - z) * n + z * h

The forward ops also output the tensors the backward kernels need, ``rzn = [r | z | n]``
(packed like ``gx``) and ``ghn = gh_n``, so the gradient reuses them instead of recomputing;
where nothing else reads them, the ``inplace`` pass lets the sequence forward write the gates
over a dying ``gx`` and the backward write its gradients over the gates. The array work is
done by ``kernels`` (NumPy reference, fused Numba CPU, Numba CUDA); ``backend=None`` follows
``config.device``.
"""

import numpy as np

import kernels
from minigraph.config import config
from minigraph.graph.basic import Apply, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from ..basic import as_tensor_variable, upcast
from ..math import cast


def _kernel(name, backend):
    return kernels.get_kernel(name, kernels.select_backend(backend, config.device))


def _check(gx, h, W_h, b_h, seq):
    what = "gru_sequence" if seq else "gru_step"
    want = {"gx": 3 if seq else 2, "h": 2, "W_h": 2, "b_h": 1}
    for name, v in zip(want, (gx, h, W_h, b_h)):
        if v.ndim != want[name]:
            raise GraphError(f"{what}: {name} must be {want[name]}-d, got {v.type.short()} "
                             f"({v.describe()}){where(v)}")
        if np.dtype(v.dtype).kind != "f":
            raise GraphError(f"{what}: {name} must be a float tensor, got {v.dtype}{where(v)}")
    H = W_h.type.shape[0]
    sizes = {"gx last dim / 3": None if gx.type.shape[-1] is None else gx.type.shape[-1] / 3,
             "h dim 1": h.type.shape[1], "W_h dim 0": H,
             "W_h dim 1 / 3": None if W_h.type.shape[1] is None else W_h.type.shape[1] / 3,
             "b_h / 3": None if b_h.type.shape[0] is None else b_h.type.shape[0] / 3}
    known = {k: v for k, v in sizes.items() if v is not None}
    if len(set(known.values())) > 1:
        raise GraphError(f"{what}: hidden sizes disagree: {known} (W_h must be (H, 3H), b_h "
                         f"(3H,), gx (..., 3H), h (B, H)){where(gx)}")


class _GRUBase(Op):
    __props__ = ("backend",)

    def __init__(self, backend=None):
        self.backend = backend

    def __str__(self):
        name = type(self).__name__
        return name if self.backend is None else f"{name}{{{self.backend}}}"

    def make_py_callable(self, node):
        # kernels return (out, saved) forward and take saved as one tuple backward; the ops
        # carry saved tensors as separate outputs/inputs (the last two: rzn, ghn)
        kernel = _kernel(self.kernel, self.backend)
        options = self._kernel_options()
        if self.kernel.endswith("_fwd"):
            def run(*args):
                out, saved = kernel(*args, **options)
                return (out,) + tuple(saved)
        else:
            def run(*args):
                return tuple(kernel(*args[:-2], tuple(args[-2:]), **options))
        return run

    def _kernel_options(self):
        return {}


def _saved_types(h_type, T=None):
    """Types of the saved ``(rzn, ghn)`` for a state of type ``h_type`` (B, H)."""
    B, H = h_type.shape
    lead = () if T is None else (T,)
    return [TensorType(h_type.dtype, shape=lead + (B, None if H is None else 3 * H)),
            TensorType(h_type.dtype, shape=lead + (B, H))]


class GRUStep(_GRUBase):
    """One fused GRU step; outputs ``h_new`` (B, H) and the saved ``rzn`` (B, 3H), ``ghn``."""

    kernel = "gru_step_fwd"

    def make_node(self, gx, h, W_h, b_h):
        ins = [as_tensor_variable(v) for v in (gx, h, W_h, b_h)]
        _check(*ins, seq=False)
        dtype = ins[1].dtype
        B = ins[0].type.shape[0] if ins[0].type.shape[0] is not None else ins[1].type.shape[0]
        t = TensorType(dtype, shape=(B, ins[1].type.shape[1]))
        return Apply(self, ins, [t()] + [s() for s in _saved_types(t)])

    def grad(self, inputs, outputs, output_grads):
        gx, h, W_h, b_h = inputs
        g = GRUStepGrad(self.backend)(output_grads[0], h, W_h, *outputs[1:])
        return g

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1], input_shapes[0], input_shapes[1]]


class GRUStepGrad(_GRUBase):
    """Backward of :class:`GRUStep`: ``(dgx, dh, dW_h, db_h)``."""

    kernel = "gru_step_bwd"

    def make_node(self, dh_new, h, W_h, rzn, ghn):
        ins = [as_tensor_variable(v) for v in (dh_new, h, W_h, rzn, ghn)]
        B, H = h.type.shape
        outs = [TensorType(h.dtype, shape=(B, None if H is None else 3 * H))(), h.type(),
                W_h.type(), TensorType(h.dtype, shape=(W_h.type.shape[1],))()]
        return Apply(self, ins, outs)


class _Overwriting(_GRUBase):
    """A GRU op whose kernel may overwrite the inputs ``inplace_inputs`` when the keyword
    ``option`` is set; the ``inplace`` pass sets it (``inplace_version``) where they die."""

    option, inplace_inputs, overwrites = "", (), {}  # keyword, inputs, destroy_map when set

    def __init__(self, backend=None, overwrite=False):
        super().__init__(backend)
        setattr(self, self.option, bool(overwrite))
        self.destroy_map = self.overwrites if overwrite else {}

    def __str__(self):
        return super().__str__() + ("{inplace}" if self.destroy_map else "")

    def inplace_version(self):
        """This op, allowed to overwrite ``inplace_inputs`` (None when it already may)."""
        return None if self.destroy_map else type(self)(self.backend, True)

    def _kernel_options(self):
        return {self.option: True} if self.destroy_map else {}


class GRUSequence(_Overwriting):
    """A GRU layer's recurrence over ``T`` steps; outputs ``hs`` (T, B, H) and the saved
    ``RZN`` (T, B, 3H) and ``GHN`` (T, B, H).

    With ``overwrite_gx`` (set by the ``inplace`` pass when ``gx`` dies here) the kernel
    writes ``RZN`` over ``gx``.
    """

    __props__ = ("backend", "overwrite_gx")
    kernel = "gru_seq_fwd"
    option, inplace_inputs, overwrites = "overwrite_gx", (0,), {1: [0]}  # RZN over gx

    def make_node(self, gx, h0, W_h, b_h):
        ins = [as_tensor_variable(v) for v in (gx, h0, W_h, b_h)]
        _check(*ins, seq=True)
        Tn, B = ins[0].type.shape[:2]
        t = TensorType(ins[1].dtype, shape=(Tn, B if B is not None else ins[1].type.shape[0],
                                             ins[1].type.shape[1]))
        return Apply(self, ins, [t()] + [s() for s in _saved_types(ins[1].type, Tn)])

    def grad(self, inputs, outputs, output_grads):
        gx, h0, W_h, b_h = inputs
        return GRUSequenceGrad(self.backend)(output_grads[0], h0, outputs[0], W_h,
                                             *outputs[1:])

    def infer_shape(self, node, input_shapes):
        s = input_shapes[0]
        hs = (s[0], s[1], input_shapes[1][1])
        return [hs, s, hs]


class GRUSequenceGrad(_Overwriting):
    """Backward of :class:`GRUSequence`: ``(dgx, dh0, dW_h, db_h)``.

    With ``overwrite_saved`` (set by the ``inplace`` pass when ``RZN`` and ``GHN`` die here)
    the kernel may write its gradients over them: ``dgx`` is then ``RZN``'s memory.
    """

    __props__ = ("backend", "overwrite_saved")
    kernel = "gru_seq_bwd"
    option, inplace_inputs, overwrites = "overwrite_saved", (4, 5), {0: [4, 5]}  # RZN, GHN

    def make_node(self, dhs, h0, hs, W_h, RZN, GHN):
        ins = [as_tensor_variable(v) for v in (dhs, h0, hs, W_h, RZN, GHN)]
        Tn, B, H = hs.type.shape
        outs = [TensorType(hs.dtype, shape=(Tn, B, None if H is None else 3 * H))(),
                h0.type(), W_h.type(), TensorType(hs.dtype, shape=(W_h.type.shape[1],))()]
        return Apply(self, ins, outs)


def _common(args):
    args = [as_tensor_variable(a) for a in args]
    dtype = upcast(*[a.dtype for a in args])
    if np.dtype(dtype).kind != "f":
        dtype = "float64"
    return [a if a.dtype == dtype else cast(a, dtype) for a in args]


def gru_step(gx_t, h, W_h, b_h, backend=None):
    """One fused GRU step: ``h_new`` of shape (B, H).

    Parameters
    ----------
    gx_t : (B, 3H) tensor
        The input projection ``x_t @ W_x + b_x`` for this step (gate order r, z, n).
    h : (B, H) tensor
        The previous hidden state.
    W_h : (H, 3H) tensor
    b_h : (3H,) tensor
    backend : {None, 'reference', 'cpu', 'cuda'}
        None follows ``config.device``.

    Examples
    --------
    >>> import numpy as np, minigraph.tensor as T
    >>> gx, h, W, b = T.dmatrix("gx"), T.dmatrix("h"), T.dmatrix("W"), T.dvector("b")
    >>> out = T.nnet.gru_step(gx, h, W, b)
    >>> out.eval({gx: np.zeros((1, 6)), h: np.ones((1, 2)), W: np.zeros((2, 6)),
    ...           b: np.zeros(6)}).tolist()
    [[0.5, 0.5]]
    """
    return GRUStep(backend)(*_common([gx_t, h, W_h, b_h]))[0]


def gru_sequence(gx, h0, W_h, b_h, backend=None):
    """All hidden states ``(T, B, H)`` of a GRU layer run over ``gx`` (T, B, 3H) from ``h0``.

    The whole recurrence runs in one op (one kernel call per layer), and its gradient in one
    backward op; see :func:`gru_step` for the arguments.
    """
    return GRUSequence(backend)(*_common([gx, h0, W_h, b_h]))[0]
