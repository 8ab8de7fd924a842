"""Tests of minigraph.tensor.nlinalg: diag, diagonal, trace, matrix_inverse, det."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad
from minigraph.tensor import nlinalg


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2), (1, 1)])
@pytest.mark.parametrize("offset", [0, 1, -1])
def test_diagonal_and_trace_match_numpy(shape, offset, rng):
    xv = rng.standard_normal(shape)
    x = T.dmatrix("x")
    for a1, a2 in [(0, 1), (1, 0)]:
        got = T.diagonal(x, offset, a1, a2).eval({x: xv})
        np.testing.assert_array_equal(got, np.diagonal(xv, offset, a1, a2))
        if np.diagonal(xv, offset, a1, a2).size:
            verify_grad(lambda a: T.diagonal(a, offset, a1, a2), [xv], rng=rng)
    np.testing.assert_array_equal(T.diag(x, offset).eval({x: xv}), np.diag(xv, offset))
    assert float(T.trace(x).eval({x: xv})) == np.trace(xv)
    verify_grad(T.trace, [xv], rng=rng)


def test_diagonal_of_a_3d_tensor_and_extract_diag(rng):
    xv = rng.standard_normal((2, 3, 3)).astype("float32")
    x = T.ftensor3("x")
    got = T.diagonal(x, 0, 1, 2).eval({x: xv})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.diagonal(xv, 0, 1, 2))
    assert nlinalg.extract_diag is T.diagonal
    with pytest.raises(GraphError, match="same axis"):
        T.diagonal(x, 0, 1, -2)
    with pytest.raises(GraphError, match="at least a matrix"):
        T.diagonal(T.fvector())


@pytest.mark.parametrize("k", [0, 2, -1])
def test_diag_of_a_vector_and_alloc_diag(k, rng):
    vv = rng.standard_normal(3)
    v = T.dvector("v")
    np.testing.assert_array_equal(T.diag(v, k).eval({v: vv}), np.diag(vv, k))
    np.testing.assert_array_equal(nlinalg.alloc_diag(v, k).eval({v: vv}), np.diag(vv, k))
    verify_grad(lambda a: T.diag(a, k), [vv], rng=rng)
    with pytest.raises(GraphError, match="vector or a matrix"):
        T.diag(T.dtensor3())
    with pytest.raises(GraphError, match="takes a matrix"):
        T.trace(v)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-4)])
@pytest.mark.parametrize("n", [1, 3])
def test_matrix_inverse_and_det(dtype, tol, n, rng):
    av = (rng.standard_normal((n, n)) + 3 * np.eye(n)).astype(dtype)
    a = T.matrix("a", dtype=dtype)
    inv, det = nlinalg.matrix_inverse(a).eval({a: av}), nlinalg.det(a).eval({a: av})
    assert inv.dtype == det.dtype == np.dtype(dtype) and det.shape == ()
    np.testing.assert_allclose(inv, np.linalg.inv(av), rtol=tol, atol=tol)
    np.testing.assert_allclose(det, np.linalg.det(av), rtol=tol)
    a64 = av.astype("float64")
    verify_grad(nlinalg.matrix_inverse, [a64], rng=rng)
    verify_grad(nlinalg.det, [a64], rng=rng)
    with pytest.raises(GraphError, match="float matrix"):
        nlinalg.det(T.imatrix())


@pytest.mark.parametrize("UPLO", ["L", "U"])
def test_eigh_matches_numpy_and_gradient(UPLO, rng):
    m = rng.standard_normal((4, 4))
    av = m + m.T + np.diag([0.0, 3.0, 6.0, 9.0])  # well separated eigenvalues
    a = T.dmatrix("a")
    w, v = nlinalg.eigh(a, UPLO)
    want_w, want_v = np.linalg.eigh(av, UPLO)
    np.testing.assert_allclose(w.eval({a: av}), want_w, rtol=1e-12)
    np.testing.assert_allclose(v.eval({a: av}), want_v, rtol=1e-12, atol=1e-12)
    # the eigenvalues and sign-free functions of the eigenvectors
    verify_grad(lambda x: nlinalg.eigh(x, UPLO)[0], [av], rng=rng)
    verify_grad(lambda x: nlinalg.eigh(x, UPLO)[1] ** 2, [av], rng=rng)
    with pytest.raises(GraphError, match="UPLO"):
        nlinalg.eigh(a, "X")


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_matrix_power_and_matrix_dot(n, rng):
    mv = rng.standard_normal((3, 3)) / 2
    m = T.dmatrix("m")
    np.testing.assert_allclose(nlinalg.matrix_power(m, n).eval({m: mv}),
                               np.linalg.matrix_power(mv, n), rtol=1e-12, atol=1e-15)
    if n:
        verify_grad(lambda x: nlinalg.matrix_power(x, n), [mv], rng=rng)
    a, b = T.dmatrices("a", "b")
    av, bv = rng.standard_normal((2, 3)), rng.standard_normal((3, 1))
    np.testing.assert_allclose(nlinalg.matrix_dot(a, m, b).eval({a: av, m: mv, b: bv}),
                               av @ mv @ bv, rtol=1e-12)
    with pytest.raises(GraphError, match="non-negative"):
        nlinalg.matrix_power(m, -1)
