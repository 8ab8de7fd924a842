"""Loop templates of shape ops, identities and random draws: ``Alloc`` (``zeros``,
``ones``, ``alloc``), ``MakeVector`` (symbolic shapes), ``SpecifyShape`` and
``CheckLength`` (checks, then the input itself), the gradient modifiers (``zero_grad``,
``disconnected_grad``, ``grad_clip``, ``grad_scale``: identities in a step), and
``MRGUniform`` (the draws of ``MRG_RandomStreams``, bit for bit those of the interpreted
loop).

Draws of ``RandomStream`` (``minigraph/tensor/random``) stay interpreted: they use a NumPy
``Generator``, whose streams Numba cannot reproduce.
"""

import hashlib

from minigraph.gradient import _GradModifier
from minigraph.sandbox import mrg31k3p
from minigraph.sandbox.mrg_op import MRGUniform
from minigraph.scan.checks import CheckLength
from minigraph.tensor.shape import Alloc, MakeVector, SpecifyShape

from .emitter import Unsupported, Val, assign, check_same, np_dtype
from .templates import template
from .templates_index import array_of, copy_to_output, read0, store


@template(SpecifyShape)
def _specify_shape(em, node, ins):
    (x,) = ins
    for n, want in zip(x.shape, node.op.shape):
        if want is not None:
            check_same(em, n, str(want), f"specify_shape: a size differs from {want} (node "
                                         f"created at {node.trace})")
    return [x]


@template(CheckLength)
def _check_length(em, node, ins):
    (x,) = ins
    em.line(f"if {x.shape[0]} < {node.op.span}:")
    em.line("    " + em.fail("ValueError", "a sequence is too short"))
    return [x]


def _identity(em, node, ins):
    return [ins[0]]


for _cls in [_GradModifier] + _GradModifier.__subclasses__():  # zero_grad, grad_clip, ...
    template(_cls)(_identity)

# ops whose template returns their first input's value itself (after checks): a loop's
# output computed through them is written by the node computing that input (scanloop)
IDENTITIES = (SpecifyShape, CheckLength, _GradModifier)


@template(Alloc)
def _alloc(em, node, ins):
    value, shp = ins
    dt, nd = node.outputs[0].dtype, node.outputs[0].ndim
    if nd == 0:
        s = em.fresh("s")
        em.line(f"{s} = {np_dtype(dt)}({read0(value)})")
        return [Val.scalar(s, dt)]
    if shp.is_scalar or shp.ndim != 1:
        raise Unsupported("an alloc shape that is not a vector")
    sizes = _sizes(em, shp, nd, "negative dimensions are not allowed")
    out = em.output(node.outputs[0], sizes, dt)
    store(em, out, value, node.inputs[0].broadcastable, False)
    return [out]


def _sizes(em, vec, nd, what):
    """The ``nd`` entries of the shape vector ``vec`` bound to names, each checked not
    negative (``what``: the message)."""
    sizes = []
    for k in range(nd):
        n = em.fresh("n")
        em.line(f"{n} = {vec.at([str(k)])}")
        em.line(f"if {n} < 0:")
        em.line("    " + em.fail("ValueError", what))
        sizes.append(n)
    return sizes


@template(MakeVector)
def _make_vector(em, node, ins):
    dt = node.op.dtype
    if any(v.ndim for v in ins):
        raise Unsupported("make_vector of a value that is not a scalar")
    out = em.output(node.outputs[0], [str(len(ins))], dt)
    for k, v in enumerate(ins):
        em.line(f"{out.at([str(k)])} = {np_dtype(dt)}({read0(v)})")
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
    sizes = _sizes(em, size, nd, "MRG uniform: negative size")
    state = copy_to_output(em, rstate, node.outputs[0])
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
