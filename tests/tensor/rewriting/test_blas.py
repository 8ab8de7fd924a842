"""Tests of minigraph.tensor.rewriting.blas, the "gemm" rule: dot(x, W) + b -> DotAdd, same
values, switchable off."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.tensor.blas import DotAdd


def _ops(f):
    return [type(n.op).__name__ for n in f.fgraph.toposort()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_plus_bias_becomes_dotadd(dtype):
    seed = np.random.SeedSequence().entropy % 2**32
    print("seed", seed)
    rng = np.random.default_rng(seed)
    x, W, b = T.matrix("x", dtype=dtype), T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype)
    y = T.tanh(T.dot(x, W) + b)
    f = theano.function([x, W, b], y)
    assert "DotAdd" in _ops(f) and "Dot" not in _ops(f)
    # the bias vector goes in as it is, not made a row by a DimShuffle node first
    dotadd = next(n for n in f.fgraph.toposort() if isinstance(n.op, DotAdd))
    assert "DimShuffle" not in _ops(f) and dotadd.inputs[2].name == "b"
    xv, Wv, bv = (rng.normal(size=s).astype(dtype) for s in [(5, 4), (4, 3), (3,)])
    np.testing.assert_allclose(f(xv, Wv, bv), np.tanh(xv @ Wv + bv), rtol=1e-5)


def test_gemm_rewrite_can_be_switched_off_and_respects_other_readers():
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b")
    d = T.dot(x, W)
    f_off = theano.function([x, W, b], d + b, mode=theano.Mode().excluding("gemm"))
    assert "DotAdd" not in _ops(f_off)
    # the product is also an output: rewriting would compute it twice, so it must not fire
    f_both = theano.function([x, W, b], [d + b, d])
    assert "DotAdd" not in _ops(f_both)
    rng = np.random.default_rng(0)
    xv, Wv, bv = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    r1, r2 = f_both(xv, Wv, bv)
    np.testing.assert_allclose(r1, xv @ Wv + bv)
    np.testing.assert_allclose(r2, xv @ Wv)


def test_dotadd_gradient_matches_unfused():
    rng = np.random.default_rng(1)
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b")
    cost = T.sum(T.tanh(T.dot(x, W) + b) ** 2)
    grads = theano.grad(cost, [x, W, b])
    f = theano.function([x, W, b], grads)
    g = theano.function([x, W, b], grads, mode=theano.Mode().excluding("gemm"))
    vals = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)
    for a, e in zip(f(*vals), g(*vals)):
        np.testing.assert_allclose(a, e, rtol=1e-12)


def test_dotadd_own_gradient_by_finite_differences():
    from minigraph.gradient import verify_grad

    def build(x, W, b):
        return DotAdd()(x, W, b)

    rng = np.random.default_rng(2)
    verify_grad(build, [rng.normal(size=(3, 2)), rng.normal(size=(2, 4)), rng.normal(size=4)],
                rng=rng)


# ---- Gemm: z -+ a * dot(x, y) in one BLAS call ----------------------------------------------


def _seeded():
    seed = np.random.SeedSequence().entropy % 2**32
    print("seed", seed)
    return np.random.default_rng(seed)


@pytest.fixture(params=["numpy", "blas"])
def gemm_path(request, monkeypatch):
    """Each Gemm test runs on NumPy's expression (the kernel not compiled yet) and on the
    compiled BLAS kernel."""
    from minigraph.codegen import blas as cblas

    if request.param == "numpy":
        monkeypatch.setattr(cblas, "gemm_kernel", lambda dtype: None)
    else:
        if not cblas.available():
            pytest.skip("no CBLAS symbols in NumPy's BLAS")
        cblas.warm_gemm()
    return request.param


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgd_update_becomes_one_gemm_and_keeps_the_old_value(gemm_path, dtype):
    rng = _seeded()
    x, g, lr = T.matrix("x", dtype=dtype), T.matrix("g", dtype=dtype), T.scalar("lr", dtype)
    W0 = rng.normal(size=(7, 5)).astype(dtype)
    W = theano.shared(W0.copy(), name="W")
    f = theano.function([x, g, lr], [], updates=[(W, W - lr * T.dot(x.T, g))])
    assert "Gemm" in _ops(f) and "Dot" not in _ops(f)
    old = W.get_value(borrow=True)
    xv, gv = rng.normal(size=(3, 7)).astype(dtype), rng.normal(size=(3, 5)).astype(dtype)
    f(xv, gv, 0.1)
    np.testing.assert_allclose(W.get_value(), W0 - dtype_(dtype)(0.1) * (xv.T @ gv),
                               rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)
    np.testing.assert_array_equal(old, W0)  # the old value was copied, not overwritten


def dtype_(dtype):
    return np.dtype(dtype).type


@pytest.mark.parametrize("build, expect", [
    (lambda z, x, y, a: z - a * T.dot(x, y), lambda z, x, y, a: z - a * (x @ y)),
    (lambda z, x, y, a: T.dot(x, y) * a + z, lambda z, x, y, a: z + a * (x @ y)),
    (lambda z, x, y, a: z + 0.5 * T.dot(x, y), lambda z, x, y, a: z + 0.5 * (x @ y)),
    (lambda z, x, y, a: z - T.dot(x, y), lambda z, x, y, a: z - x @ y),
])
def test_gemm_forms_equal_numpy(gemm_path, build, expect):
    rng = _seeded()
    z, x, y, a = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y"), T.dscalar("a")
    f = theano.function([z, x, y, a], build(z, x, y, a), on_unused_input="ignore")
    assert "Gemm" in _ops(f) and "Dot" not in _ops(f)
    vals = rng.normal(size=(4, 6)), rng.normal(size=(4, 3)), rng.normal(size=(3, 6)), 0.7
    np.testing.assert_allclose(f(*vals), expect(*vals), rtol=1e-12, atol=1e-12)


def test_gemm_rule_leaves_what_it_cannot_take():
    z, x, y, a, v = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y"), T.dscalar("a"), \
        T.dvector("v")
    d = T.dot(x, y)
    for outs in ([z - a * d, d],  # the product is read again
                 [z - v * d],  # a vector, not a scalar
                 [v - a * d],  # z broadcast over rows: not gemm's z
                 [z - a * d, a * d]):  # the scaled product is read again
        f = theano.function([z, x, y, a, v], outs, on_unused_input="ignore")
        assert "Gemm" not in _ops(f), outs
    off = theano.function([z, x, y, a], z - a * d, mode=theano.Mode().excluding("gemm"))
    assert "Gemm" not in _ops(off)


def test_gemm_overwrites_an_intermediate_that_dies_there(gemm_path):
    rng = _seeded()
    z, x, y = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([z, x, y], T.tanh(z) - 0.25 * T.dot(x, y))
    gemm = [n.op for n in f.fgraph.toposort() if type(n.op).__name__ == "Gemm"]
    assert [str(op) for op in gemm] == ["Gemm{inplace}"]
    zv, xv, yv = rng.normal(size=(5, 4)), rng.normal(size=(5, 2)), rng.normal(size=(2, 4))
    np.testing.assert_allclose(f(zv, xv, yv), np.tanh(zv) - 0.25 * (xv @ yv), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_runner_takes_every_layout(gemm_path, dtype):
    """C- and F-contiguous operands, column slices, reversed rows, one row or column, an
    empty inner dimension, an empty result; in place and not; alpha and beta not 1."""
    from minigraph.tensor.blas import Gemm

    rng = _seeded()
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)

    def mat(m, n):
        return rng.normal(size=(m, n)).astype(dtype)

    layouts = {"c": lambda m, n: mat(m, n), "f": lambda m, n: mat(n, m).T,
               "cols": lambda m, n: mat(m, n + 3)[:, 1:n + 1],
               "reversed": lambda m, n: mat(m, n)[::-1],
               "strided": lambda m, n: mat(m, 2 * n)[:, ::2]}
    sizes = [(4, 3, 5), (1, 3, 5), (4, 1, 5), (4, 3, 1), (4, 0, 5), (0, 3, 5), (1, 1, 1)]
    for inplace in (False, True):
        zs, xs, ys = (T.matrix(n, dtype=dtype) for n in "zxy")
        a, b = T.scalar("a", dtype), T.scalar("b", dtype)
        node = Gemm(inplace).make_node(zs, a, xs, ys, b)
        run = node.op.make_py_callable(node)
        for (m, k, n) in sizes:
            for lx in layouts:
                for ly in ("c", "f", "cols"):
                    x, y, z = layouts[lx](m, k), layouts[ly](k, n), mat(m, n)
                    alpha, beta = np.asarray(-0.3, dtype), np.asarray(1.5, dtype)
                    want = beta * z + alpha * (x.astype("float64") @ y.astype("float64"))
                    z_in = z.copy()
                    got = run(z_in, alpha, x, y, beta)
                    np.testing.assert_allclose(got, want, **tol, err_msg=f"{lx} {ly} {m, k, n}")
                    assert got.dtype == dtype and got.shape == (m, n)
                    if not inplace:
                        np.testing.assert_array_equal(z_in, z)  # z left as it was
                    elif m and n:
                        assert got is z_in


def test_gemm_shape_error_names_the_line_and_keeps_the_shared_value():
    x, g, lr = T.dmatrix("x"), T.dmatrix("g"), T.dscalar("lr")
    W = theano.shared(np.ones((3, 4)), name="W")
    f = theano.function([x, g, lr], [], updates=[(W, W - lr * T.dot(x.T, g))])
    with pytest.raises(ValueError, match="test_blas.py"):
        f(np.ones((2, 3)), np.ones((2, 5)), 0.1)  # the product is (3, 5), W (3, 4)
    np.testing.assert_array_equal(W.get_value(), np.ones((3, 4)))
