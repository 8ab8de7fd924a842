"""Loop templates of reductions: ``sum prod max min`` over axes (``Reduce``), ``argmax`` /
``argmin``, the product of two vectors (``Dot`` of rank 0), and the row sums and maxima
that softmax and its gradient need (:mod:`minigraph.codegen.templates_nnet`).

Each computes what ``minigraph/tensor/reduce.py`` computes with NumPy, with one difference
in the last bits of float sums: a reduction over the innermost axes sums each result in
float64 (NumPy sums pairwise in the dtype), one over outer axes adds rows in order into the
result, as NumPy does. Both agree with NumPy to a rounding of the dtype.
"""

import numpy as np

from minigraph.tensor.blas import DotAdd
from minigraph.tensor.reduce import Argmax, Reduce

from .emitter import Unsupported, Val, check_same, fill, np_dtype
from .templates import template


def identity(kind, dtype):
    """Source text of the start value of a ``kind`` reduction in ``dtype``."""
    t, kind_of = np_dtype(dtype), np.dtype(dtype).kind
    if kind in ("sum", "prod"):
        return f"{t}({int(kind == 'prod')})"
    if kind_of == "b":
        return f"{t}({kind == 'min'})"
    if kind_of == "f":
        return f"{t}({'-' if kind == 'max' else ''}np.inf)"
    info = np.iinfo(dtype)
    return f"{t}({info.min if kind == 'max' else info.max})"


def combine(em, kind, acc, value, dtype):
    """A line folding ``value`` into ``acc`` (``dtype``). max/min take a NaN and keep it,
    as NumPy does (``v != v`` is a NaN; a NaN accumulator compares False)."""
    if kind == "sum":
        em.line(f"{acc} += {value}")
    elif kind == "prod":
        em.line(f"{acc} = {np_dtype(dtype)}({acc} * {value})")
    else:
        cmp = ">" if kind == "max" else "<"
        nan = f" or {value} != {value}" if np.dtype(dtype).kind == "f" else ""
        em.line(f"if {value} {cmp} {acc}{nan}:")
        em.line(f"    {acc} = {value}")


def accumulator(kind, out_dtype):
    """The dtype a reduction accumulates in: float64 for float sums, else the result's."""
    return "float64" if kind == "sum" and np.dtype(out_dtype).kind == "f" else out_dtype


def fold(em, kind, read, sizes, out_dtype, elem_dtype=None):
    """Lines reducing the values ``read(ivars)`` over nested loops of ``sizes``; the name of
    the result (of ``accumulator(kind, out_dtype)``). Each value is first converted to
    ``elem_dtype`` (NumPy's ``dtype=`` argument converts before it adds)."""
    acc_dt = accumulator(kind, out_dtype)
    acc = em.fresh("acc")
    em.line(f"{acc} = {identity(kind, acc_dt)}")
    ivars = em.loop_over(sizes)
    value = read(ivars)
    if elem_dtype is not None:
        value = f"{np_dtype(elem_dtype)}({value})"
    if acc_dt != elem_dtype:
        value = f"{np_dtype(acc_dt)}({value})"
    combine(em, kind, acc, value, acc_dt)
    em.close(len(ivars))
    return acc


def _check_not_empty(em, sizes, what):
    em.line(f"if {' * '.join(sizes) or '1'} == 0:")
    em.line("    " + em.fail("ValueError", f"{what} of an empty array"))


@template(Reduce)
def _reduce(em, node, ins):
    (x,) = ins
    op, out_dt = node.op, node.outputs[0].dtype
    if op.kind in ("sum", "prod") and np.dtype(out_dt).kind == "b":
        raise Unsupported("a boolean sum or product")
    if x.ndim == 0:  # no axis: only the dtype changes
        s = em.fresh("s")
        em.line(f"{s} = {np_dtype(out_dt)}({x.name if x.is_scalar else x.at([])})")
        return [Val.scalar(s, out_dt)]
    sizes = em.sizes(x.shape)
    if op.kind in ("max", "min"):
        _check_not_empty(em, sizes, op.kind)
    kept = [d for d in range(x.ndim) if d not in op.axis]
    out_sizes = [("1" if d in op.axis else sizes[d]) for d in range(x.ndim) if
                 op.keepdims or d in kept]
    elem = out_dt if op.kind in ("sum", "prod") and out_dt != x.dtype else None
    if list(op.axis) != list(range(len(kept), x.ndim)):
        out = em.output(node.outputs[0], out_sizes, out_dt)
        return [_reduce_outer(em, op, x, sizes, kept, out, elem)]
    # the reduced axes are the innermost: one accumulator per result
    if not out_sizes:
        acc = fold(em, op.kind, x.at, sizes, out_dt, elem)
        s = em.fresh("s")
        em.line(f"{s} = {np_dtype(out_dt)}({acc})")
        return [Val.scalar(s, out_dt)]
    out = em.output(node.outputs[0], out_sizes, out_dt)
    ivars = em.loop_over([sizes[d] for d in kept])
    acc = fold(em, op.kind, lambda jvars: x.at(ivars + jvars), sizes[len(kept):], out_dt, elem)
    index = ivars + ["0"] * (len(out_sizes) - len(ivars))
    em.line(f"{out.at(index)} = {np_dtype(out_dt)}({acc})")
    em.close(len(ivars))
    return [out]


def _reduce_outer(em, op, x, sizes, kept, out, elem):
    """A reduction over some outer axis into ``out``: ``x`` read in order, each value
    folded into its result in place (NumPy's order for such a reduction, in the result's
    dtype)."""
    out_dt = out.dtype
    fill(em, out, identity(op.kind, out_dt))
    ivars = em.loop_over(sizes)
    index = [("0" if d in op.axis else i) for d, i in enumerate(ivars)
             if op.keepdims or d in kept]
    value = x.at(ivars)
    if elem is not None:
        value = f"{np_dtype(elem)}({value})"
    cell = out.at(index)
    if op.kind in ("sum", "prod"):
        sign = "+" if op.kind == "sum" else "*"
        em.line(f"{cell} = {np_dtype(out_dt)}({cell} {sign} {value})")
    else:
        v = em.fresh("v")
        em.line(f"{v} = {np_dtype(out_dt)}({value})")
        combine(em, op.kind, cell, v, out_dt)
    em.close(len(ivars))
    return out


@template(Argmax)
def _argmax(em, node, ins):
    """The first index of the maximum (minimum) along one axis, or of the flattened array;
    a NaN is the maximum (and minimum) at its first position, as NumPy has it."""
    (x,) = ins
    op = node.op
    if x.ndim == 0:
        raise Unsupported("argmax of a scalar")
    sizes = em.sizes(x.shape)
    _check_not_empty(em, sizes, f"arg{op.kind}")
    axes = list(range(x.ndim)) if op.axis is None else [op.axis]
    kept = [d for d in range(x.ndim) if d not in axes]
    out_sizes = [("1" if d in axes else sizes[d]) for d in range(x.ndim)
                 if op.keepdims or d in kept]
    out = em.output(node.outputs[0], out_sizes, "int64") if out_sizes else None
    ivars = em.loop_over([sizes[d] for d in kept])
    best, at, k = em.fresh("best"), em.fresh("at"), em.fresh("k")
    em.line(f"{best} = {x.at(_merge(kept, ivars, axes, ['0'] * len(axes)))}")
    em.line(f"{at} = 0")
    em.line(f"{k} = 0")
    jvars = em.loop_over([sizes[d] for d in axes])
    v = em.fresh("v")
    em.line(f"{v} = {x.at(_merge(kept, ivars, axes, jvars))}")
    cmp = ">" if op.kind == "max" else "<"
    nan = f" or ({v} != {v} and {best} == {best})" if np.dtype(x.dtype).kind == "f" else ""
    em.line(f"if {v} {cmp} {best}{nan}:")
    em.line(f"    {best}, {at} = {v}, {k}")
    em.line(f"{k} += 1")
    em.close(len(jvars))
    if out is None:
        s = em.fresh("s")
        em.line(f"{s} = np.int64({at})")
        em.close(len(ivars))
        return [Val.scalar(s, "int64")]
    index = ivars + ["0"] * (len(out_sizes) - len(ivars)) if op.axis is None else \
        [("0" if d in axes else ivars[kept.index(d)]) for d in range(x.ndim)
         if op.keepdims or d in kept]
    em.line(f"{out.at(index)} = {at}")
    em.close(len(ivars))
    return [out]


def _merge(kept, ivars, axes, jvars):
    """Index variables of all dimensions from those of the kept and the reduced ones."""
    out = dict(zip(kept, ivars))
    out.update(zip(axes, jvars))
    return [out[d] for d in range(len(out))]


def vector_dot(em, node, ins, dtype):
    """``a . b`` of two vectors (plus a scalar bias for DotAdd) as a scalar: a loop summing
    in float64 (NumPy's BLAS sums in the dtype, in its own order: the results agree to a
    rounding of the dtype)."""
    a, b = ins[:2]
    check_same(em, a.shape[0], b.shape[0], f"dot: shapes are not aligned (node created at "
                                           f"{node.trace})")
    n = em.sizes([a.shape[0]])[0]
    acc, out, t = em.fresh("acc"), em.fresh("s"), np_dtype(dtype)
    em.line(f"{acc} = np.float64(0)")
    (i,) = em.loop_over([n])
    em.line(f"{acc} += np.float64({a.at([i])}) * np.float64({b.at([i])})")
    em.close(1)
    em.line(f"{out} = {t}({acc})")
    if isinstance(node.op, DotAdd):
        bias = ins[2]
        if bias.ndim:
            raise Unsupported("a vector dot product plus a bias that is not a scalar")
        em.line(f"{out} = {t}({out} + {bias.name if bias.is_scalar else bias.at([])})")
    return Val.scalar(out, dtype)
