"""Tests for ``MultinomialFromUniform`` and ``ChoiceFromUniform``: given uniforms, the
samples match a plain loop over rows; probabilities are checked; shapes and dtypes."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.sandbox.multinomial import ChoiceFromUniform, MultinomialFromUniform


def _first_above(p_row, u):
    """Theano's rule: the first category whose cumulative probability exceeds u."""
    total = 0.0
    for m, pm in enumerate(p_row):
        total += pm
        if total > u:
            return m
    return int(np.flatnonzero(p_row)[-1])  # rounding left u past the end


def _pvals(rng, rows, k, dtype, zeros=True):
    p = rng.random((rows, k)) ** 3
    if zeros and k > 2:
        p[:, rng.integers(k)] = 0.0  # a category that must never come out
    return (p / p.sum(axis=1, keepdims=True)).astype(dtype)


def _run(op, p, unis, n):
    out = [[None]]
    op.perform(None, [p, unis, np.int64(n)], out)
    return out[0][0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows,k,n", [(1, 1, 1), (5, 3, 1), (4, 7, 3), (3, 2, 0)])
def test_multinomial_counts_match_a_loop(rng, dtype, rows, k, n):
    p = _pvals(rng, rows, k, dtype)
    unis = rng.random(rows * n).astype(dtype)
    counts = _run(MultinomialFromUniform("int32"), p, unis, n)
    expect = np.zeros((rows, k), dtype=np.int32)
    for c in range(n):
        for r in range(rows):
            expect[r, _first_above(p[r].astype(np.float64), unis[c * rows + r])] += 1
    assert counts.dtype == np.int32
    np.testing.assert_array_equal(counts, expect)


def test_rounding_never_picks_a_category_of_zero_probability():
    p = np.array([[0.5, 0.5 - 5e-7, 0.0]])  # sums to 1 - 5e-7, within the tolerance
    counts = _run(MultinomialFromUniform(), p, np.array([0.9999999]), 1)
    np.testing.assert_array_equal(counts, [[0, 1, 0]])


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("rows,k,size", [(1, 3, 3), (4, 6, 2), (2, 5, 1), (3, 4, 0)])
def test_choice_matches_a_loop(rng, replace, rows, k, size):
    p = _pvals(rng, rows, k, "float64", zeros=replace)
    unis = rng.random(rows * size)
    picks = _run(ChoiceFromUniform("int64", replace), p, unis, size)
    assert picks.shape == (rows, size) and picks.dtype == np.int64
    for r in range(rows):
        q = p[r].copy()
        for c in range(size):  # without replacement: drop the pick, renormalise the rest
            m = _first_above(q / q.sum(), unis[c * rows + r])
            assert picks[r, c] == m
            if not replace:
                q[m] = 0.0
        if not replace:
            assert len(set(picks[r])) == size


def test_bad_probabilities_are_refused_when_run():
    op = MultinomialFromUniform()
    with pytest.raises(ValueError, match=r"row 1 sums to 0.9"):
        _run(op, np.array([[0.5, 0.5], [0.3, 0.6]]), np.array([0.1, 0.2]), 1)
    with pytest.raises(ValueError, match="non-negative"):
        _run(op, np.array([[1.5, -0.5]]), np.array([0.1]), 1)
    with pytest.raises(ValueError, match="need 4 uniforms"):
        _run(op, np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0.1, 0.2]), 2)
    choice = ChoiceFromUniform()
    with pytest.raises(ValueError, match="row 0 of p has 2 categories of non-zero"):
        _run(choice, np.array([[0.5, 0.5, 0.0]]), np.array([0.1, 0.2, 0.3]), 3)


def test_graph_building_checks():
    unis = T.dvector("u")
    with pytest.raises(GraphError, match=r"row 0 sums to 1.1.*test_multinomial.py"):
        MultinomialFromUniform()(T.constant(np.array([[0.6, 0.5]])), unis, 1)
    with pytest.raises(GraphError, match="float matrix"):
        MultinomialFromUniform()(T.dvector(), unis, 1)
    with pytest.raises(GraphError, match="int scalar"):
        MultinomialFromUniform()(T.dmatrix(), unis, 1.5)
    p3 = T.tensor("float64", (None, 3))
    with pytest.raises(GraphError, match="4 samples without replacement from 3"):
        ChoiceFromUniform()(p3, unis, 4)
    out = ChoiceFromUniform("int32")(p3, unis, 2)
    assert out.type.shape == (None, 2) and out.dtype == "int32"


def test_in_a_compiled_function_with_symbolic_probabilities(rng):
    p, u = T.dmatrix("p"), T.dvector("u")
    counts = MultinomialFromUniform()(p, u, 2)
    picks = ChoiceFromUniform()(p, u, 2)
    f = theano.function([p, u], [counts, picks])
    pv, uv = _pvals(rng, 3, 4, "float64", zeros=False), rng.random(6)
    c, k = f(pv, uv)
    np.testing.assert_array_equal(c.sum(axis=1), [2, 2, 2])
    np.testing.assert_array_equal(c, _run(MultinomialFromUniform(), pv, uv, 2))
    np.testing.assert_array_equal(k, _run(ChoiceFromUniform(), pv, uv, 2))
    with pytest.raises(ValueError, match="(?s)sums to.*created at .*test_multinomial.py"):
        f(pv * 2, uv)  # the error names the line that built the node
