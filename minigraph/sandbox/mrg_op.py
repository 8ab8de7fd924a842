"""``MRGUniform``: the one random primitive of ``MRG_RandomStreams`` (Theano's ``mrg_uniform``).

A node ``(rstate, size) -> (new rstate, uniforms)`` reads an int32 ``(nstreams, 6)`` matrix of
MRG31k3p states (:mod:`.mrg31k3p`) and returns an advanced copy with the samples; sample
``i`` comes from substream ``i % nstreams``. Nothing is mutated, so a failed call leaves the
shared state as it was and ``scan`` can carry the state through its steps like any value.
``perform`` is the NumPy reference. Compiled functions run it too at first, then switch to
the Numba loop (bit for bit equal): Numba's first call in a process costs one or two seconds,
which a short program that draws a few thousand numbers should not pay. ``POLICY`` says when
the switch happens.
"""

import numpy as np

from minigraph import tensor as T
from minigraph.graph.basic import Apply, Constant, GraphError
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType
from minigraph.tensor.random import sample_size
from minigraph.tensor.shape import as_shape_vector

from . import mrg31k3p

__all__ = ["MRGUniform", "mrg_uniform", "guess_n_streams", "MAX_STREAMS", "POLICY"]

#: streams used when the size is symbolic (Theano's choice: 60 x 256)
MAX_STREAMS = 60 * 256


class FillPolicy:
    """When draws run in Numba rather than NumPy (a rent-or-buy choice).

    Numba's start is paid once per process; NumPy costs more per sample. Draws stay in
    NumPy until all MRG nodes of the process together have drawn ``numpy_until`` samples,
    about as much NumPy time as Numba's start, then move to Numba for good.

    Parameters
    ----------
    numpy_until : int
        Samples drawn in NumPy (about 0.04-0.15 us each, against 0.015 us in Numba after a
        start of 1-2 s) before switching.
    max_rounds : int
        A draw needing more rounds (samples per stream) than this uses Numba at once: the
        NumPy fill loops over rounds in Python.
    """

    def __init__(self, numpy_until=5 * 10**6, max_rounds=16):
        self.numpy_until, self.max_rounds = numpy_until, max_rounds
        self.drawn = 0  # samples drawn so far by every node of the process

    def use_numba(self, n, n_streams):
        """Whether a draw of ``n`` samples from ``n_streams`` streams runs in Numba."""
        hot = self.drawn >= self.numpy_until or -(-n // n_streams) > self.max_rounds
        self.drawn += n
        return hot


POLICY = FillPolicy()


class MRGUniform(Op):
    """``(rstate, size) -> (new rstate, uniforms)``: MRG31k3p samples in ``(0, 1)``.

    ``rstate`` is an int32 ``(nstreams, 6)`` matrix of generator states, left unchanged (the
    advanced copy is the first output); ``size`` is an int vector of length ``ndim``.
    """

    __props__ = ("dtype", "ndim")

    def __init__(self, dtype, ndim):
        self.dtype, self.ndim = str(np.dtype(dtype)), int(ndim)
        if self.dtype not in ("float32", "float64"):
            raise GraphError(f"MRG uniform: dtype must be float32 or float64, got {self.dtype}")

    def make_node(self, rstate, size):
        rstate = T.as_tensor_variable(rstate)
        if rstate.ndim != 2 or rstate.dtype != "int32" or rstate.type.shape[1] not in (6, None):
            raise GraphError(f"MRG uniform: the state must be an int32 (nstreams, 6) matrix, "
                             f"got {rstate.type.short()}")
        size, shape = sample_size(size, self.ndim, "MRG uniform")
        out = TensorType(self.dtype, shape=shape)()
        return Apply(self, [rstate, size], [rstate.type(), out])

    def _prepare(self, rstate, size):
        shape = tuple(int(s) for s in size)
        if any(s < 0 for s in shape):
            raise ValueError(f"MRG uniform: negative size {shape}")
        if rstate.ndim != 2 or rstate.shape[1] != 6 or rstate.shape[0] < 1:
            raise ValueError(f"MRG uniform: the state must have shape (nstreams >= 1, 6), got "
                             f"{rstate.shape}")
        return shape, int(np.prod(shape, dtype=np.int64))

    def perform(self, node, inputs, output_storage):
        shape, n = self._prepare(*inputs)
        new, flat = mrg31k3p.fill_numpy(inputs[0], n, self.dtype)
        output_storage[0][0], output_storage[1][0] = new, flat.reshape(shape)

    def make_py_callable(self, node):
        def run(rstate, size):
            shape, n = self._prepare(rstate, size)
            hot = POLICY.use_numba(n, rstate.shape[0])
            fill = mrg31k3p.fill if hot else mrg31k3p.fill_numpy  # bit-identical results
            new, flat = fill(rstate, n, self.dtype)
            return new, flat.reshape(shape)

        return run

    def grad(self, inputs, outputs, output_grads):
        return [None, None]


def mrg_uniform(rstate, size, dtype="float64"):
    """``(new rstate, uniforms of shape size)`` (Theano's ``mrg_uniform``); see MRGUniform."""
    size = as_shape_vector(size)
    return MRGUniform(dtype, size.type.shape[0])(rstate, size)


def guess_n_streams(size):
    """How many substreams a draw of ``size`` gets (Theano's rule: one per six samples).

    ``size`` is a tuple of ints, an int vector constant, or symbolic (``MAX_STREAMS``).
    """
    if isinstance(size, Constant):
        size = tuple(int(s) for s in np.asarray(size.data).ravel())
    if isinstance(size, (tuple, list)) and all(isinstance(s, (int, np.integer)) for s in size):
        total = int(np.prod(size, dtype=np.int64))
        return max(1, min(total // 6 if total > 6 else total, MAX_STREAMS))
    return MAX_STREAMS

