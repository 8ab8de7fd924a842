"""In-place and buffer reuse: which nodes overwrite which input (the graph after the pass),
values against the graph without the pass, and that nothing the user holds (inputs,
outputs, shared values, views) is ever overwritten."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.tensor import fusion
from minigraph.tensor.elemwise import Elemwise
from minigraph.tensor.fusion import FusedElemwise

NO_FUSION = theano.Mode().excluding("fusion")
PLAIN = theano.Mode().excluding("fusion", "inplace")


@pytest.fixture
def numba_now(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    monkeypatch.setattr(fusion.POLICY, "compile_after", 0)


def inplace_of(f):
    """[(scalar op or 'fused', index of the overwritten input)] in schedule order."""
    out = []
    for n in f.fgraph.toposort():
        if isinstance(n.op, (Elemwise, FusedElemwise)) and n.op.inplace is not None:
            name = n.op.scalar_op.name if isinstance(n.op, Elemwise) else "fused"
            out.append((name, n.op.inplace))
    return out


def test_dying_intermediate_is_overwritten_never_the_input(rng):
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) + 1, mode=NO_FUSION)
    assert inplace_of(f) == [("add", 0)]  # exp's result dies at add; x is the user's
    (node,) = [n for n in f.fgraph.toposort() if n.op.scalar_op.name == "add"]
    assert node.op.destroy_map == {0: [0]} and str(node.op) == "add{inplace}"
    xv = rng.standard_normal(5)
    keep = xv.copy()
    np.testing.assert_array_equal(f(xv), np.exp(keep) + 1)
    np.testing.assert_array_equal(xv, keep)


def test_switched_off_by_name():
    x = T.dvector("x")
    assert inplace_of(theano.function([x], T.exp(x) + 1, mode=PLAIN)) == []
    f = theano.function([x], T.exp(x) * 2 + 1, mode=theano.Mode().excluding("reuse_buffers"))
    assert not any(n.op.reuse for n in f.fgraph.toposort() if isinstance(n.op, FusedElemwise))
    g = theano.function([x], T.sum(T.exp(x) * 2 + 1))
    assert all(n.op.reuse for n in g.fgraph.toposort() if isinstance(n.op, FusedElemwise))


def test_results_handed_out_do_not_come_from_the_workspace():
    # outputs and new shared values outlive the call: a kept block would sit idle for a call
    x = T.dvector("x")
    acc = theano.shared(np.zeros(3), name="acc")
    f = theano.function([x], T.exp(x) * 2 + 1, updates={acc: T.exp(acc) * 2 + x})
    fused = [n for n in f.fgraph.toposort() if isinstance(n.op, FusedElemwise)]
    assert len(fused) == 2 and not any(n.op.reuse for n in fused)


def test_value_read_later_or_returned_is_not_overwritten(rng):
    x = T.dvector("x")
    y = T.exp(x)
    z = y + 1
    f = theano.function([x], [z * y, y], mode=NO_FUSION)  # y: read by mul and returned
    assert inplace_of(f) == [("mul", 0)]  # only z, which dies at mul
    g = theano.function([x], z * y, mode=NO_FUSION)
    assert inplace_of(g) == [("mul", 0)]  # add must not overwrite y: mul reads it later
    xv = rng.standard_normal(6)
    a, b = f(xv)
    np.testing.assert_array_equal(b, np.exp(xv))
    np.testing.assert_array_equal(a, (np.exp(xv) + 1) * np.exp(xv))
    np.testing.assert_array_equal(g(xv), a)


def test_views_and_shared_values_are_never_overwritten(rng):
    x = T.dmatrix("x")
    s = theano.shared(rng.standard_normal((3, 3)), name="s")
    y = T.exp(x)
    f = theano.function([x], (y.T + 1) * y + s * 2, mode=NO_FUSION)
    # y has a view (y.T), so neither y.T + 1 nor the product may overwrite it; s * 2 reads
    # a shared value; only y.T + 1 (dying at the product) and the product itself are free
    assert inplace_of(f) == [("mul", 0), ("add", 0)]
    for n in f.fgraph.toposort():
        if isinstance(n.op, Elemwise) and n.op.inplace is not None:
            victim = n.inputs[n.op.inplace]
            assert victim.owner is not None and not victim.owner.op.view_map
    s_keep, xv = s.get_value(), rng.standard_normal((3, 3))
    want = (np.exp(xv).T + 1) * np.exp(xv) + s_keep * 2
    for _ in range(2):
        np.testing.assert_allclose(f(xv), want, rtol=1e-15)
    np.testing.assert_array_equal(s.get_value(), s_keep)


def test_same_buffer_in_two_slots_and_non_ufunc_rows(rng):
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * T.exp(x), mode=NO_FUSION)  # merge: one exp, read twice
    assert inplace_of(f) == [("mul", 0)]
    xv = rng.standard_normal(4)
    np.testing.assert_array_equal(f(xv), np.exp(xv) * np.exp(xv))
    g = theano.function([x], T.sigmoid(T.exp(x)), mode=NO_FUSION)  # sigmoid is no ufunc
    assert inplace_of(g) == []


@pytest.mark.parametrize("path", ["numpy", "numba"])
def test_fused_node_overwrites_a_dying_product(rng, request, path):
    if path == "numba":
        request.getfixturevalue("numba_now")
    a, b = T.dmatrix("a"), T.dmatrix("b")
    y = T.dot(a, b)
    f = theano.function([a, b], T.exp(y * 0.5) - y)
    assert inplace_of(f) == [("fused", 0)]
    av, bv = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    keep = av.copy(), bv.copy()
    want = np.exp(av @ bv * 0.5) - av @ bv
    np.testing.assert_allclose(f(av, bv), want, rtol=1e-14)
    np.testing.assert_array_equal(av, keep[0])
    np.testing.assert_array_equal(bv, keep[1])


def test_kept_buffer_is_reused_only_when_nobody_holds_it(rng, numba_now, monkeypatch):
    from kernels.workspace import SHARED

    monkeypatch.setattr(SHARED, "min_bytes", 0)  # these small outputs go through it too
    x = T.dvector("x")
    # the fused result dies in the call, but the user gets a view of it (every other element)
    f = theano.function([x], (T.exp(x) * 0.5 + x)[::2])
    assert all(n.op.reuse for n in f.fgraph.toposort() if isinstance(n.op, FusedElemwise))
    xs = [rng.standard_normal(1000) for _ in range(4)]
    r0 = f(xs[0])
    r1 = f(xs[1])  # r0 is held: a second buffer
    first, second = r0.copy(), r1.copy()
    np.testing.assert_allclose(r0, (np.exp(xs[0]) * 0.5 + xs[0])[::2], rtol=1e-13, atol=1e-15)
    assert not np.shares_memory(r0, r1)
    r2 = f(xs[2])  # both kept buffers are held: a third one
    assert not np.shares_memory(r2, r0) and not np.shares_memory(r2, r1)
    np.testing.assert_array_equal(r0, first)  # untouched by the later calls
    view = r1[::2]
    freed = {r.__array_interface__["data"][0] for r in (r0, r2)}
    del r0, r2
    r3 = f(xs[3])  # a free kept buffer is written again ...
    assert r3.__array_interface__["data"][0] in freed
    np.testing.assert_array_equal(r3, f(xs[3].copy()).copy())
    np.testing.assert_array_equal(view, second[::2])  # ... never one a view holds
    np.testing.assert_array_equal(r1, second)


def test_updates_with_reuse_keep_every_value_right(rng, numba_now):
    x = T.dvector("x")
    acc = theano.shared(np.zeros(50), name="acc")
    f = theano.function([x], [], updates={acc: T.exp(acc * 0.01) * 0.5 + x})
    held, want = [], np.zeros(50)
    for _ in range(5):
        xv = rng.standard_normal(50)
        f(xv)
        want = np.exp(want * 0.01) * 0.5 + xv
        held.append((acc.get_value(borrow=True), want.copy()))
    for got, expected in held:  # every value ever handed out is still what it was
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_a_view_of_a_dying_buffer_is_overwritten_when_every_alias_dies(rng):
    x = T.dvector("x")
    y = T.exp(x)
    f = theano.function([x], T.reshape(y, (2, 3)) + 1, mode=NO_FUSION)
    assert inplace_of(f) == [("add", 0)]  # y and its reshaped view both die at add
    xv = rng.standard_normal(6)
    keep = xv.copy()
    np.testing.assert_array_equal(f(xv), np.exp(xv).reshape(2, 3) + 1)
    np.testing.assert_array_equal(xv, keep)
    g = theano.function([x], [T.reshape(y, (2, 3)) + 1, y], mode=NO_FUSION)
    assert inplace_of(g) == []  # y is returned: its view must not be written


def test_two_aliases_read_by_one_node_are_never_overwritten(rng):
    x = T.dmatrix("x")
    y = T.exp(x)
    f = theano.function([x], y + y.T, mode=NO_FUSION)  # writing y would change y.T's elements
    assert inplace_of(f) == []
    xv = rng.standard_normal((3, 3))
    np.testing.assert_array_equal(f(xv), np.exp(xv) + np.exp(xv).T)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_kernel_writes_into_its_input_only_when_it_may(rng, numba_now, monkeypatch, dtype):
    import numba

    a, b, z = (T.matrix(name, dtype=dtype) for name in "abz")
    s = T.scalar("s", dtype=dtype)
    y = T.dot(a, b)
    f = theano.function([a, b, z, s], T.exp(y * s) * z - y)
    (node,) = [n for n in f.fgraph.toposort() if isinstance(n.op, FusedElemwise)]
    k = node.op.inplace
    assert [type(v.owner.op).__name__ if v.owner else v.name for v in node.inputs] == \
        ["Dot", "DimShuffle", "z"] and k == 0  # (the product, s as a 1x1, z)
    run = fusion._make_runner(node.op, node)  # the node's runner, fed arrays we hold

    def call(yv, zv):
        sv = np.full((1, 1), 0.5, dtype)
        want = np.exp(yv * sv) * zv - yv
        return run(yv, sv, zv), want

    base = rng.standard_normal((9, 31)).astype(dtype)
    zv = rng.standard_normal((9, 31)).astype(dtype)
    tol = dict(rtol=4e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-14, atol=1e-14)
    strided = np.zeros((18, 31), dtype)[::2]
    strided[...] = base
    for yv in (base.copy(), np.asfortranarray(base), strided):  # the flat loop, then nd
        got, want = call(yv, zv)
        assert got is yv  # written into the destroyable input itself
        np.testing.assert_allclose(got, want, **tol)
    monkeypatch.setattr(fusion.POLICY, "parallel_min_elements", 1)
    threads = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:  # the in-place loop on slices of the input (run_split), where 2 threads exist
        yv = base.copy()
        got, want = call(yv, zv)
    finally:
        numba.set_num_threads(threads)
    assert got is yv
    np.testing.assert_allclose(got, want, **tol)
    read_only = base.copy()
    read_only.flags.writeable = False
    for yv, zv_ in ((read_only, zv), (base.copy(), None)):
        zv_ = yv[::-1, ::-1] if zv_ is None else zv_  # shares memory with the other input
        keep = yv.copy()
        got, want = call(yv, zv_)
        assert got is not yv and not np.may_share_memory(got, yv)
        np.testing.assert_array_equal(yv, keep)  # never overwritten
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["flat", "nd"])
def test_inplace_variant_matches_the_composite(rng, numba_now, dtype, layout):
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    s, r = T.scalar("s", dtype=dtype), T.vector("r", dtype=dtype)
    y = T.dot(a, b)
    shift = s if layout == "flat" else r.dimshuffle("x", 0)  # a partly broadcast row: nd
    h = T.tanh(y) * s  # an output and read on: a two-output node
    outs = [h + T.exp(y * shift) - y, h]
    ins = [a, b, s] + ([r] if layout == "nd" else [])
    f, g = theano.function(ins, outs), theano.function(ins, outs, mode=NO_FUSION)
    (node,) = [n for n in f.fgraph.toposort() if isinstance(n.op, FusedElemwise)]
    assert node.op.inplace is not None and len(node.outputs) == 2
    for m, k, n in ((7, 3, 13), (1, 2, 1), (3, 5, 1001)):
        shapes = [(m, k), (k, n), (), (n,)][:len(ins)]
        args = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
        for got, want in zip(f(*args), g(*args)):
            np.testing.assert_allclose(got, want, rtol=4e-6 if dtype == "float32" else 1e-14,
                                       atol=1e-6 if dtype == "float32" else 1e-14)
    ran = fusion._kernel(node.op.program, 2, node.op.inplace).funcs[layout == "nd"]
    assert ran.signatures  # the in-place variant served the calls
