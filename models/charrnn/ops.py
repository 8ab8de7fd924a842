"""The char-RNN's two graph idioms, written with core ops: a row lookup and a time-major view.

`embedding_lookup` is ``W[idx]``: minigraph's integer-vector indexing, whose gradient adds
the rows of the output gradient into a zero table in one compiled loop
(``minigraph/tensor/subtensor.py``; NumPy's ``add.at`` took ~200 ms for the (6000, 1536)
gradient of Gorner's layer 0). `time_major` is ``T.reshape``: its gradient reads the input's
shape, and the compiler schedules that ``Shape`` node right after the input exists
(``FunctionGraph.toposort``), so the gradient does not keep each layer's input projection
(37 MB in Gorner's model) alive until the backward pass.
"""

import numpy as np

import minigraph.tensor as T
from minigraph.graph.basic import GraphError


def embedding_lookup(W, idx):
    """Rows ``W[idx]`` of the matrix ``W`` for the int vector ``idx`` (differentiable in W).

    Examples
    --------
    >>> W, i = T.dmatrix("W"), T.ivector("i")
    >>> embedding_lookup(W, i).eval({W: np.eye(3), i: np.array([2, 0], "int32")}).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    W, idx = T.as_tensor_variable(W), T.as_tensor_variable(idx)
    if W.ndim != 2 or idx.ndim != 1 or np.dtype(idx.dtype).kind not in "iu":
        raise GraphError(f"embedding_lookup needs a matrix and an int vector, got "
                         f"{W.type.short()} and {idx.type.short()}")
    return W[idx]


def time_major(x, n_steps):
    """Rows ``(T * B, G)`` viewed as ``(T, B, G)`` for ``T = n_steps`` (no copy).

    Examples
    --------
    >>> x = T.dmatrix("x")
    >>> time_major(x, 2).eval({x: np.arange(12.0).reshape(6, 2)}).shape
    (2, 3, 2)
    """
    x = T.as_tensor_variable(x)
    width = x.type.shape[1] if x.type.shape[1] is not None else x.shape[1]
    return T.reshape(x, (n_steps, -1, width))
