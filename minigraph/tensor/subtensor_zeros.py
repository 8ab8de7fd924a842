"""``inc_subtensor`` into a fresh array of zeros, without filling and copying a base.

The gradient of an indexing ``x[idx]`` is ``inc_subtensor(zeros_like(x)[idx], g)``
(``tensor/subtensor.py``, ``_scatter_grad``): as written, that fills an array of zeros
(``second(x, 0)``), copies it (``IncSubtensor`` returns a new array) and adds ``g`` to part of
the copy, three passes over ``x``'s size for a value that is mostly zeros, or, when ``idx``
covers all of ``x`` (``states[:, :, :H]`` where ``H`` is the whole width), just ``g``. The
rewrite ``inc_subtensor_of_zeros`` (``tensor/rewriting/useless.py``) replaces the pair with
one :class:`ZerosIncSubtensor` node, which

* returns ``g`` itself when the index covers the whole array at run time (same shape, in
  order; checked each call, so a width only known at run time still profits), and
* otherwise asks for zeros from the allocator (``numpy.zeros``: fresh pages are zero already)
  and writes ``g`` into its part once (adding into zeros is setting, except where an index
  array repeats an index, which still accumulates).
"""

import functools
import math

import numpy as np

from kernels.workspace import SHARED
from minigraph.graph.basic import Apply
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from .basic import as_tensor_variable
from .elemwise import _fit_grad
from .math import zeros_like
from .subtensor import _add_rows, _build_index, _entry_str, _index_builder, _index_op


class ZerosIncSubtensor(Op):
    """``inc_subtensor(zeros_like(x)[entries], y)`` (or ``set_subtensor``) as one node.

    Inputs are ``x`` (only its shape is read), ``y`` and the index inputs, as for
    ``IncSubtensor``; the output may be ``y`` itself, hence ``view_map``.

    Examples
    --------
    >>> import numpy as np, minigraph.tensor as T
    >>> from minigraph.tensor.subtensor_zeros import ZerosIncSubtensor
    >>> x, y = T.dmatrix("x"), T.dmatrix("y")
    >>> op = ZerosIncSubtensor((("slice", 1, None, None),), False)
    >>> op(x, y).eval({x: np.ones((3, 2)), y: np.full((2, 2), 5.0)}).tolist()
    [[0.0, 0.0], [5.0, 5.0], [5.0, 5.0]]
    """

    __props__ = ("entries", "set_instead_of_inc")
    view_map = {0: [1]}  # y itself when the index covers the whole array

    def __init__(self, entries, set_instead_of_inc=False):
        self.entries, self.set_instead_of_inc = tuple(entries), bool(set_instead_of_inc)

    def __str__(self):
        kind = "Set" if self.set_instead_of_inc else "Inc"
        return f"Zeros{kind}Subtensor{{" + ",".join(_entry_str(e) for e in self.entries) + "}"

    def make_node(self, x, y, *idx):
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        _index_op(self.entries).make_node(x, *idx)  # checks the index against x
        return Apply(self, [x, y, *idx], [TensorType(x.dtype, shape=x.type.shape)()])

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def perform(self, node, inputs, output_storage):
        x, y, idx = inputs[0], inputs[1], inputs[2:]
        index = _build_index(self.entries, idx)
        y = np.asarray(y)
        if y.shape == x.shape and y.dtype == x.dtype and _covers(index, x.shape):
            output_storage[0][0] = y
            return
        out = _zeros(x.shape, x.dtype)
        try:
            if self.set_instead_of_inc or "array" not in self.entries:
                out[index] = y  # 0 + y is y: one write into fresh zeros
            elif not (self.entries == ("array",) and _add_rows(out, idx[0], y)):
                np.add.at(out, index, y)  # repeated indices accumulate
        except (ValueError, IndexError) as e:
            raise ValueError(f"{self}: {e} (x shape {x.shape}, value shape {y.shape}, node "
                             f"created at {node.trace})") from None
        output_storage[0][0] = out

    def grad(self, inputs, outputs, output_grads):
        x, y, idx = inputs[0], inputs[1], inputs[2:]
        part = _index_op(self.entries)(output_grads[0], *idx)
        gy = _fit_grad(part, y) if np.dtype(y.dtype).kind in "fc" else None
        gx = zeros_like(x) if np.dtype(x.dtype).kind in "fc" else None
        return [gx, gy] + [None] * len(idx)


def _zeros(shape, dtype):
    """Zeros of ``shape``: from the shared workspace when 1 MB or more (``numpy.zeros``'s
    fresh pages are zero, but each faults in again at every call once ``tune_malloc`` makes
    big frees go back to the system: an LSTM's (30, 200, 1024) float32 state gradient took
    5-22 ms per call in Gorner's char-RNN), else NumPy's."""
    dtype = np.dtype(dtype)
    if math.prod(shape) * dtype.itemsize < SHARED.min_bytes:
        return np.zeros(shape, dtype)
    out = SHARED.empty(shape, dtype)
    out.fill(0)
    return out


def _covers(index, shape):
    """Whether ``a[index]`` is all of ``a`` (of ``shape``), in order: slices only, each
    from 0 to the end with step 1."""
    if len(index) > len(shape):
        return False
    for s, n in zip(index, shape):
        if not isinstance(s, slice) or s.indices(n) != (0, n, 1):
            return False
    return True



class SliceOfSet(Op):
    """``set_subtensor(x[start:], y)[entries]`` (``zeros=True``: ``inc_subtensor`` into
    ``zeros_like(x)``), read from ``y`` when the slice lies inside the part written.

    Inputs are ``x``, ``y`` and the index inputs of ``entries``. At run time a first entry that
    is a slice with a positive step, or an int, that falls in ``[start, len(x))`` is shifted by
    ``start`` and applied to ``y`` (a view, no copy); any other read (one that reaches the
    rows below ``start``, or a ``y`` that broadcasts) builds the whole array first, so the
    result is always that of the two nodes it replaces.

    Examples
    --------
    >>> import numpy as np, minigraph.tensor as T
    >>> x, y = T.dmatrix("x"), T.dmatrix("y")
    >>> op = SliceOfSet(1, (("slice", 2, None, None),), zeros=True)
    >>> op(x, y).eval({x: np.ones((4, 1)), y: np.arange(3.0)[:, None]}).ravel().tolist()
    [1.0, 2.0]
    """

    __props__ = ("start", "entries", "zeros")
    view_map = {0: [1]}  # a view of y

    def __init__(self, start, entries, zeros=False):
        self.start, self.entries, self.zeros = int(start), tuple(entries), bool(zeros)

    def __str__(self):
        inside = ",".join(_entry_str(e) for e in self.entries)
        return f"SliceOfSet{{{self.start}::}}{{{inside}}}" + ("{zeros}" if self.zeros else "")

    def make_node(self, x, y, *idx):
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        out = _index_op(self.entries).make_node(x, *idx).outputs[0]
        return Apply(self, [x, y, *idx], [out.type()])

    def make_py_callable(self, node):
        a, entries, zeros, trace = self.start, self.entries, self.zeros, node.trace
        build = _index_builder(entries)

        def run(x, y, *idx):
            index = build(idx)
            n = x.shape[0]
            if y.shape == (max(n - a, 0),) + x.shape[1:]:
                first = _shifted(index[0], a, n)
                if first is not None:
                    return y[(first,) + index[1:]]
            whole = _zeros(x.shape, x.dtype) if zeros else x.copy()
            try:
                whole[a:] = y
                return whole[index]
            except (ValueError, IndexError) as e:
                raise ValueError(f"{e} (x shape {x.shape}, value shape {y.shape}, node "
                                 f"created at {trace})") from None

        return run


def _shifted(entry, a, n):
    """``entry`` (a slice or int into ``n`` rows) moved ``a`` rows up, when everything it
    reads lies in rows ``a`` to ``n``; else None."""
    if isinstance(entry, slice):
        start, stop, step = entry.indices(n)
        if step < 0 or start < a:
            return None
        return slice(start - a, max(stop - a, 0), step)
    k = entry + n if entry < 0 else entry
    return k - a if a <= k < n else None


class ZerosIncRows(Op):
    """``inc_subtensor(zeros_like(x)[idx], reshape(y, shp))`` for an int vector ``idx`` and a
    matrix ``x``, without the reshape's copy when ``y`` is not contiguous (the gradient of a
    row lookup feeding a loop, read back in reversed time order, ``scan/grad.py``).

    When ``shp`` is ``(len(idx), x.shape[1])`` and ``y`` is 3-d with ``y.shape[2] ==
    x.shape[1]`` (the reshape merges the leading axes: rows in the same order), one compiled
    loop adds ``y[t, b]`` into row ``idx[t * y.shape[1] + b]`` of fresh zeros, reading ``y``
    through its strides; anything else reshapes first, as the two nodes it replaces did.

    Examples
    --------
    >>> import numpy as np, minigraph.tensor as T
    >>> x, y, i, s = T.dmatrix("x"), T.dtensor3("y"), T.ivector("i"), T.lvector("s")
    >>> f = ZerosIncRows()(x, y, i, s)
    >>> f.eval({x: np.zeros((3, 1)), y: np.ones((2, 2, 1)), i: np.array([0, 2, 2, 0], "int32"),
    ...         s: np.array([4, 1])}).ravel().tolist()
    [2.0, 0.0, 2.0]
    """

    __props__ = ()

    def make_node(self, x, y, idx, shp):
        x, y, idx, shp = (as_tensor_variable(v) for v in (x, y, idx, shp))
        return Apply(self, [x, y, idx, shp], [TensorType(x.dtype, shape=x.type.shape)()])

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def make_py_callable(self, node):
        trace = node.trace

        def run(x, y, idx, shp):
            out = _zeros(x.shape, x.dtype)
            n, width = x.shape[0], x.shape[1]
            if (y.ndim == 3 and not y.flags.c_contiguous  # (else the reshape is a view)
                    and tuple(shp) == (idx.shape[0], width) and y.shape[2] == width
                    and y.dtype == x.dtype and y.shape[0] * y.shape[1] == idx.shape[0]
                    and idx.dtype.kind in "iu"):
                if idx.size and (idx.min() < -n or idx.max() >= n):
                    bad = idx[(idx < -n) | (idx >= n)][0]
                    raise IndexError(f"index {int(bad)} is out of bounds for axis 0 with size "
                                     f"{n} (node created at {trace})")
                if idx.size and idx.min() < 0:
                    idx = np.where(idx < 0, idx + n, idx)
                _row_scatter3()(out, idx, y)
                return out
            try:
                rows = y.reshape(tuple(shp))
            except ValueError:
                raise ValueError(f"cannot reshape an array of shape {y.shape} into "
                                 f"{tuple(int(s) for s in shp)} (node created at {trace})"
                                 ) from None
            if not _add_rows(out, idx, rows):
                np.add.at(out, idx, rows)
            return out

        return run


@functools.lru_cache(maxsize=None)
def _row_scatter3():
    import numba  # imported on first use, as everywhere in minigraph

    @numba.njit(cache=True, error_model="numpy")
    def scatter(out, idx, y):
        # out[idx[t * B + b]] += y[t, b]: the rows of y.reshape(-1, width), read in place
        steps, batch = y.shape[0], y.shape[1]
        for t in range(steps):
            for b in range(batch):
                r = idx[t * batch + b]
                for j in range(y.shape[2]):
                    out[r, j] += y[t, b, j]

    return scatter
