"""Loop templates of ops that build arrays or write into them: ``IncSubtensor``
(``set_subtensor`` / ``inc_subtensor`` with basic indices or one integer vector), the row
lookup ``E[idx]`` (``AdvancedSubtensor``), ``Alloc`` (``zeros``, ``ones``, ``alloc``),
``MakeVector`` (symbolic shapes) and ``MRGUniform`` (the draws of ``MRG_RandomStreams``).

The ops that return a new array (``IncSubtensor`` copies its ``x`` first, as its ``perform``
does) write into a buffer of the step; nothing a template reads is ever written, so a view
of an input stays valid. Integer indices follow NumPy: negative ones count from the end,
one out of range raises IndexError (the interpreted rerun then gives the full message).
"""

import hashlib

import numpy as np

from minigraph.sandbox import mrg31k3p
from minigraph.sandbox.mrg_op import MRGUniform
from minigraph.tensor.shape import Alloc, MakeVector
from minigraph.tensor.subtensor import AdvancedSubtensor, IncSubtensor

from .emitter import Unsupported, Val, assign, check_same, np_dtype
from .templates import index_view, template


def _read(v):
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
    value = _read(src) if src.ndim == 0 else src.at(
        ["0" if b else i for i, b in zip(ivars[lead:], flags)])
    cell = dst.at(ivars)
    em.line(f"{cell} = {t}({ct}({cell}) + {ct}({value}))" if inc else f"{cell} = {t}({value})")
    em.close(len(ivars))


def _copy(em, x, var):
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


@template(IncSubtensor)
def _inc_subtensor(em, node, ins):
    x, y, idx = ins[0], ins[1], ins[2:]
    op, flags = node.op, node.inputs[1].broadcastable
    if "array" in op.entries:
        if op.entries != ("array",):
            raise Unsupported("an integer-array index other than x[idx]")
        return [_inc_rows(em, node, x, y, flags, idx[0], not op.set_instead_of_inc)]
    out = _copy(em, x, node.outputs[0])
    part = index_view(em, out, op.entries, iter(idx))
    store(em, part, y, flags, not op.set_instead_of_inc)
    return [out]


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


def _inc_rows(em, node, x, y, flags, i, inc):
    """``x`` with rows ``x[i[k]]`` set to (or incremented by) ``y[k]``, in the order of
    ``i``: a repeated row accumulates (``numpy.add.at``), or takes the last value. ``y`` is
    broadcast against ``x[i]`` (of shape ``i.shape + x.shape[1:]``) as in :func:`store`."""
    _index_vector(i)
    t, ct = np_dtype(x.dtype), np_dtype(np.result_type(x.dtype, y.dtype).name)
    if inc and not np.can_cast(np.result_type(x.dtype, y.dtype), x.dtype, "same_kind"):
        raise Unsupported(f"adding {y.dtype} into {x.dtype}")
    out = _copy(em, x, node.outputs[0])
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
    value = _read(y) if y.ndim == 0 else y.at(
        ["0" if b else v for v, b in zip((ivars + jvars)[lead:], flags)])
    cell = row.at(jvars)
    em.line(f"{cell} = {t}({ct}({cell}) + {ct}({value}))" if inc else f"{cell} = {t}({value})")
    em.close(len(ivars) + len(jvars))
    return out


@template(Alloc)
def _alloc(em, node, ins):
    value, shp = ins
    dt, nd = node.outputs[0].dtype, node.outputs[0].ndim
    if nd == 0:
        s = em.fresh("s")
        em.line(f"{s} = {np_dtype(dt)}({_read(value)})")
        return [Val.scalar(s, dt)]
    if shp.is_scalar or shp.ndim != 1:
        raise Unsupported("an alloc shape that is not a vector")
    sizes = []
    for k in range(nd):
        n = em.fresh("n")
        em.line(f"{n} = {shp.at([str(k)])}")
        em.line(f"if {n} < 0:")
        em.line("    " + em.fail("ValueError", "negative dimensions are not allowed"))
        sizes.append(n)
    out = em.output(node.outputs[0], sizes, dt)
    store(em, out, value, node.inputs[0].broadcastable, False)
    return [out]


@template(MakeVector)
def _make_vector(em, node, ins):
    dt = node.op.dtype
    if any(v.ndim for v in ins):
        raise Unsupported("make_vector of a value that is not a scalar")
    out = em.output(node.outputs[0], [str(len(ins))], dt)
    for k, v in enumerate(ins):
        em.line(f"{out.at([str(k)])} = {np_dtype(dt)}({_read(v)})")
    return [out]


@template(MRGUniform)
def _mrg_uniform(em, node, ins):
    """The draw as ``MRGUniform`` makes it in Numba (``mrg31k3p.fill``, bit for bit the
    NumPy reference): a copy of the state advanced, the samples in a buffer."""
    rstate, size = ins
    dt, nd = node.op.dtype, node.op.ndim
    if rstate.is_scalar or rstate.ndim != 2 or size.is_scalar or size.ndim != 1 or nd == 0:
        raise Unsupported("an MRG draw of a scalar or from a state that is not a matrix")
    rows = em.sizes(rstate.shape)
    em.line(f"if {rows[1]} != 6 or {rows[0]} < 1:")
    em.line("    " + em.fail("ValueError", "MRG uniform: the state must have shape "
                                           "(nstreams >= 1, 6)"))
    sizes = []
    for k in range(nd):
        n = em.fresh("n")
        em.line(f"{n} = {size.at([str(k)])}")
        em.line(f"if {n} < 0:")
        em.line("    " + em.fail("ValueError", "MRG uniform: negative size"))
        sizes.append(n)
    state = _copy(em, rstate, node.outputs[0])
    out = em.output(node.outputs[1], sizes, dt)
    target = array_of(out)
    if target is None:  # a view the fill cannot write: a buffer, copied there after
        target = em.buffer(sizes, dt)
    em.need(["from minigraph.sandbox import mrg31k3p as _mrg",
             f"# minigraph/sandbox/mrg31k3p.py sha1 {_mrg_stamp()}",
             f"_mrg_fill_{dt} = _mrg._numba_fill('{dt}')",
             f"_mrg_norm_{dt} = _mrg._norm('{dt}')"])
    st = array_of(state)
    if st is None:
        raise Unsupported("an MRG state stored as a strided view")
    em.line(f"_mrg_fill_{dt}({st}, {target}.reshape({' * '.join(sizes)}), _mrg_norm_{dt})")
    if target != array_of(out):
        assign(em, out, Val.array(target, nd, dt))
    return [state, out]


def _mrg_stamp():
    with open(mrg31k3p.__file__, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()[:12]
