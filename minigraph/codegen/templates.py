"""Templates: the Numba code of one node of a loop's step, one function per op class.

A template takes the :class:`~minigraph.codegen.emitter.Emitter`, the node and the
:class:`~minigraph.codegen.emitter.Val` of each input, adds lines, and returns the ``Val`` of
each output. It raises :class:`~minigraph.codegen.emitter.Unsupported` for a case it does
not cover; an op without a template makes the whole loop run interpreted. Views (slicing,
``dimshuffle``) only change the ``Val``; elementwise ops become one nested loop over the
result, its body written from the scalar table by ``fused_kernels._body`` (the code fused
kernels run, ``kernels/vecmath.py`` included); products call BLAS
(:mod:`minigraph.codegen.blas`).

Adding an op: write ``@template(OpClass)`` ``def _op(em, node, ins)`` here, and a test in
``tests/codegen/test_templates.py`` comparing the compiled loop with the interpreted one.
"""

from minigraph.tensor.blas import Dot, DotAdd, Gemm
from minigraph.tensor.elemwise import DimShuffle, Elemwise
from minigraph.tensor.fused_kernels import _body, _vecmath_prelude
from minigraph.tensor.fusion import FusedElemwise, Program
from minigraph.tensor.scalar import SCALAR_OPS
from minigraph.tensor.shape import Join, Reshape, Shape
from minigraph.tensor.subtensor import Subtensor

from .emitter import (Unsupported, Val, assign, check_same, dtype_itemsize, fill,
                      materialize, np_dtype)
from .runtime import stamp as runtime_stamp

TEMPLATES = {}


def template(*op_classes):
    """Register the decorated function as the template of ``op_classes``."""
    def register(fn):
        for c in op_classes:
            TEMPLATES[c] = fn
        return fn
    return register


def emit_node(em, node, ins):
    """The output ``Val`` s of ``node`` (lines added to ``em``), or Unsupported."""
    fn = TEMPLATES.get(type(node.op))
    if fn is None:
        raise Unsupported(f"{node.op} has no loop template")
    # Numba's disk cache of a loop sees only the loop's own file, not the helpers it calls
    em.need([f"# minigraph/codegen/runtime.py sha1 {runtime_stamp()}"])
    return fn(em, node, ins)


def scalar_op(em, name, dtype, args):
    """Lines computing the scalar op ``name`` of the table (``minigraph/tensor/scalar.py``)
    on ``args`` (source texts of values of ``dtype``), as fused kernels compute it
    (``kernels/vecmath.py`` for exp, log, tanh...); the name of the result."""
    n = len(args)
    prog = Program([(dtype, ())] * n, [(SCALAR_OPS[name], tuple(range(n)), dtype)], [n])
    em.need(_vecmath_prelude(prog))
    body, outs = _body(prog, "")
    body, named = em.rename(body)
    for i, a in enumerate(args):
        em.line(f"{named(f'v{i}')} = {a}")
    em.lines(body)
    return named(outs[0])


# ---- elementwise ------------------------------------------------------------------------


def program_of(node):
    """The node's scalar program (a plain ``Elemwise`` is a program of one step)."""
    if isinstance(node.op, FusedElemwise):
        return node.op.program
    n = len(node.inputs)
    return Program([(x.dtype, x.broadcastable) for x in node.inputs],
                   [(node.op.scalar_op, tuple(range(n)), node.outputs[0].dtype)], [n])


@template(Elemwise, FusedElemwise)
def _elementwise(em, node, ins):
    if getattr(node.op.scalar_op if isinstance(node.op, Elemwise) else node.op,
               "code", True) is None:
        raise Unsupported(f"{node.op} has no scalar code")
    prog = program_of(node)
    return region(em, prog, ins, node.outputs[0].ndim, node.trace, node.outputs)


def region(em, prog, ins, ndim, trace, outputs):
    """One loop over the result running ``prog``, writing the variables ``outputs`` (see
    ``Emitter.output`` for where)."""
    em.need(_vecmath_prelude(prog))
    if any(not v.is_scalar and v.ndim != ndim for v in ins):
        raise Unsupported("elementwise inputs of different ranks")
    shape = []
    for d in range(ndim):
        full = [v for v, (_, b) in zip(ins, prog.in_types) if not v.is_scalar and not b[d]]
        if not full:
            shape.append("1")
            continue
        n = em.sizes([full[0].shape[d]])[0]
        for v in full[1:]:
            check_same(em, v.shape[d], n, f"elementwise shapes differ (node created at "
                                          f"{trace})")
        shape.append(n)
    body, outs = _body(prog, "")
    body, named = em.rename(body)
    dtypes = prog.out_dtypes()
    reads = [(named(f"v{i}"), v, b) for i, (v, (_, b)) in enumerate(zip(ins, prog.in_types))]
    # inputs broadcast in every dimension are read once, outside the loops
    for name, v, b in reads:
        if v.is_scalar:
            em.line(f"{name} = {v.name}")
        elif all(b):
            em.line(f"{name} = {v.at(['0'] * ndim)}")
    if ndim == 0:
        em.lines(body)
        vals = []
        for o, dt in zip(outs, dtypes):
            s = em.fresh("s")
            em.line(f"{s} = {named(o)}")
            vals.append(Val.scalar(s, dt))
        return vals
    bufs = [em.output(var, shape, dt) for var, dt in zip(outputs, dtypes)]
    ivars = em.loop_over(shape)
    for name, v, b in reads:
        if not v.is_scalar and not all(b):
            em.line(f"{name} = {v.at(['0' if bd else i for i, bd in zip(ivars, b)])}")
    em.lines(body)
    for buf, o in zip(bufs, outs):
        em.line(f"{buf.at(ivars)} = {named(o)}")
    em.close(ndim)
    return bufs


# ---- views ------------------------------------------------------------------------------


@template(DimShuffle)
def _dimshuffle(em, node, ins):
    (x,) = ins
    if x.is_scalar:
        if all(d == "x" for d in node.op.new_order):
            nd = len(node.op.new_order)
            buf = em.buffer(["1"] * nd, x.dtype)
            em.line(f"{buf}[{', '.join(['0'] * nd)}] = {x.name}")
            return [Val.array(buf, nd, x.dtype)]
        raise Unsupported("dimshuffle of a scalar")
    fixed = dict(x.fixed)
    for d in node.op.dropped:  # a dropped dimension has size 1: read at its start
        a, start, _ = x.dims[d]
        if a is not None:
            fixed[a] = start
    dims, shape = [], []
    for d in node.op.new_order:
        if d == "x":
            dims.append((None, "0", 1))
            shape.append("1")
        else:
            dims.append(x.dims[d])
            shape.append(x.shape[d])
    if not dims:
        s = em.fresh("s")
        em.line(f"{s} = {Val(x.dtype, x.name, [], fixed, [], x.base_ndim).at([])}")
        return [Val.scalar(s, x.dtype)]
    return [Val(x.dtype, x.name, dims, fixed, shape, x.base_ndim)]


@template(Subtensor)
def _subtensor(em, node, ins):
    out = index_view(em, ins[0], node.op.entries, iter(ins[1:]))
    if not out.dims:
        s = em.fresh("s")
        em.line(f"{s} = {out.at([])}")
        return [Val.scalar(s, out.dtype)]
    return [out]


def index_view(em, x, entries, idx):
    """The view ``x[entries]`` of basic indexing (``minigraph/tensor/subtensor.py``'s
    entries; ``idx`` iterates the ``Val`` s of the symbolic parts), rank 0 included."""
    if x.is_scalar:
        raise Unsupported("indexing a scalar")
    fixed, dims, shape, d = dict(x.fixed), [], [], 0

    def part(p, default):
        if p is None:
            return default
        if p == "in":
            v = next(idx)
            if not v.is_scalar:
                raise Unsupported("an index that is not a scalar")
            return v.name
        return str(p)

    for e in entries:
        if e == "newaxis":
            dims.append((None, "0", 1))
            shape.append("1")
            continue
        if d >= x.ndim:
            raise Unsupported("more indices than dimensions")
        a, start, step = x.dims[d]
        n = x.shape[d]
        if isinstance(e, tuple):
            first, length, st = _slice(em, e, n, part)
            if a is None:
                dims.append((None, "0", 1))
            else:
                dims.append((a, f"{start} + {first} * {step}" if first != "0" else start,
                             step * st))
            shape.append(length)
        else:
            k = em.fresh("k")
            em.line(f"{k} = _rt.index({part(e, None)}, {n})")
            if a is not None:
                fixed[a] = f"{start} + {k} * {step}"
        d += 1
    for d2 in range(d, x.ndim):
        dims.append(x.dims[d2])
        shape.append(x.shape[d2])
    return Val(x.dtype, x.name, dims, fixed, shape, x.base_ndim)


def _slice(em, entry, n, part):
    """``(first, length, step)`` of the slice ``entry`` on ``n`` elements, as Python's
    ``slice.indices`` gives them (source texts; the step is a constant)."""
    _, lo, hi, st = entry
    if st == "in":
        raise Unsupported("a symbolic slice step")
    st = 1 if st is None else st
    if st == 0:
        raise Unsupported("a slice step of zero")
    if st == 1 and lo is None and hi is None:  # ``:``, the whole axis: no code
        return "0", n, 1
    first, length = em.fresh("lo"), em.fresh("ln")
    if st > 0 and lo in (None, 0):  # the first element is statically 0, which lets
        em.line(f"{first}, {length} = _rt.slice_range(0, {part(hi, n)}, {st}, {n})")
        return "0", length, st  # codegen/rows.py see a row of g[:, :H] as a row of g
    if st > 0:
        em.line(f"{first}, {length} = _rt.slice_range({part(lo, '0')}, {part(hi, n)}, {st}, "
                f"{n})")
    else:  # the defaults: from the last element, to before the first
        em.line(f"{first}, {length} = _rt.slice_range_down({part(lo, n)}, "
                f"{part(hi, f'-({n}) - 1')}, {st}, {n})")
    return first, length, st


@template(Shape)
def _shape(em, node, ins):
    (x,) = ins
    buf = em.buffer([str(max(x.ndim, 0))], "int64")
    for d, s in enumerate(x.shape):
        em.line(f"{buf}[{d}] = {s}")
    return [Val.array(buf, 1, "int64")]


@template(Reshape)
def _reshape(em, node, ins):
    x, shp = ins
    nd = node.op.ndim
    if shp.is_scalar or shp.ndim != 1:
        raise Unsupported("a reshape to a shape that is not a vector")
    x = materialize(em, x)
    if x.is_scalar:
        raise Unsupported("reshaping a scalar")
    size = " * ".join(x.shape) or "1"
    new, dims = em.fresh("rs"), em.buffer([str(nd)], "int64")
    for k in range(nd):
        em.line(f"{dims}[{k}] = {shp.at([str(k)])}")
    if nd == 0:
        em.line(f"{new} = {x.name}.reshape(-1)[0]")
        return [Val.scalar(new, x.dtype)]
    em.line(f"_rt.reshape_dims({size}, {dims})")
    tup = ", ".join(f"{dims}[{k}]" for k in range(nd))
    em.line(f"{new} = {x.name}.reshape(({tup},))")
    return [Val.array(new, nd, x.dtype)]


# ---- joins and products -----------------------------------------------------------------


@template(Join)
def _join(em, node, ins):
    ax, nd = node.op.axis, node.outputs[0].ndim
    if any(v.is_scalar or v.ndim != nd for v in ins):
        raise Unsupported("join of values of different ranks")
    total = " + ".join(f"({v.shape[ax]})" for v in ins)
    shape = [ins[0].shape[d] if d != ax else total for d in range(nd)]
    shape = em.sizes(shape)
    out = em.output(node.outputs[0], shape, node.outputs[0].dtype)
    at = "0"
    for v in ins:
        for d in range(nd):
            if d != ax:
                check_same(em, v.shape[d], shape[d], f"join: shapes differ (node created at "
                                                     f"{node.trace})")
        dst = Val(out.dtype, out.name, list(out.dims), out.fixed, list(out.shape),
                  out.base_ndim)
        a, start, step = dst.dims[ax]
        dst.dims[ax] = (a, at if start == "0" else f"{start} + {at}", step)
        dst.shape[ax] = v.shape[ax]
        assign(em, dst, v)
        at = f"{at} + ({v.shape[ax]})" if at != "0" else f"({v.shape[ax]})"
    return [out]


def _operand(em, v):
    """``(address, leading dimension or increment, transposed)`` of a matrix or vector
    view for BLAS, copying it first when BLAS cannot read it in place."""
    item = dtype_itemsize(v.dtype)
    ok = all(a is not None and step > 0 for a, _, step in v.dims)
    if ok and v.ndim == 2:
        (a0, _, s0), (a1, _, s1) = v.dims
        last = v.base_ndim - 1
        if a1 == last and s1 == 1 and a0 != last:
            return v, f"{s0} * {v.name}.strides[{a0}] // {item}", False
        if a0 == last and s0 == 1 and a1 != last:
            return v, f"{s1} * {v.name}.strides[{a1}] // {item}", True
    if ok and v.ndim == 1:
        (a0, _, s0), = v.dims
        return v, f"{s0} * {v.name}.strides[{a0}] // {item}", False
    return _operand(em, materialize(em, v)) if not v.is_whole() else None


def _invariant_matrix(v):
    """Whether ``v`` is the transpose of a whole matrix the loop takes as it is (a const
    ``k{i}`` or a constant ``q{j}``: the same at every step)."""
    return v.base_ndim == 2 and not v.fixed and v.name[0] in "kq" and v.name[1:].isdigit() \
        and v.dims == [(1, "0", 1), (0, "0", 1)]


def _transposed_once(em, v):
    """``(address, leading dimension, transpose flag)`` of the matrix ``v`` (a transposed
    const) for GEMM, from a copy transposed once before the loop when the loop has 4 steps
    or more: OpenBLAS multiplies by a stored matrix faster than by a transposed one (the
    LSTM's gradient step ``dgates @ W.T``, float32: (64, 1024) by (1024, 256) 0.35 ms
    against 0.46 on one thread, (200, 2048) by (2048, 512) 2.90 against 3.09 on two), and
    the copy costs one read of the matrix."""
    base = v.name
    name = f"{base}_t"
    item = dtype_itemsize(v.dtype)
    if name not in em.transposed:
        em.transposed.add(name)
        em.pre.extend(["if T >= 4:",
                       f"    {name} = np.ascontiguousarray({base}.T)",
                       f"    {name}_op = 111",
                       "else:",
                       f"    {name} = {base}",
                       f"    {name}_op = 112"])
    return f"{name}.ctypes.data", f"{name}.strides[0] // {item}", f"{name}_op"


def _address(v):
    return f"{v.name}.ctypes.data + {v.offset(dtype_itemsize(v.dtype))}"


@template(Dot, DotAdd, Gemm)
def _dot(em, node, ins):
    gemm = isinstance(node.op, Gemm)
    if gemm:  # Gemm(z, alpha, x, y, beta): out = beta * z, then out += alpha * x @ y
        z, alpha, a, b, z_scale = ins
        if not alpha.is_scalar or not z_scale.is_scalar:
            raise Unsupported("a gemm whose alpha or beta is not a scalar value")
    else:
        a, b = ins[:2]
    dtype = node.outputs[0].dtype
    if dtype not in ("float32", "float64") or a.dtype != dtype or b.dtype != dtype:
        raise Unsupported(f"a product of {a.dtype} and {b.dtype}")
    if a.is_scalar or b.is_scalar:
        raise Unsupported("a product with a scalar")
    if a.ndim == 1 and b.ndim == 1:
        return [templates_reduce.vector_dot(em, node, ins, dtype)]
    (va, lda, ta), (vb, ldb, tb) = _operand(em, a), _operand(em, b)
    trace = node.trace
    check_same(em, va.shape[-1], vb.shape[0], f"dot: shapes are not aligned (node created at "
                                              f"{trace})")
    out_shape = em.sizes(list(va.shape[:-1]) + list(vb.shape[1:]))
    nd = len(out_shape)
    out = em.output(node.outputs[0], out_shape, dtype)
    beta, one = "0", f"{np_dtype(dtype)}(1)"
    if gemm:
        for d, what in enumerate(("rows and x's", "columns and y's")):
            check_same(em, out_shape[d], em.sizes([z.shape[d]])[0],
                       f"gemm: z's {what} differ (node created at {trace})")
        ivars = em.loop_over(out_shape)
        em.line(f"{out.at(ivars)} = {z_scale.at([])} * {z.at(ivars)}")
        em.close(len(ivars))
        beta, one = "1", alpha.at([])
    elif isinstance(node.op, DotAdd):
        bias, bc = ins[2], list(node.inputs[2].broadcastable)
        if not bias.is_scalar and bias.ndim < nd:  # NumPy broadcasting: leading dims of 1
            pad = nd - bias.ndim
            bias = Val(bias.dtype, bias.name, [(None, "0", 1)] * pad + bias.dims, bias.fixed,
                       ["1"] * pad + bias.shape, bias.base_ndim)
            bc = [True] * pad + bc
        assign(em, out, bias, None if bias.is_scalar else bc)
        beta = "1"
    k = em.sizes([va.shape[-1]])[0]
    fn = f"_gemm_{dtype}" if nd == 2 and va.ndim == 2 else f"_gemv_{dtype}"
    em.need([f"_gemm_{dtype} = _blas.routine('gemm', '{dtype}')",
             f"_gemv_{dtype} = _blas.routine('gemv', '{dtype}')"])
    zero = f"{np_dtype(dtype)}({beta})"
    em.line(f"if {' and '.join(f'{s} > 0' for s in out_shape)}:")
    em.depth += 1
    em.line(f"if {k} == 0:")
    em.depth += 1
    if beta == "0":
        fill(em, out, f"{np_dtype(dtype)}(0)")
    else:
        em.line("pass")
    em.depth -= 1
    em.line("else:")
    em.depth += 1
    A, B, C = _address(va), _address(vb), _address(out)
    ldc = f"{out.name}.strides[{out.dims[0][0]}] // {dtype_itemsize(dtype)}"
    if va.ndim == 2 and vb.ndim == 2:
        M, N = out_shape
        trans_b = 112 if tb else 111
        if tb and _invariant_matrix(vb):
            B, ldb, trans_b = _transposed_once(em, vb)
        em.line(f"{fn}(101, {112 if ta else 111}, {trans_b}, {M}, {N}, {k}, {one}, "
                f"{A}, max({lda}, 1), {B}, max({ldb}, 1), {zero}, {C}, "
                f"max({ldc}, 1))")
    elif va.ndim == 2:  # matrix @ vector: the stored matrix, transposed or not
        M = out_shape[0]
        rows, cols = (k, M) if ta else (M, k)
        em.line(f"{fn}(101, {112 if ta else 111}, {rows}, {cols}, {one}, {A}, max({lda}, 1), "
                f"{B}, {ldb}, {zero}, {C}, 1)")
    else:  # vector @ matrix = matrix.T @ vector
        N = out_shape[0]
        rows, cols = (N, k) if tb else (k, N)
        em.line(f"{fn}(101, {111 if tb else 112}, {rows}, {cols}, {one}, {B}, max({ldb}, 1), "
                f"{A}, {lda}, {zero}, {C}, 1)")
    em.depth -= 2
    return [out]


# the templates of the other op families register themselves on import
from . import templates_index, templates_nnet, templates_reduce, templates_shape  # noqa: E402,F401
