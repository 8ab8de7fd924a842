"""Loop templates of the row ops of ``minigraph/tensor/nnet/basic.py``: ``Softmax``,
``LogSoftmax`` and ``SoftmaxGrad``, over the last axis of a tensor of any rank.

Each row is read in place (a view), reduced once for its maximum and once for its sum
(in float64, see :mod:`minigraph.codegen.templates_reduce`), and written into the result;
``exp`` and ``log`` are the scalar table's code (``kernels/vecmath.py``), as in fused
elementwise kernels. The arithmetic follows the NumPy reference step by step, in the same
dtypes: ``e = exp(x - max)``, ``e / sum(e)``; ``s - log(sum(exp(s)))``;
``(dy - sum(dy * sm)) * sm``.
"""

import numpy as np

from minigraph.tensor.nnet.basic import LogSoftmax, Softmax, SoftmaxGrad

from .emitter import Unsupported, check_same, np_dtype
from .templates import scalar_op, template
from .templates_reduce import fold


def _row_start(em, x, var, what):
    """The sizes of ``x``, a row length checked non-zero (NumPy's max of an empty row
    raises), where the result ``var`` goes, and the loops over the leading dimensions
    opened."""
    if x.ndim == 0:
        raise Unsupported(f"{what} of a scalar")
    sizes = em.sizes(x.shape)
    em.line(f"if {sizes[-1]} == 0:")
    em.line("    " + em.fail("ValueError", f"{what} of an empty row"))
    out = em.output(var, sizes, x.dtype)
    return sizes, out, em.loop_over(sizes[:-1])


@template(Softmax)
def _softmax(em, node, ins):
    (x,) = ins
    t = np_dtype(x.dtype)
    sizes, out, ivars = _row_start(em, x, node.outputs[0], "softmax")
    m = fold(em, "max", lambda j: x.at(ivars + j), sizes[-1:], x.dtype)
    acc, s = em.fresh("acc"), em.fresh("sum")
    em.line(f"{acc} = np.float64(0)")
    (j,) = em.loop_over(sizes[-1:])
    e = scalar_op(em, "exp", x.dtype, [f"{t}({x.at(ivars + [j])} - {m})"])
    cell = out.at(ivars + [j])
    em.line(f"{cell} = {e}")
    em.line(f"{acc} += np.float64({e})")
    em.close(1)
    em.line(f"{s} = {t}({acc})")
    (j,) = em.loop_over(sizes[-1:])
    cell = out.at(ivars + [j])
    em.line(f"{cell} = {t}({cell} / {s})")
    em.close(1 + len(ivars))
    return [out]


@template(LogSoftmax)
def _log_softmax(em, node, ins):
    (x,) = ins
    t = np_dtype(x.dtype)
    sizes, out, ivars = _row_start(em, x, node.outputs[0], "log_softmax")
    m = fold(em, "max", lambda j: x.at(ivars + j), sizes[-1:], x.dtype)
    acc = em.fresh("acc")
    em.line(f"{acc} = np.float64(0)")
    (j,) = em.loop_over(sizes[-1:])
    e = scalar_op(em, "exp", x.dtype, [f"{t}({x.at(ivars + [j])} - {m})"])
    em.line(f"{acc} += np.float64({e})")
    em.close(1)
    lse = scalar_op(em, "log", x.dtype, [f"{t}({acc})"])
    (j,) = em.loop_over(sizes[-1:])
    em.line(f"{out.at(ivars + [j])} = {t}({t}({x.at(ivars + [j])} - {m}) - {lse})")
    em.close(1 + len(ivars))
    return [out]


@template(SoftmaxGrad)
def _softmax_grad(em, node, ins):
    dy, sm = ins
    out_dt = node.outputs[0].dtype
    if dy.ndim != sm.ndim or dy.ndim == 0:
        raise Unsupported("a softmax gradient of operands of different ranks")
    ct = np_dtype(np.result_type(dy.dtype, sm.dtype).name)  # NumPy computes in this dtype
    flags = [node.inputs[0].broadcastable, node.inputs[1].broadcastable]
    sizes = broadcast_sizes(em, [dy, sm], flags, f"softmax gradient: shapes differ (node "
                                                 f"created at {node.trace})")
    out = em.output(node.outputs[0], sizes, out_dt)
    ivars = em.loop_over(sizes[:-1])

    def read(v, b, idx):
        return f"{ct}({v.at(['0' if bd else i for i, bd in zip(idx, b)])})"

    acc, s = em.fresh("acc"), em.fresh("sum")
    em.line(f"{acc} = np.float64(0)")
    (j,) = em.loop_over(sizes[-1:])
    idx = ivars + [j]
    em.line(f"{acc} += np.float64({ct}({read(dy, flags[0], idx)} * "
            f"{read(sm, flags[1], idx)}))")
    em.close(1)
    em.line(f"{s} = {ct}({acc})")
    (j,) = em.loop_over(sizes[-1:])
    idx = ivars + [j]
    em.line(f"{out.at(idx)} = {np_dtype(out_dt)}({ct}({read(dy, flags[0], idx)} - "
            f"{s}) * {read(sm, flags[1], idx)})")
    em.close(1 + len(ivars))
    return [out]


def broadcast_sizes(em, vals, flags, what):
    """The sizes of the broadcast shape of ``vals`` (one rank; ``flags``: each one's static
    broadcastable pattern, as elementwise regions use it), the other sizes checked equal."""
    sizes = []
    for d in range(vals[0].ndim):
        full = [v for v, b in zip(vals, flags) if not b[d]]
        if not full:
            sizes.append("1")
            continue
        n = em.sizes([full[0].shape[d]])[0]
        for v in full[1:]:
            check_same(em, v.shape[d], n, what)
        sizes.append(n)
    return sizes
