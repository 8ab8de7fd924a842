"""Tests of minigraph.tensor.slinalg: cholesky, solve (all structures) and kron."""

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.gradient import verify_grad
from minigraph.tensor import slinalg


def _spd(rng, n, dtype="float64"):
    m = rng.standard_normal((n, n))
    return (m @ m.T + n * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_cholesky_matches_numpy(n, dtype, tol, rng):
    av = _spd(rng, n, dtype)
    a = T.matrix("a", dtype=dtype)
    L = slinalg.cholesky(a).eval({a: av})
    assert L.dtype == np.dtype(dtype)
    np.testing.assert_allclose(L, np.linalg.cholesky(av), rtol=tol, atol=tol)
    U = slinalg.cholesky(a, lower=False).eval({a: av})
    np.testing.assert_allclose(U, np.linalg.cholesky(av).T, rtol=tol, atol=tol)


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_gradient(lower, rng):
    av = _spd(rng, 3)
    # the raw matrix: only the triangle the factorisation reads gets a gradient
    verify_grad(lambda a: slinalg.cholesky(a, lower), [av], rng=rng)
    # through a symmetric parametrisation, as models use it
    mv = rng.standard_normal((3, 3))
    verify_grad(lambda m: slinalg.cholesky(m.dot(m.T) + 3 * T.eye(3), lower), [mv], rng=rng)


def test_cholesky_of_an_indefinite_matrix_names_the_node():
    a = T.dmatrix("a")
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        slinalg.cholesky(a).eval({a: -np.eye(2)})
    with pytest.raises(GraphError, match="float matrix"):
        slinalg.cholesky(T.dvector())


@pytest.mark.parametrize("structure", ["general", "symmetric", "lower_triangular",
                                       "upper_triangular"])
@pytest.mark.parametrize("bshape", [(3,), (3, 2)])
def test_solve_matches_numpy_and_gradients(structure, bshape, rng):
    av = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    bv = rng.standard_normal(bshape)
    dense = {"general": av, "lower_triangular": np.tril(av), "upper_triangular": np.triu(av),
             "symmetric": np.tril(av) + np.tril(av, -1).T}[structure]
    a, b = T.dmatrix("a"), T.tensor("float64", (None,) * len(bshape), name="b")
    got = slinalg.solve(a, b, A_structure=structure).eval({a: av, b: bv})
    np.testing.assert_allclose(got, np.linalg.solve(dense, bv), rtol=1e-12, atol=1e-12)
    verify_grad(lambda aa, bb: slinalg.solve(aa, bb, structure), [av, bv], rng=rng)


def test_solve_helpers_dtypes_and_errors(rng):
    av = np.tril(rng.standard_normal((2, 2))) + 3 * np.eye(2)
    bv = rng.standard_normal(2).astype("float32")
    a, b = T.dmatrix("a"), T.fvector("b")
    out = slinalg.solve_lower_triangular(a, b)
    assert out.dtype == "float64"
    np.testing.assert_allclose(out.eval({a: av, b: bv}), np.linalg.solve(av, bv), rtol=1e-12)
    np.testing.assert_allclose(slinalg.solve_upper_triangular(a.T, b).eval({a: av, b: bv}),
                               np.linalg.solve(av.T, bv), rtol=1e-12)
    np.testing.assert_allclose(slinalg.solve_symmetric(a, b).eval({a: av, b: bv}),
                               np.linalg.solve(av + np.tril(av, -1).T, bv), rtol=1e-12)
    with pytest.raises(GraphError, match="A_structure"):
        slinalg.solve(a, b, "banded")
    with pytest.raises(GraphError, match="vector or a matrix"):
        slinalg.solve(a, T.dtensor3())


@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 1)), ((1, 1), (2, 2)), ((3, 2), (1, 3))])
def test_kron(sa, sb, rng):
    av, bv = rng.standard_normal(sa), rng.standard_normal(sb)
    a, b = T.dmatrix("a"), T.dmatrix("b")
    np.testing.assert_array_equal(slinalg.kron(a, b).eval({a: av, b: bv}), np.kron(av, bv))
    verify_grad(slinalg.kron, [av, bv], rng=rng)
    with pytest.raises(GraphError, match="two matrices"):
        slinalg.kron(T.dvector(), b)
