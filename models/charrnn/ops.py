"""The char-RNN's own graph ops: a row lookup with a compiled gradient, and a time-major view.

`EmbeddingLookup` (``W[idx]``, whose gradient scatters rows in one Numba loop) and
`TimeMajor` (``(T * B, G)`` seen as ``(T, B, G)`` with a gradient that keeps nothing alive)
exist for speed and memory, not meaning: each could be written with core ops. They live
here, apart from the model that uses them, because they are ordinary minigraph ops (a class
per op, `make_node`, a NumPy callable, `grad`) and are tested as such.
"""

import numba
import numpy as np

import minigraph.tensor as T
from minigraph.graph.basic import Apply, GraphError
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType


@numba.njit(cache=True, error_model="numpy")
def _scatter_rows(out, idx, g):
    for i in range(idx.shape[0]):
        r = idx[i]
        for j in range(g.shape[1]):
            out[r, j] += g[i, j]


class EmbeddingLookup(Op):
    """``W[idx]`` for a matrix ``W`` and an int vector ``idx``: rows picked by id.

    The same as ``W[idx]`` in the graph, with a gradient that scatters rows in one compiled
    loop: NumPy's ``add.at`` takes ~200 ms for the (6000, 1536) gradient of Gorner's layer 0,
    this loop ~4 ms.
    """

    def make_node(self, W, idx):
        W, idx = T.as_tensor_variable(W), T.as_tensor_variable(idx)
        if W.ndim != 2 or idx.ndim != 1 or np.dtype(idx.dtype).kind not in "iu":
            raise GraphError(f"EmbeddingLookup needs a matrix and an int vector, got "
                             f"{W.type.short()} and {idx.type.short()}")
        return Apply(self, [W, idx], [TensorType(W.dtype, shape=(idx.type.shape[0],
                                                                  W.type.shape[1]))()])

    def make_py_callable(self, node):
        trace = node.trace

        def run(W, idx):
            # take() refuses ids past the end itself; only negative ones (which it would
            # count from the end) need a look, so a good call costs one reduction
            try:
                rows = W.take(idx, axis=0)
                if not idx.size or idx.min() >= 0:
                    return rows
            except IndexError:
                pass
            bad = idx[(idx < 0) | (idx >= W.shape[0])][0]
            raise IndexError(f"character id {int(bad)} is outside the table of "
                             f"{W.shape[0]} rows (node created at {trace})")

        return run

    def grad(self, inputs, outputs, output_grads):
        W, idx = inputs
        return [EmbeddingLookupGrad()(output_grads[0], idx, W), None]


class EmbeddingLookupGrad(Op):
    """Gradient of `EmbeddingLookup`: rows of ``g`` summed into a zero matrix shaped as ``W``."""

    def make_node(self, g, idx, W):
        return Apply(self, [g, idx, W], [W.type()])

    def make_py_callable(self, node):
        def run(g, idx, W):
            out = np.zeros(W.shape, dtype=W.dtype)
            _scatter_rows(out, idx, np.ascontiguousarray(g, dtype=W.dtype))
            return out

        return run


def embedding_lookup(W, idx):
    """Rows ``W[idx]`` of the matrix ``W`` for the int vector ``idx`` (differentiable in W).

    Examples
    --------
    >>> W, i = T.dmatrix("W"), T.ivector("i")
    >>> embedding_lookup(W, i).eval({W: np.eye(3), i: np.array([2, 0], "int32")}).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    return EmbeddingLookup()(W, idx)


class TimeMajor(Op):
    """Rows ``(T * B, G)`` viewed as ``(T, B, G)``, for a given ``T``.

    ``T.reshape`` would do, but its gradient reads the input's shape, which keeps each
    layer's input projection (37 MB in Gorner's model) alive until the backward pass; this
    gradient needs only the shape of the gradient itself.
    """

    view_map = {0: [0]}

    def make_node(self, x, n_steps):
        x, n_steps = T.as_tensor_variable(x), T.as_tensor_variable(n_steps)
        return Apply(self, [x, n_steps], [TensorType(x.dtype, shape=(None, None,
                                                                     x.type.shape[1]))()])

    def make_py_callable(self, node):
        return lambda x, n_steps: x.reshape(int(n_steps), -1, x.shape[1])

    def grad(self, inputs, outputs, output_grads):
        g = output_grads[0]
        return [T.reshape(g, (g.shape[0] * g.shape[1], g.shape[2])), None]
