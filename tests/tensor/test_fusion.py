"""Elementwise fusion: the graph after the pass, values against the unfused graph on both
run paths (NumPy composite and the Numba loop), the kernel caches, gradients and errors."""

import os
import platform
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad
from minigraph.tensor import fusion
from minigraph.tensor.elemwise import Elemwise
from minigraph.tensor.fusion import FusedElemwise, Program
from minigraph.tensor.scalar import SCALAR_OPS

UNFUSED = theano.Mode().excluding("fusion")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A private on-disk kernel cache for this module's tests."""
    return str(tmp_path_factory.mktemp("fused_kernels"))


@pytest.fixture
def fresh_kernels(monkeypatch):
    """An empty in-process kernel cache, so a test that counts calls or waits for a compile
    does not meet a kernel an earlier test (or an earlier run of itself) made hot."""
    from minigraph.tensor import fused_kernels

    monkeypatch.setattr(fused_kernels, "_KERNELS", {})


@pytest.fixture
def numba_now(monkeypatch, kernel_dir):
    """Compile fused kernels on their first call (instead of once they are hot)."""
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", kernel_dir)
    monkeypatch.setattr(fusion.POLICY, "compile_after", 0)


def fused_nodes(f):
    return [n for n in f.fgraph.toposort() if isinstance(n.op, FusedElemwise)]


def elemwise_names(f):
    return [n.op.scalar_op.name for n in f.fgraph.toposort() if isinstance(n.op, Elemwise)]


def test_chain_becomes_one_node_and_matches_unfused_bitwise(rng):
    x, b = T.fmatrix("x"), T.fvector("b")
    y = T.exp(x * 2 + b) - 1
    f, g = theano.function([x, b], y), theano.function([x, b], y, mode=UNFUSED)
    (node,) = fused_nodes(f)
    assert node.op.fused_names == ["mul", "add", "exp", "sub"]
    assert elemwise_names(f) == [] and elemwise_names(g) == ["mul", "add", "exp", "sub"]
    assert str(node.op) == "Fused{mul,add,exp,sub}"
    xv, bv = rng.standard_normal((5, 4)).astype("float32"), rng.standard_normal(4).astype("float32")
    got = f(xv, bv)
    assert got.dtype == np.float32 and np.array_equal(got, g(xv, bv))  # NumPy path: same calls


def _expressions():
    """name -> (builder, input shapes); broadcasting, scalars, comparisons and switch."""
    return {
        "arith": (lambda x, r, c, s: ((x * r - c) / (abs(x) + 1) + s * x) * 0.5,
                  [(6, 5), (1, 5), (6, 1), ()]),
        "minmax": (lambda x, r, c, s: T.clip(T.maximum(x, r) - T.minimum(c, s), -1, 2) ** 2,
                   [(4, 3), (1, 3), (4, 1), ()]),
        "logic": (lambda x, r, c, s: T.switch(T.gt(x, r) & T.le(c, s), x * 3, T.sqr(r - x)) + 1,
                  [(3, 7), (1, 7), (3, 1), ()]),
        "transcend": (lambda x, r, c, s: T.log(T.exp(x) + T.sigmoid(r)) * T.sqrt(abs(c) + s * s),
                      [(5, 2), (1, 2), (5, 1), ()]),
        "activations": (lambda x, r, c, s: T.tanh(x * r) * T.sigmoid(c - x) + T.softplus(x * s)
                        + T.log1p(abs(r)) - T.expm1(x * 0.5), [(7, 3), (1, 3), (7, 1), ()]),
    }


def _inputs(dtype, shapes):
    return [T.tensor(dtype, shape=tuple(1 if n == 1 else None for n in s), name=f"i{k}")
            for k, s in enumerate(shapes)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(_expressions()))
@pytest.mark.parametrize("path", ["numpy", "numba"])
def test_fused_values_match_unfused(rng, request, dtype, name, path):
    if path == "numba":
        request.getfixturevalue("numba_now")
    build, shapes = _expressions()[name]
    ins = _inputs(dtype, shapes)
    out = build(*ins)
    f, g = theano.function(ins, out), theano.function(ins, out, mode=UNFUSED)
    assert len(fused_nodes(f)) >= 1
    vals = [rng.uniform(-2, 2, size=s).astype(dtype) for s in shapes]
    got, want = f(*vals), g(*vals)
    assert got.dtype == want.dtype and got.shape == want.shape
    if path == "numpy" or name not in ("transcend", "activations"):  # exact IEEE ops only
        np.testing.assert_array_equal(got, want)
    else:  # kernels/vecmath.py is within 4 ulp; log(~1) cancels, sums of terms cancel
        tol = 2e-6 if dtype == "float32" else 4e-15
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    if path == "numba":
        assert all(k.funcs is not None for k in fusion._KERNELS.values()
                   if k.program in {n.op.program for n in fused_nodes(f)})


def test_numba_path_handles_non_contiguous_and_zero_size(rng, numba_now):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([x, y], T.exp(x) * y + x)
    a, b = rng.standard_normal((6, 8)), rng.standard_normal((8, 6))
    np.testing.assert_allclose(f(a[::2], b.T[::2]), np.exp(a[::2]) * b.T[::2] + a[::2],
                               rtol=1e-14, atol=1e-15)  # exp: NumPy and Numba differ by an ulp
    assert f(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0, 3)


@pytest.mark.parametrize("path", ["numpy", "numba"])
def test_one_element_programs(rng, request, path):
    if path == "numba":
        request.getfixturevalue("numba_now")
    x, s = T.dtensor3("x"), T.dscalar("s")
    m = x.sum(axis=(0, 1, 2), keepdims=True)  # (1, 1, 1): every input broadcastable
    f = theano.function([x, s], [T.sqrt(abs(m) / 3.5), T.exp(s) * s - 1])
    assert len(fused_nodes(f)) == 2
    xv, sv = rng.standard_normal((2, 3, 4)), rng.standard_normal()
    a, b = f(xv, sv)
    assert a.shape == (1, 1, 1) and b.shape == ()
    np.testing.assert_allclose(a, np.sqrt(abs(xv.sum(keepdims=True)) / 3.5), rtol=1e-15)
    np.testing.assert_allclose(b, np.exp(sv) * sv - 1, rtol=1e-14, atol=1e-15)


def test_multi_output_group_is_one_node(rng):
    x = T.dvector("x")
    y = T.exp(x) + 1
    f = theano.function([x], [y * y, y])
    (node,) = fused_nodes(f)
    assert len(node.outputs) == 2 and node.op.fused_names == ["exp", "add", "mul"]
    xv = rng.standard_normal(7)
    a, b = f(xv)
    np.testing.assert_array_equal(b, np.exp(xv) + 1)
    np.testing.assert_array_equal(a, b * b)


def test_group_stays_convex_when_a_value_feeds_back_through_a_reduction(rng):
    x = T.dmatrix("x")
    y = T.exp(x)
    z = y * 2 + y.sum()  # y -> sum -> add: fusing exp into the add would make a cycle
    f = theano.function([x], z)
    (node,) = fused_nodes(f)
    assert node.op.fused_names == ["mul", "add"] and "exp" in elemwise_names(f)
    xv = rng.standard_normal((3, 4))
    np.testing.assert_allclose(f(xv), np.exp(xv) * 2 + np.exp(xv).sum(), rtol=1e-14)


def test_max_inputs_counts_each_outer_input_once(rng, monkeypatch):
    x, y, z, w = (T.fvector(name) for name in "xyzw")
    h = x
    for _ in range(4):  # x and y read 4 times each: 2 distinct inputs, 9 input slots
        h = T.tanh(h * x + y)
    monkeypatch.setattr(fusion.POLICY, "max_inputs", 3)  # x, y and the value growing in
    f = theano.function([x, y], h)
    (node,) = fused_nodes(f)
    assert len(node.op.fused_names) == 12 and elemwise_names(f) == []
    xv, yv = rng.standard_normal((2, 5)).astype("float32")
    np.testing.assert_array_equal(f(xv, yv), theano.function([x, y], h, mode=UNFUSED)(xv, yv))
    g = theano.function([x, y, z, w], (x + y) * (z + w))  # 4 distinct: one add stays apart
    (node,) = fused_nodes(g)
    assert node.op.fused_names == ["add", "mul"] and elemwise_names(g) == ["add"]


def test_what_is_not_fused():
    x, xf = T.dvector("x"), T.fvector("xf")
    assert fused_nodes(theano.function([x], x + 1)) == []  # one op: nothing to win
    f = theano.function([xf], T.sin(xf * 2) + 1)  # float32 sin: NumPy's SIMD loop is 6x faster
    assert "sin" in elemwise_names(f) and all("sin" not in n.op.fused_names
                                              for n in fused_nodes(f))
    for v in (x, xf):  # tanh runs kernels/vecmath.py's vectorisable loop: fused
        g = theano.function([v], T.tanh(v * 2) + 1)
        assert fused_nodes(g)[0].op.fused_names == ["mul", "tanh", "add"]
    assert fused_nodes(theano.function([x], T.exp(x) + 1, mode=UNFUSED)) == []


def test_profile_reports_the_fusion_rewrite():
    x = T.dvector("x")
    f = theano.function([x], T.exp(x * 2) + 1, profile=True)
    count, seconds = f.profile.rewrite_stats["fusion"]
    assert count == 1 and seconds >= 0
    assert "fusion x1" in f.profile.summary(file=open(os.devnull, "w"))


def test_second_compile_reuses_the_compiled_kernel(rng, numba_now):
    x = T.fvector("x")
    expr = T.sqrt(abs(x) * 3 + 0.5) - x  # a program no other test builds
    f1 = theano.function([x], expr)
    xv = rng.standard_normal(10).astype("float32")
    f1(xv)
    kernel = fusion._kernel(fused_nodes(f1)[0].op.program, 1)
    before = (kernel.funcs, [len(fn.signatures) for fn in kernel.funcs if fn is not None])
    f2 = theano.function([x], T.sqrt(abs(x) * 3 + 0.5) - x)
    np.testing.assert_array_equal(f2(xv), f1(xv))
    assert fusion._kernel(fused_nodes(f2)[0].op.program, 1) is kernel
    assert (kernel.funcs, [len(fn.signatures) for fn in kernel.funcs if fn is not None]) == before


def test_kernels_are_compiled_only_once_hot(rng, monkeypatch, kernel_dir):
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", kernel_dir)
    monkeypatch.setattr(fusion.POLICY, "compile_after", 10_000)
    monkeypatch.setattr(fusion.POLICY, "background", False)
    x = T.dvector("x")
    f = theano.function([x], (x + 7.5) * x - 0.25)
    kernel = fusion._kernel(fused_nodes(f)[0].op.program, 1)
    xv = rng.standard_normal(2000)
    f(xv)  # 2000 elements x 3 ops: still cold, NumPy ran it
    assert kernel.funcs is None and kernel.work == 6000
    f(xv)
    assert kernel.funcs is not None  # 12000 >= 10000: compiled
    np.testing.assert_array_equal(f(xv), (xv + 7.5) * xv - 0.25)


def test_numba_failure_falls_back_to_numpy_with_a_warning(rng, monkeypatch, fresh_kernels):
    monkeypatch.setattr(fusion.POLICY, "compile_after", 0)

    def broken(source):
        raise ImportError("no numba here")

    monkeypatch.setattr(fusion, "_load", broken)
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 5.25 + x * 0.5)
    xv = rng.standard_normal(4)
    with pytest.warns(RuntimeWarning, match="no numba here"):
        got = f(xv)
    np.testing.assert_array_equal(got, np.exp(xv) * 5.25 + xv * 0.5)


def test_disk_cache_serves_a_new_process(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, minigraph as theano, minigraph.tensor as T
        from minigraph.tensor import fusion
        fusion.POLICY.compile_after = 0
        x = T.dvector("x")
        f = theano.function([x], T.exp(x * 0.5) + x)
        assert np.allclose(f(np.arange(3.0)), np.exp(np.arange(3.0) * 0.5) + np.arange(3.0))
        info = fusion.kernel_cache_info()
        print(info["disk_hits"], info["disk_misses"])
    """)
    env = dict(os.environ, MINIGRAPH_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=120) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stdout.split() == ["0", "1"]  # compiled and written
    assert runs[1].stdout.split() == ["1", "0"]  # loaded from disk
    assert len(list((tmp_path / "fusion").glob("minigraph_fused_*.py"))) == 1


def test_runtime_shape_mismatch_names_input_and_line(numba_now):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([x, y], T.exp(x) * y + 1)
    with pytest.raises(ValueError, match=r"input y has shape \(2, 3\).*created at .*test_fusion"):
        f(np.ones((2, 4)), np.ones((2, 3)))


def _direct_fused_op():
    """A two-output program: sigmoid(x * r) * x + r, and sigmoid(x * r); r is a row."""
    full, row = ("float64", (False, False)), ("float64", (True, False))
    S = SCALAR_OPS
    steps = [(S["mul"], (0, 1), "float64"), (S["sigmoid"], (2,), "float64"),
             (S["mul"], (3, 0), "float64"), (S["add"], (4, 1), "float64")]
    return FusedElemwise(Program([full, row], steps, [5, 3]))


def test_fused_op_gradient_by_finite_differences(rng):
    from minigraph.tensor.shape import specify_shape

    op = _direct_fused_op()

    def fun(x, r):
        a, b = op(x, specify_shape(r, (1, None)))
        return a + 3 * b

    verify_grad(fun, [rng.standard_normal((3, 4)), rng.standard_normal((1, 4))], rng=rng)


def test_fused_op_perform_is_the_numpy_composite(rng):
    op = _direct_fused_op()
    x0, r0 = rng.standard_normal((3, 4)), rng.standard_normal((1, 4))
    node = op.make_node(T.dmatrix("x"), T.drow("r"))
    cells = [[None], [None]]
    op.perform(node, [x0, r0], cells)
    s = SCALAR_OPS["sigmoid"].np_fn(x0 * r0)
    np.testing.assert_array_equal(cells[1][0], s)
    np.testing.assert_array_equal(cells[0][0], s * x0 + r0)


def test_fused_op_checks_its_inputs():
    op = _direct_fused_op()
    with pytest.raises(GraphError, match="takes 2 inputs"):
        op(T.dmatrix("a"))
    with pytest.raises(GraphError, match=r"input 1 \(b\) is float64\[\?,\?\]"):
        op(T.dmatrix("a"), T.dmatrix("b"))


def test_generated_source_has_one_loop_per_layout():
    row, full = ("float32", (True, False)), ("float32", (False, False))
    add, exp = SCALAR_OPS["add"], SCALAR_OPS["exp"]
    prog = Program([full, full], [(add, (0, 1), "float32"), (exp, (2,), "float32")], [3])
    src = fusion.kernel_source(prog, 2)
    assert "def flat(" in src and "def nd(" in src
    # one call of kernels/vecmath.py's float32 exp, never libm's scalar math.exp
    assert "t1 = _vm32_exp(t0)" in src and "math.exp" not in src
    prog = Program([full, row], [(add, (0, 1), "float32"), (exp, (2,), "float32")], [3])
    src = fusion.kernel_source(prog, 2)
    assert "def flat(" not in src and "v1 = x1[0, i1]" in src


@pytest.mark.parametrize("path", ["numpy", "numba"])
def test_integer_and_boolean_programs_are_exact(rng, request, path):
    if path == "numba":
        request.getfixturevalue("numba_now")
    a, b = T.ivector("a"), T.ivector("b")
    ints = (a * 3 + b) // 4 % 5 - abs(b)
    flags = T.xor(T.gt(a, b), T.le(a, 0)) | T.eq(b, 2)
    mixed = T.cast(flags, "float64") * T.sqrt(T.cast(abs(a), "float64")) + T.floor(a / 3)
    f = theano.function([a, b], [ints, mixed])
    g = theano.function([a, b], [ints, mixed], mode=UNFUSED)
    assert len(fused_nodes(f)) == 2
    av, bv = (rng.integers(-10, 10, size=30).astype("int32") for _ in range(2))
    for got, want in zip(f(av, bv), g(av, bv)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_small_kernels_called_often_are_compiled(rng, monkeypatch, kernel_dir, fresh_kernels):
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", kernel_dir)
    for name, value in (("compile_after", 1e12), ("compile_after_calls", 5),
                        ("background", False)):
        monkeypatch.setattr(fusion.POLICY, name, value)
    x = T.fvector("x")
    f = theano.function([x], T.tanh(x * 1.5) * x + 0.125)
    kernel = fusion._kernel(fused_nodes(f)[0].op.program, 1)
    xv = rng.standard_normal(257).astype("float32")
    for _ in range(4):  # 4 calls of ~1,000 element-operations: still NumPy
        f(xv)
    assert kernel.funcs is None and kernel.calls == 4
    got = f(xv)  # the 5th call compiles and runs the loop
    assert kernel.funcs is not None and kernel.calls == 5
    np.testing.assert_allclose(got, np.tanh(xv * 1.5) * xv + 0.125, rtol=2e-6, atol=1e-7)


def test_background_compile_serves_numpy_until_ready(rng, monkeypatch, kernel_dir,
                                                     fresh_kernels):
    import threading

    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", kernel_dir)
    monkeypatch.setattr(fusion.POLICY, "compile_after", 1)  # hot on the first call
    monkeypatch.setattr(fusion.POLICY, "background", True)
    release, real_load = threading.Event(), fusion._load

    def slow_load(source):  # the compile thread waits until the test lets it go on
        assert release.wait(30)
        return real_load(source)

    monkeypatch.setattr(fusion, "_load", slow_load)
    x, y = T.dmatrix("x"), T.drow("y")
    expr = T.sigmoid(x - y) * T.log1p(abs(x)) + T.exp(-y)
    f, g = theano.function([x, y], expr), theano.function([x, y], expr, mode=UNFUSED)
    kernel = fusion._kernel(fused_nodes(f)[0].op.program, 2)
    xv, yv = rng.standard_normal((9, 5)), rng.standard_normal((1, 5))
    for _ in range(3):  # the first call starts the compile; the composite answers, bitwise
        np.testing.assert_array_equal(f(xv, yv), g(xv, yv))
        assert kernel.funcs is None and fusion.kernel_cache_info()["compiling"] >= 1
    release.set()
    fusion.wait_for_compiles(60)
    assert kernel.funcs is not None and kernel.pending is None
    np.testing.assert_allclose(f(xv, yv), g(xv, yv), rtol=4e-15, atol=4e-16)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threaded_split_equals_serial(rng, monkeypatch, numba_now, dtype):
    import numba

    x, s = T.vector("x", dtype=dtype), T.scalar("s", dtype=dtype)
    f = theano.function([x, s], T.tanh(x) * s + T.softplus(x) - T.exp(x * s) * x)
    n = 3 * 4096 + 17  # not a multiple of the split
    xv, sv = rng.standard_normal(n).astype(dtype), np.asarray(0.75, dtype)
    monkeypatch.setattr(fusion.POLICY, "parallel_min_elements", 1 << 40)
    serial = f(xv, sv)
    monkeypatch.setattr(fusion.POLICY, "parallel_min_elements", 1000)
    threads = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        assert fusion.parallel_threads(n) == (0 if numba.get_num_threads() == 1 else 2)
        threaded = f(xv, sv)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(serial, threaded)
    flat = fusion._kernel(fused_nodes(f)[0].op.program, 1).funcs[0]
    for parts, size in ((3, n), (5, 70), (4, 1)):  # the split itself, any thread count
        out = np.full(size, np.nan, dtype)
        fusion.run_split(flat, [xv[:size], sv[()], out], [0, 2], size, parts)
        np.testing.assert_array_equal(out, serial[:size])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vecmath_kernels_on_empty_and_0d_inputs(rng, numba_now, dtype):
    x, s = T.vector("x", dtype=dtype), T.scalar("s", dtype=dtype)
    outs = [T.tanh(x) * T.sigmoid(x) + T.log1p(abs(x)), T.softplus(s) - T.expm1(s) * T.exp(s)]
    f, g = theano.function([x, s], outs), theano.function([x, s], outs, mode=UNFUSED)
    assert len(fused_nodes(f)) == 2
    for n in (0, 1, 13):
        xv, sv = rng.standard_normal(n).astype(dtype), np.asarray(rng.standard_normal(), dtype)
        for got, want in zip(f(xv, sv), g(xv, sv)):
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=4e-6 if dtype == "float32" else 1e-14,
                                       atol=1e-7 if dtype == "float32" else 1e-15)


# ---- the in-place variant: output 0 written into a dying input, one parameter ----------


def test_inplace_variant_source_stores_into_the_input():
    full, one = ("float32", (False, False)), ("float32", (True, True))
    add, exp = SCALAR_OPS["add"], SCALAR_OPS["exp"]
    prog = Program([full, one], [(add, (0, 1), "float32"), (exp, (2,), "float32")], [3])
    src = fusion.kernel_source(prog, 2, inplace=0)
    assert "def flat(x0, x1):" in src and "def nd(x0, x1):" in src and "o0" not in src
    assert "x0[i] = t1" in src and "x0[i0, i1] = t1" in src and "= x0.shape" in src
    assert src != fusion.kernel_source(prog, 2)  # its own file in the disk cache
    with pytest.raises(ValueError, match="input 1 is broadcast"):
        fusion.kernel_source(prog, 2, inplace=1)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 mnemonics")
def test_inplace_variant_vectorises():
    import numba

    full, one = ("float32", (False,)), ("float32", (True,))
    add, mul = SCALAR_OPS["add"], SCALAR_OPS["mul"]
    prog = Program([full, one], [(mul, (0, 1), "float32"), (add, (2, 0), "float32")], [3])
    module = {}
    exec(fusion.kernel_source(prog, 1, inplace=0), module)  # not from a cache: inspectable
    flat = numba.njit(error_model="numpy")(module["flat"])
    x = np.arange(37, dtype=np.float32)
    want = x * np.float32(3) + x
    flat(x, np.float32(3))
    np.testing.assert_array_equal(x, want)
    asm = flat.inspect_asm(flat.signatures[0])
    assert re.search(r"\bv?mulps\b", asm)  # packed: the loop is vectorised (scalar: mulss)


@pytest.mark.parametrize("shape, layout", [((37,), "c"), ((6, 5), "c"), ((6, 5), "f"),
                                           ((6, 5), "strided"), ((), "c")])
def test_inplace_runner_every_layout_equals_numpy(rng, numba_now, shape, layout):
    # the runner's paths (1-d arrays passed as they are, flat views of n-d arrays, the
    # n-d loop for non-contiguous ones, 0-d), in place or not, and a one-element input
    # that is a view into the overwritten array (read before the loop: the write may go
    # ahead); exact against NumPy: one mul and one sub per element
    full, one = ("float32", (False,) * len(shape)), ("float32", (True,) * len(shape))
    mul, sub = SCALAR_OPS["mul"], SCALAR_OPS["sub"]
    prog = Program([full, one, full], [(mul, (2, 1), "float32"), (sub, (0, 3), "float32")],
                   [4])
    node = FusedElemwise(prog, inplace=0 if shape else None).make_node(
        *[T.TensorType("float32", shape=(1 if b else None for b in bc))() for _, bc in
          prog.in_types])
    run = node.op.make_py_callable(node)

    def value():
        v = rng.standard_normal((12, 10) if layout == "strided" else shape).astype("float32")
        return v[::2, ::2] if layout == "strided" else np.asfortranarray(v) \
            if layout == "f" else v

    for _ in range(2):
        p, g = value(), value()
        lr = np.full((1,) * len(shape), 0.5, "float32")
        want = p - g * lr
        got = run(p, lr, g)
        assert got.dtype == np.float32 and got.shape == shape
        np.testing.assert_array_equal(got, want)
        if shape:  # lr a view of an element of p, which is overwritten
            p = value()
            lr = p[(slice(0, 1),) * len(shape)]
            want = p - g * lr.copy()
            np.testing.assert_array_equal(run(p, lr, g), want)


@pytest.mark.parametrize("shape", [(37,), (6, 5), (1, 1)])
def test_fast_runner_overlapping_inputs_and_two_outputs_equal_numpy(rng, numba_now, shape):
    """The generated fast path (fusion._fast_runner) of an in-place, two-output program:
    an input that is the overwritten array itself, one that overlaps it shifted by one
    element (the kernel must then write a new array), and strided inputs (the general
    runner), all exact against NumPy."""
    full, one = ("float64", (False,) * len(shape)), ("float64", (True,) * len(shape))
    mul, sub, add = SCALAR_OPS["mul"], SCALAR_OPS["sub"], SCALAR_OPS["add"]
    prog = Program([full, one, full], [(mul, (2, 1), "float64"), (sub, (0, 3), "float64"),
                                       (add, (0, 2), "float64")], [4, 5])
    node = FusedElemwise(prog, inplace=0).make_node(
        *[T.TensorType("float64", shape=(1 if b else None for b in bc))() for _, bc in
          prog.in_types])
    run = node.op.make_py_callable(node)
    assert run.__code__.co_filename == "<minigraph fused runner>"
    lr = np.full((1,) * len(shape), 0.25)
    size = int(np.prod(shape))
    for case in ("separate", "same", "shifted", "strided"):
        for _ in range(2):  # the first call may compile
            if case == "shifted":
                base = rng.standard_normal(size + 1)
                p, g = base[:-1].reshape(shape), base[1:].reshape(shape)
            elif case == "strided":
                p = rng.standard_normal((2 * shape[0],) + shape[1:])[::2]
                g = rng.standard_normal(shape)
            else:
                p = rng.standard_normal(shape)
                g = p if case == "same" else rng.standard_normal(shape)
            want = (p - g * lr, p + g)
            got = run(p, lr, g)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b, err_msg=case)
