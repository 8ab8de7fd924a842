"""Loop templates of ops that build arrays or write into them: ``IncSubtensor``
(``set_subtensor`` / ``inc_subtensor`` with basic indices or one integer vector), the row
lookup ``E[idx]`` (``AdvancedSubtensor``), and the helpers that write values into views.

The ops that return a new array (``IncSubtensor`` copies its ``x`` first, as its ``perform``
does) write into a buffer of the step; nothing a template reads is ever written, so a view
of an input stays valid. Integer indices follow NumPy: negative ones count from the end,
one out of range raises IndexError (the interpreted rerun then gives the full message).
"""

import numpy as np

from minigraph.tensor.subtensor import AdvancedSubtensor, IncSubtensor
from minigraph.tensor.subtensor_zeros import ZerosIncSubtensor

from .emitter import Unsupported, Val, assign, check_same, fill, np_dtype
from .templates import index_view, template


def read0(v):
    """Source text of a rank-0 value."""
    return v.name if v.is_scalar else v.at([])


def store(em, dst, src, flags, inc):
    """Write ``src`` into the view ``dst`` (``inc``: add to it), broadcast as NumPy does:
    ``src`` (of ``flags``, its static broadcastable pattern) is aligned on the last
    dimensions, a broadcastable dimension read at its start; NumPy's casts (the sum computed
    in the operands' common dtype)."""
    t = np_dtype(dst.dtype)
    ct = np_dtype(np.result_type(dst.dtype, src.dtype).name)
    if inc and not np.can_cast(np.result_type(dst.dtype, src.dtype), dst.dtype, "same_kind"):
        raise Unsupported(f"adding {src.dtype} into {dst.dtype}")
    sizes = em.sizes(dst.shape)
    lead = dst.ndim - src.ndim
    if lead < 0:
        raise Unsupported("a value of higher rank than its destination")
    for d in range(src.ndim):
        if not flags[d]:
            check_same(em, src.shape[d], sizes[lead + d], "shapes differ in an assignment")
    ivars = em.loop_over(sizes)
    value = read0(src) if src.ndim == 0 else src.at(
        ["0" if b else i for i, b in zip(ivars[lead:], flags)])
    cell = dst.at(ivars)
    em.line(f"{cell} = {t}({ct}({cell}) + {ct}({value}))" if inc else f"{cell} = {t}({value})")
    em.close(len(ivars))


def copy_to_output(em, x, var):
    """``x`` copied to where the result ``var`` goes (always a copy: the result must not
    alias ``x``)."""
    if x.is_scalar:
        raise Unsupported("indexing a scalar")
    out = em.output(var, em.sizes(x.shape), x.dtype)
    assign(em, out, x)
    return out


def array_of(v):
    """Source text of a Numba array that is the view ``v`` (the whole of its base, or a
    row of it, both C-contiguous), or None."""
    if v.is_whole():
        return v.name
    if set(v.fixed) == {0} and v.base_ndim == v.ndim + 1 and \
            v.dims == [(a + 1, "0", 1) for a in range(v.ndim)]:
        return f"{v.name}[{v.fixed[0]}]"
    return None


@template(IncSubtensor, ZerosIncSubtensor)
def _inc_subtensor(em, node, ins):
    """``ZerosIncSubtensor`` starts from zeros of ``x``'s shape instead of a copy of ``x``
    (a basic part is then set: ``0 + y`` is ``y``)."""
    x, y, idx = ins[0], ins[1], ins[2:]
    op, flags = node.op, node.inputs[1].broadcastable
    zeros = isinstance(op, ZerosIncSubtensor)
    if "array" in op.entries:
        if op.entries != ("array",):
            raise Unsupported("an integer-array index other than x[idx]")
        return [_inc_rows(em, node, x, y, flags, idx[0], not op.set_instead_of_inc, zeros)]
    out = _start(em, x, node.outputs[0], zeros)
    part = index_view(em, out, op.entries, iter(idx))
    store(em, part, y, flags, not op.set_instead_of_inc and not zeros)
    return [out]


def _start(em, x, var, zeros):
    """Where ``var`` goes, holding a copy of ``x`` or (``zeros``) zeros of its shape."""
    if not zeros:
        return copy_to_output(em, x, var)
    if x.is_scalar:
        raise Unsupported("indexing a scalar")
    out = em.output(var, em.sizes(x.shape), x.dtype)
    fill(em, out, f"{np_dtype(x.dtype)}(0)")
    return out


def _row_index(em, i, n):
    """The local name of the checked row index ``i`` (source text) into ``n`` rows."""
    r = em.fresh("r")
    em.line(f"{r} = _rt.index(np.int64({i}), {n})")
    return r


def _index_vector(i):
    if i.ndim == 0 or np.dtype(i.dtype).kind not in "iu" or i.dtype == "uint64":
        raise Unsupported(f"an index array of {i.dtype} and rank {i.ndim}")


def _row(x, r):
    """The view ``x[r]`` for a checked row index ``r``."""
    a, start, step = x.dims[0]
    fixed = dict(x.fixed)
    if a is not None:
        fixed[a] = f"{start} + {r} * {step}" if start != "0" or step != 1 else r
    return Val(x.dtype, x.name, x.dims[1:], fixed, x.shape[1:], x.base_ndim)


@template(AdvancedSubtensor)
def _take_rows(em, node, ins):
    if node.op.entries != ("array",):
        raise Unsupported("an integer-array index other than E[idx]")
    x, i = ins
    _index_vector(i)
    if x.is_scalar:
        raise Unsupported("indexing a scalar")
    xs, ii = em.sizes(x.shape), em.sizes(i.shape)
    out = em.output(node.outputs[0], ii + xs[1:], x.dtype)
    ivars = em.loop_over(ii)
    row = _row(x, _row_index(em, i.at(ivars), xs[0]))
    jvars = em.loop_over(xs[1:])
    em.line(f"{out.at(ivars + jvars)} = {row.at(jvars)}")
    em.close(len(ivars) + len(jvars))
    return [out]


def _inc_rows(em, node, x, y, flags, i, inc, zeros=False):
    """``x`` with rows ``x[i[k]]`` set to (or incremented by) ``y[k]``, in the order of
    ``i``: a repeated row accumulates (``numpy.add.at``), or takes the last value. ``y`` is
    broadcast against ``x[i]`` (of shape ``i.shape + x.shape[1:]``) as in :func:`store`."""
    _index_vector(i)
    t, ct = np_dtype(x.dtype), np_dtype(np.result_type(x.dtype, y.dtype).name)
    if inc and not np.can_cast(np.result_type(x.dtype, y.dtype), x.dtype, "same_kind"):
        raise Unsupported(f"adding {y.dtype} into {x.dtype}")
    out = _start(em, x, node.outputs[0], zeros)
    xs, ii = em.sizes(x.shape), em.sizes(i.shape)
    lead = len(ii) + x.ndim - 1 - y.ndim
    if lead < 0:
        raise Unsupported("a value of higher rank than its destination")
    for d in range(y.ndim):
        if not flags[d]:
            check_same(em, y.shape[d], (ii + xs[1:])[lead + d], "shapes differ in an "
                                                                 "assignment")
    ivars = em.loop_over(ii)
    row = _row(out, _row_index(em, i.at(ivars), xs[0]))
    jvars = em.loop_over(xs[1:])
    value = read0(y) if y.ndim == 0 else y.at(
        ["0" if b else v for v, b in zip((ivars + jvars)[lead:], flags)])
    cell = row.at(jvars)
    em.line(f"{cell} = {t}({ct}({cell}) + {ct}({value}))" if inc else f"{cell} = {t}({value})")
    em.close(len(ivars) + len(jvars))
    return out
