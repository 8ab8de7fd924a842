"""The matrix products of one recurrent-model training step, timed alone with NumPy.

Issue 14 asks recurrent loops to come "within 1.2x (1.3x) of their GEMMs alone": the time
of only the GEMMs one training step needs, with nothing else around them. `train_gemms`
lists them for a stack of recurrent layers with a softmax output layer; `GemmStep` runs
them with ``np.dot`` into preallocated outputs (so no allocation, no Python per element,
only BLAS), in the operand layouts the real step has:

* per layer and per recurrent product ``s @ W`` (``W`` of shape ``(K, N)``): the forward
  product on the carried state each step, ``(B, K) @ (K, N)``; the backward product for the
  state's gradient each step, ``(B, N) @ W.T``; and the weight gradient once over all steps,
  ``S.T @ dG`` with ``S`` of shape ``(T*B, K)`` (one big GEMM: the least it can cost);
* the input projection of layers above the first, ``(T*B, H) @ (H, G*H)``, its input
  gradient and its weight gradient (the first layer reads one-hot characters: a row lookup,
  no GEMM);
* the output layer over all steps, ``(T*B, H) @ (H, V)``, and its two gradients.

Used by ``benchmarks/custom_cell.py`` and ``benchmarks/charrnn.py`` (``--cell lstm|rnn``).
"""

import numpy as np


def train_gemms(layers, hidden, seq_len, batch, vocab, recurrent, gates):
    """The GEMMs of one training step: a list of ``(what, layout, m, k, n, count)``.

    Parameters
    ----------
    layers, hidden, seq_len, batch, vocab : int
        The model's sizes.
    recurrent : list of (int, int)
        Each recurrent product of a step as ``(K, N)`` in units of ``hidden``: ``[(1, 4)]``
        for an LSTM (``h @ W_h`` with ``W_h`` of shape ``(H, 4H)``), ``[(1, 1), (1, 1)]`` for
        a cell with two ``(H, H)`` products.
    gates : int
        Width of the input projection in units of ``hidden`` (``W_x`` is ``(H, gates*H)``).

    Returns
    -------
    list of tuple
        ``layout`` is ``"nn"`` (``A @ B``), ``"nt"`` (``A @ B.T``) or ``"tn"`` (``A.T @ B``);
        the product is ``(m, k) @ (k, n)``, run ``count`` times.

    Examples
    --------
    >>> [g[:2] + g[2:] for g in train_gemms(1, 8, 5, 2, 3, [(1, 1)], 1)][:2]
    [('recurrent forward', 'nn', 2, 8, 8, 5), ('recurrent dstate', 'nt', 2, 8, 8, 5)]
    """
    H, TB = hidden, seq_len * batch
    out = []
    for layer in range(layers):
        for K, N in recurrent:
            K, N = K * H, N * H
            out += [("recurrent forward", "nn", batch, K, N, seq_len),
                    ("recurrent dstate", "nt", batch, N, K, seq_len),
                    ("recurrent dW", "tn", K, TB, N, 1)]
        if layer:
            G = gates * H
            out += [("input forward", "nn", TB, H, G, 1), ("input dx", "nt", TB, G, H, 1),
                    ("input dW", "tn", H, TB, G, 1)]
    out += [("output forward", "nn", TB, H, vocab, 1), ("output dx", "nt", TB, vocab, H, 1),
            ("output dW", "tn", H, TB, vocab, 1)]
    return out


def gemm_flops(gemms):
    """Floating-point operations of `gemms` (2 m k n each)."""
    return sum(2 * m * k * n * count for _, _, m, k, n, count in gemms)


class GemmStep:
    """Callable running `gemms` once (all of them, each ``count`` times) with ``np.dot``.

    Operands are random ``dtype`` arrays allocated once, in the layout each product has in
    the real step (a transposed operand is a transposed view, as BLAS receives it).

    Examples
    --------
    >>> step = GemmStep(train_gemms(1, 8, 5, 2, 3, [(1, 4)], 4))
    >>> step()
    """

    def __init__(self, gemms, dtype="float32", seed=0):
        rng = np.random.default_rng(seed)
        self.calls = []
        for _, layout, m, k, n, count in gemms:
            a = rng.standard_normal((k, m) if layout[0] == "t" else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if layout[1] == "t" else (k, n)).astype(dtype)
            a = a.T if layout[0] == "t" else a
            b = b.T if layout[1] == "t" else b
            self.calls.append((a, b, np.empty((m, n), dtype), count))

    def __call__(self):
        for a, b, c, count in self.calls:
            for _ in range(count):
                np.dot(a, b, out=c)
