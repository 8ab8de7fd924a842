"""Categorical sampling from given uniforms: ``MultinomialFromUniform`` and ``ChoiceFromUniform``.

The ops are deterministic: randomness comes in as a vector of uniforms (drawn by
``MRG_RandomStreams``, see :mod:`.rng_mrg`), so they merge, fold and test like any other op.
Row ``r`` of ``pvals`` uses ``unis[c * rows + r]`` for its ``c``-th sample, and a sample is
the first category whose cumulative probability exceeds the uniform (Theano's convention).

Both check ``pvals`` when they run (non-negative, finite, rows summing to 1 within
``tolerance(dtype)``): an unnormalised row otherwise gives quietly biased samples.
"""

import numpy as np

from minigraph.graph.basic import Apply, Constant, GraphError, where
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType
from minigraph.tensor.basic import as_tensor_variable

__all__ = ["MultinomialFromUniform", "ChoiceFromUniform", "tolerance", "check_pvals"]


def tolerance(dtype):
    """How far from 1 a row of probabilities of ``dtype`` may sum."""
    return 1e-4 if np.dtype(dtype).itemsize <= 4 else 1e-6


def check_pvals(p, what):
    """Raise ValueError unless each row of ``p`` is a probability vector."""
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{what}: probabilities must be finite and non-negative, got "
                         f"{_show(p)}")
    sums = p.sum(axis=-1, dtype=np.float64)
    bad = np.flatnonzero(np.abs(sums - 1) > tolerance(p.dtype))
    if bad.size:
        raise ValueError(f"{what}: each row of probabilities must sum to 1 (within "
                         f"{tolerance(p.dtype):g}); row {bad[0]} sums to {sums[bad[0]]:.8g}. "
                         f"Normalise it, e.g. with T.nnet.softmax or p / p.sum(axis=1, "
                         f"keepdims=True)")


def _show(p):
    return np.array2string(np.asarray(p), threshold=12, precision=4)


def _pick(cdf, u, nonzero):
    """Per row ``r``: the number of entries of ``cdf[r]`` that are ``<= u[..., r]``.

    One ``searchsorted`` over all rows: row ``r``'s values are shifted by ``2 r`` (each row
    lies in ``[0, 1 + tolerance]``), which keeps the flattened array sorted. The result is
    clipped to the row's last category of non-zero probability, where rounding in ``cdf``
    would otherwise let ``u`` run past the end.
    """
    rows, k = cdf.shape
    shift = 2.0 * np.arange(rows)
    flat = (cdf + shift[:, None]).ravel()
    idx = np.searchsorted(flat, u + shift, side="right") - k * np.arange(rows)
    last = k - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    return np.minimum(idx, last)


def _check_inputs(what, p, unis, n_per_row):
    rows = p.shape[0]
    if unis.shape != (rows * n_per_row,):
        raise ValueError(f"{what}: {rows} rows x {n_per_row} samples need {rows * n_per_row} "
                         f"uniforms, got {unis.shape[0]}")
    if p.shape[1] == 0 and rows and n_per_row:
        raise ValueError(f"{what}: pvals has no categories to sample from")
    check_pvals(p, what)


def _make_node(op, what, pvals, unis, n):
    pvals, unis, n = (as_tensor_variable(v) for v in (pvals, unis, n))
    if pvals.ndim != 2 or np.dtype(pvals.dtype).kind != "f":
        raise GraphError(f"{what}: pvals must be a float matrix (one row of probabilities "
                         f"per draw), got {pvals.type.short()}{where(pvals)}")
    if unis.ndim != 1 or np.dtype(unis.dtype).kind != "f":
        raise GraphError(f"{what}: unis must be a float vector, got {unis.type.short()}")
    if n.ndim != 0 or np.dtype(n.dtype).kind not in "iu":
        raise GraphError(f"{what}: the number of samples must be an int scalar, got "
                         f"{n.type.short()}")
    if isinstance(pvals, Constant):
        try:
            check_pvals(np.asarray(pvals.data), what)
        except ValueError as e:
            raise GraphError(str(e)) from None
    return pvals, unis, n


class MultinomialFromUniform(Op):
    """``(pvals, unis, n) -> counts``: ``n`` categorical draws per row of ``pvals``, counted.

    ``counts`` has ``pvals``'s shape and dtype ``odtype``; each row sums to ``n``.
    """

    __props__ = ("odtype",)

    def __init__(self, odtype="int64"):
        self.odtype = str(np.dtype(odtype))

    def make_node(self, pvals, unis, n=1):
        pvals, unis, n = _make_node(self, "multinomial", pvals, unis, n)
        out = TensorType(self.odtype, shape=pvals.type.shape)()
        return Apply(self, [pvals, unis, n], [out])

    def perform(self, node, inputs, output_storage):
        p, unis, n = inputs
        n = int(n)
        _check_inputs("multinomial", p, unis, n)
        rows, k = p.shape
        counts = np.zeros((rows, k), dtype=np.int64)
        if rows and n:
            cdf = np.cumsum(p, axis=1, dtype=np.float64)
            u = unis.astype(np.float64).reshape(n, rows)
            idx = np.stack([_pick(cdf, u[c], p > 0) for c in range(n)])
            np.add.at(counts, (np.broadcast_to(np.arange(rows), idx.shape), idx), 1)
        output_storage[0][0] = counts.astype(self.odtype)

    def grad(self, inputs, outputs, output_grads):
        return [None, None, None]  # counts are piecewise constant in every input


class ChoiceFromUniform(Op):
    """``(p, unis, size) -> indices``: ``size`` categories drawn per row of ``p``.

    Without replacement (``replace=False``, Theano's only mode) a drawn category leaves the
    row and the rest are renormalised; ``size`` may not exceed the categories of non-zero
    probability. The output has shape ``(rows, size)`` and dtype ``odtype``.
    """

    __props__ = ("odtype", "replace")

    def __init__(self, odtype="int64", replace=False):
        self.odtype, self.replace = str(np.dtype(odtype)), bool(replace)

    def make_node(self, p, unis, size):
        p, unis, size = _make_node(self, "choice", p, unis, size)
        cols = int(size.data) if isinstance(size, Constant) else None
        k = p.type.shape[1]
        if not self.replace and cols is not None and k is not None and cols > k:
            raise GraphError(f"choice: cannot take {cols} samples without replacement from "
                             f"{k} categories")
        out = TensorType(self.odtype, shape=(p.type.shape[0], cols))()
        return Apply(self, [p, unis, size], [out])

    def perform(self, node, inputs, output_storage):
        p, unis, size = inputs
        size = int(size)
        _check_inputs("choice", p, unis, size)
        rows = p.shape[0]
        u = unis.astype(np.float64).reshape(size, rows)
        if self.replace:
            cdf = np.cumsum(p, axis=1, dtype=np.float64)
            out = [_pick(cdf, u[c], p > 0) for c in range(size)]
        else:
            out = self._without_replacement(p.astype(np.float64), u)
        result = np.stack(out, axis=1) if out else np.zeros((rows, 0), dtype=np.int64)
        output_storage[0][0] = result.astype(self.odtype)

    @staticmethod
    def _without_replacement(q, u):
        rows, k = q.shape
        available = np.count_nonzero(q > 0, axis=1)
        if rows and available.min() < len(u):
            r = int(np.argmin(available))
            raise ValueError(f"choice: cannot take {len(u)} samples without replacement: row "
                             f"{r} of p has {available[r]} categories of non-zero probability")
        out = []
        for uc in u:
            cdf = np.cumsum(q, axis=1)
            # scale the uniform by what is left rather than renormalising the row
            idx = _pick(cdf / cdf[:, -1:], uc, q > 0)
            q[np.arange(rows), idx] = 0.0
            out.append(idx)
        return out

    def grad(self, inputs, outputs, output_grads):
        return [None, None, None]
