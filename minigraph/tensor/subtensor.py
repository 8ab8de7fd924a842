"""Indexing: basic slicing (``x[i:j, k]``, symbolic bounds), integer-array indexing
(``E[idx]``, ``P[T.arange(n), y]``), and ``set_subtensor`` / ``inc_subtensor``.

An index is stored in the op as a tuple of entries: ``int`` or ``None`` (a constant), the
string ``"in"`` (taken from the next symbolic input), ``("slice", a, b, c)`` with the same
three kinds of parts, ``"newaxis"``, and (advanced ops only) ``"array"`` for an index array
given as an input. The gradient of a lookup scatters (``inc_subtensor``), so repeated
indices accumulate: rows picked by one int vector (``E[idx]``, Theano's
``AdvancedIncSubtensor1``) in one compiled loop, other index patterns with ``numpy.add.at``
(about 50 times slower).
"""

import functools
import math

import numpy as np

from minigraph.graph.basic import Apply, Constant, GraphError, Variable
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

from kernels.workspace import FRESH_MIN_BYTES, aligned_bytes

from .basic import as_tensor_variable
from .elemwise import _fit_grad
from .math import cast, zeros_like


def _is_int_scalar_var(v):
    return isinstance(v, Variable) and v.ndim == 0 and np.dtype(v.dtype).kind in "iu"


def _parse(x, index):
    """Split a Python index into (entries, symbolic inputs, advanced?)."""
    if not isinstance(index, tuple):
        index = (index,)
    entries, inputs, advanced = [], [], False

    def part(p):
        if isinstance(p, (bool, np.bool_)):
            raise GraphError(f"index {p!r}: booleans are not indices; use 0/1 or T.switch")
        if p is None or isinstance(p, (int, np.integer)):
            return None if p is None else int(p)
        if isinstance(p, Constant) and p.ndim == 0:
            return int(p.data)
        if _is_int_scalar_var(p):
            inputs.append(p)
            return "in"
        raise GraphError(f"slice bounds must be ints or int scalars, got {p!r}")

    for item in index:
        if item is Ellipsis:
            n_real = sum(1 for e in index if e is not None and e is not Ellipsis)
            entries.extend([("slice", None, None, None)] * (x.ndim - n_real))
        elif item is None:
            entries.append("newaxis")
        elif isinstance(item, slice):
            entries.append(("slice", part(item.start), part(item.stop), part(item.step)))
        elif isinstance(item, (int, np.integer)) or (
            isinstance(item, Variable) and item.ndim == 0
        ):
            if isinstance(item, Variable) and np.dtype(item.dtype).kind not in "iu":
                raise GraphError(f"index {item.describe()} must be an integer, not {item.dtype}")
            entries.append(part(item))
        else:
            arr = as_tensor_variable(item)
            if arr.dtype == "bool":
                raise GraphError("boolean-mask indexing is not supported; use T.switch or "
                                 "integer indices (x[mask.nonzero()])")
            if np.dtype(arr.dtype).kind not in "iu":
                raise GraphError(f"index arrays must be integers, got {arr.type.short()}")
            entries.append("array")
            inputs.append(arr)
            advanced = True
    n_dims_used = sum(1 for e in entries if e != "newaxis")
    if n_dims_used > x.ndim:
        raise GraphError(f"too many indices ({n_dims_used}) for the {x.ndim}-d {x.describe()}")
    return tuple(entries), inputs, advanced


def _build_index(entries, values):
    it = iter(values)

    def part(p):
        return next(it) if p == "in" else p

    out = []
    for e in entries:
        if e == "newaxis":
            out.append(None)
        elif e == "array":
            out.append(next(it))
        elif isinstance(e, tuple):
            out.append(slice(part(e[1]), part(e[2]), part(e[3])))
        else:
            out.append(int(part(e)) if e == "in" else e)
    return tuple(out)


def _index_builder(entries):
    """``idx -> _build_index(entries, idx)`` as one generated expression: a node's entries
    are fixed, so the per-call walk over them (a measurable cost on small arrays) is done
    once here."""
    env, k, parts = {"slice": slice, "int": int}, 0, []

    def take():
        nonlocal k
        k += 1
        return f"idx[{k - 1}]"

    def const(p):
        env[f"c{len(env)}"] = p
        return f"c{len(env) - 1}"

    for e in entries:
        if e == "newaxis":
            parts.append("None")
        elif e == "array":
            parts.append(take())
        elif isinstance(e, tuple):
            parts.append("slice(" + ", ".join(take() if p == "in" else const(p)
                                                for p in e[1:4]) + ")")
        elif e == "in":
            parts.append(f"int({take()})")
        else:
            parts.append(const(e))
    exec(f"def build(idx):\n    return ({', '.join(parts)}{',' if parts else ''})\n", env)
    return env["build"]


def _basic_shape(x, entries):
    shape, d = [], 0
    for e in entries:
        if e == "newaxis":
            shape.append(1)
            continue
        n = x.type.shape[d]
        if isinstance(e, tuple):
            _, a, b, c = e
            if n is not None and "in" not in (a, b, c):
                shape.append(len(range(*slice(a, b, c).indices(n))))
            else:
                shape.append(None)
        d += 1
    shape.extend(x.type.shape[d:])
    return tuple(shape)


class Subtensor(Op):
    """Basic indexing ``x[entries]`` (a view)."""

    __props__ = ("entries",)
    view_map = {0: [0]}

    def __init__(self, entries):
        self.entries = entries

    def __str__(self):
        return "Subtensor{" + ",".join(_entry_str(e) for e in self.entries) + "}"

    def make_node(self, x, *idx):
        x = as_tensor_variable(x)
        return Apply(self, [x, *idx], [TensorType(x.dtype, shape=_basic_shape(x, self.entries))()])

    def make_py_callable(self, node):
        entries, trace = self.entries, node.trace
        static = None if any(e == "in" or (isinstance(e, tuple) and "in" in e)
                             for e in entries) else _build_index(entries, ())
        build = _index_builder(entries)

        def run(x, *idx):
            index = static if static is not None else build(idx)
            try:
                r = x[index]
            except IndexError as e:
                raise IndexError(f"{e}: index {index} into an array of shape {x.shape} "
                                 f"(node created at {trace})") from None
            return r if type(r) is np.ndarray else np.asarray(r)

        return run

    def grad(self, inputs, outputs, output_grads):
        return _scatter_grad(self.entries, inputs, output_grads[0])


class IncSubtensor(Op):
    """``x`` with ``x[entries]`` incremented by (or set to) ``y``; returns a new array."""

    __props__ = ("entries", "set_instead_of_inc")

    def __init__(self, entries, set_instead_of_inc):
        self.entries, self.set_instead_of_inc = entries, set_instead_of_inc

    def __str__(self):
        kind = "Set" if self.set_instead_of_inc else "Inc"
        return f"{kind}Subtensor{{" + ",".join(_entry_str(e) for e in self.entries) + "}"

    def make_node(self, x, y, *idx):
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        # the part may have more dimensions than x itself (E[idx2d] is 3-d for a 2-d E)
        part = _index_op(self.entries).make_node(x, *idx).outputs[0]
        if y.ndim > part.ndim:
            raise GraphError(f"cannot put a {y.ndim}-d value into the {part.ndim}-d part "
                             f"{part.type.short()} of {x.describe()}")
        return Apply(self, [x, y, *idx], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, y, idx = inputs[0], inputs[1], inputs[2:]
        out = x.copy()
        index = _build_index(self.entries, idx)
        try:
            if self.set_instead_of_inc:
                out[index] = y
            elif self.entries == ("array",) and _add_rows(out, idx[0], y):
                pass
            elif "array" in self.entries:
                np.add.at(out, index, y)
            else:
                out[index] += y
        except (ValueError, IndexError) as e:
            raise ValueError(f"{self}: {e} (x shape {x.shape}, value shape {np.shape(y)}, node "
                             f"created at {node.trace})") from None
        output_storage[0][0] = out

    def grad(self, inputs, outputs, output_grads):
        x, y, idx = inputs[0], inputs[1], inputs[2:]
        gz = output_grads[0]
        part = _index_op(self.entries)(gz, *idx)
        if self.set_instead_of_inc:
            gx = IncSubtensor(self.entries, True)(gz, zeros_like(part), *idx)
        else:
            gx = gz
        gy = _fit_grad(part, y) if np.dtype(y.dtype).kind in "fc" else None
        return [gx if np.dtype(x.dtype).kind in "fc" else None, gy] + [None] * len(idx)


@functools.lru_cache(maxsize=None)
def _row_scatter():
    import numba  # imported on first use, as everywhere in minigraph (kernels first)

    @numba.njit(cache=True, error_model="numpy")
    def scatter(out, idx, y):
        # out[idx[i]] += y[i], row by row: repeated ids accumulate
        for i in range(idx.shape[0]):
            r = idx[i]
            for j in range(y.shape[1]):
                out[r, j] += y[i, j]

    return scatter


def _add_rows(out, idx, y):
    """``out[idx] += y`` with repeats accumulating, for an int vector ``idx``: True when done
    here, False for the cases ``numpy.add.at`` keeps (other dtypes, index shapes)."""
    if (idx.ndim != 1 or idx.dtype.kind not in "iu" or out.ndim == 0
            or out.dtype.kind not in "fiu" or np.result_type(y) != out.dtype):
        return False
    n, rows = out.shape[0], (idx.shape[0],) + out.shape[1:]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError(f"index {int(bad)} is out of bounds for axis 0 with size {n}")
    if idx.size and idx.min() < 0:
        idx = np.where(idx < 0, idx + n, idx)  # NumPy's meaning: counted from the end
    width = math.prod(out.shape[1:])
    y = np.ascontiguousarray(np.broadcast_to(y, rows)).reshape(idx.shape[0], width)
    _row_scatter()(out.reshape(n, width), idx, y)
    return True


class AdvancedSubtensor(Op):
    """Integer-array indexing mixed with slices (``E[idx]``, ``P[T.arange(n), y]``); a copy."""

    __props__ = ("entries",)

    def __init__(self, entries):
        self.entries = entries

    def __str__(self):
        return "AdvancedSubtensor{" + ",".join(_entry_str(e) for e in self.entries) + "}"

    def make_node(self, x, *idx):
        x = as_tensor_variable(x)
        probe = _probe_shape(x, self.entries, idx)
        return Apply(self, [x, *idx], [TensorType(x.dtype, shape=probe)()])

    def make_py_callable(self, node):
        entries, trace = self.entries, node.trace
        if entries == ("array",):
            def run(x, i):
                try:
                    if i.dtype.kind in "iu" and i.ndim:
                        r = _take_rows(x, i)
                        if r is not None:
                            return r
                    return x[i]
                except IndexError as e:
                    raise IndexError(f"{e} (lookup into shape {x.shape}, node created at "
                                     f"{trace})") from None
            return run

        build = _index_builder(entries)

        def run_general(x, *idx):
            try:
                return np.asarray(x[build(idx)])
            except IndexError as e:
                raise IndexError(f"{e} (indexing shape {x.shape}, node created at {trace})"
                                 ) from None

        return run_general

    def grad(self, inputs, outputs, output_grads):
        return _scatter_grad(self.entries, inputs, output_grads[0])


def _take_rows(x, i):
    """``x[i]`` for integer indices ``i``, written into fresh memory that starts on a
    huge-page boundary (kernels/workspace.py's ``aligned_bytes``: an embedding lookup of
    Gorner's char-RNN is 35-47 MB, which NumPy's own array faulted in 4 kB at a time where
    huge pages were not aligned) when it is big; None when it is small or an index is out of
    range (``x[i]`` then answers, or raises NumPy's error). Not from a call's memory plan:
    such rows live through most of a training step (the fused GRU writes its gates over
    them), and in the plan's arena, which stays mapped, they raised the GRU char-RNN's peak
    from 485 to 515 MB (Gorner's configuration, steady state)."""
    n = len(x)
    nbytes = i.size * (x.nbytes // n) if n else 0
    if nbytes >= FRESH_MIN_BYTES and -n <= i.min() and i.max() < n:
        out = aligned_bytes(nbytes).view(x.dtype).reshape(i.shape + x.shape[1:])
        # "wrap" (indices checked above: it maps -n..-1 as Python does) writes straight into
        # `out`; "raise" would fill a temporary and copy it
        return np.take(x, i, axis=0, out=out, mode="wrap")
    return None


def _scatter_grad(entries, inputs, gz):
    """Gradient of ``x[entries]``: ``gz`` added into zeros shaped like ``x`` (repeated
    indices accumulate); the index inputs get none."""
    x, idx = inputs[0], inputs[1:]
    if np.dtype(x.dtype).kind not in "fc":
        return [None] * len(inputs)
    return [IncSubtensor(entries, False)(zeros_like(x), gz, *idx)] + [None] * len(idx)


def _probe_shape(x, entries, idx):
    """Static output shape of advanced indexing, found by indexing a dummy array."""
    if entries == ("array",):  # E[idx], the common lookup: the index's shape + E's rest
        return tuple(idx[0].type.shape) + tuple(x.type.shape[1:])
    dims = [s if s else 7 for s in x.type.shape]  # unknown (or empty) dims: a placeholder
    dummy = np.zeros(dims, dtype="int8")
    values = []
    for v in idx:
        if v.ndim == 0:
            values.append(0)
        else:
            # an unknown index length: 1, which broadcasts against any known length
            values.append(np.zeros([1 if s is None else s for s in v.type.shape], "int64"))
    try:
        probe = dummy[_build_index(entries, values)].shape
    except IndexError as e:
        raise GraphError(f"invalid index for {x.describe()} {x.type.short()}: {e}") from None
    # dimensions whose size came from a placeholder are unknown
    known = dummy.shape == tuple(x.type.shape) and all(
        None not in v.type.shape for v in idx if v.ndim)
    return probe if known else (None,) * len(probe)


def _entry_str(e):
    if isinstance(e, tuple):
        return ":".join("" if p is None else ("$" if p == "in" else str(p)) for p in e[1:])
    return {"in": "$", "array": "[]", "newaxis": "x"}.get(e, str(e))


def _index_op(entries):
    return AdvancedSubtensor(entries) if "array" in entries else Subtensor(entries)


def getitem(x, index):
    """``x[index]`` for tensor variables (see the module docstring for what is supported)."""
    x = as_tensor_variable(x)
    entries, inputs, advanced = _parse(x, index)
    if not advanced and all(e == ("slice", None, None, None) for e in entries):
        return x
    return _index_op(entries)(x, *inputs)


def _inc_or_set(x_part, y, set_instead_of_inc, what):
    node = getattr(x_part, "owner", None)
    if node is None or not isinstance(node.op, (Subtensor, AdvancedSubtensor)):
        raise GraphError(f"{what} expects an indexed tensor such as x[1:3] or E[idx], got "
                         f"{getattr(x_part, 'describe', lambda: x_part)()}")
    x, idx = node.inputs[0], node.inputs[1:]
    y = as_tensor_variable(y)
    part, value = x_part.type.shape, y.type.shape
    fits = len(value) <= len(part) and all(
        a is None or b is None or a == b or b == 1 for a, b in zip(part[::-1], value[::-1]))
    if not fits:
        raise GraphError(f"{what}: the value {y.describe()} {y.type.short()} does not fit "
                         f"the indexed part {x_part.type.short()}")
    if y.dtype != x.dtype:
        y = cast(y, x.dtype)
    return IncSubtensor(node.op.entries, set_instead_of_inc)(x, y, *idx)


def set_subtensor(x, y):
    """A copy of the whole tensor behind ``x = a[idx]`` with ``a[idx]`` replaced by ``y``.

    >>> import minigraph.tensor as T, numpy as np
    >>> a = T.dvector("a")
    >>> T.set_subtensor(a[1:], 0.0).eval({a: np.ones(3)}).tolist()
    [1.0, 0.0, 0.0]
    """
    return _inc_or_set(x, y, True, "set_subtensor")


def inc_subtensor(x, y):
    """A copy of the tensor behind ``x = a[idx]`` with ``y`` added to ``a[idx]``
    (repeated integer indices accumulate)."""
    return _inc_or_set(x, y, False, "inc_subtensor")
