"""Tests of minigraph.compile.ops: as_op wraps a NumPy function as an op."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.ops import AsOp, as_op
from minigraph.graph.basic import GraphError
from minigraph.graph.type import TensorType


@as_op(itypes=[T.dmatrix, T.dvector], otypes=[T.dvector])
def solve_rows(a, b):
    """NumPy's solve, outside the graph."""
    return np.linalg.solve(a, b)


@as_op(itypes=[TensorType("float32", (None,))], otypes=[T.fvector, T.lscalar])
def sort_and_count(v):
    return np.sort(v), len(v)


def test_as_op_runs_the_function_in_a_compiled_graph(rng):
    a, b = T.dmatrix("a"), T.dvector("b")
    av, bv = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal(3)
    out = solve_rows(a, b) * 2
    assert isinstance(solve_rows, AsOp) and solve_rows.__doc__.startswith("NumPy's solve")
    f = theano.function([a, b], out)
    np.testing.assert_allclose(f(av, bv), 2 * np.linalg.solve(av, bv), rtol=1e-12)
    v = T.fvector("v")
    vv = rng.standard_normal(5).astype("float32")
    s, n = sort_and_count(v)
    got_s, got_n = theano.function([v], [s, n])(vv)
    assert got_s.dtype == np.float32 and got_n.dtype == np.int64 and int(got_n) == 5
    np.testing.assert_array_equal(got_s, np.sort(vv))


def test_as_op_checks_types_and_has_no_gradient():
    with pytest.raises(GraphError, match="input 1 must be float64"):
        solve_rows(T.dmatrix(), T.fvector())
    with pytest.raises(GraphError, match="takes 2 inputs"):
        solve_rows(T.dmatrix())
    a, b = T.dmatrix("a"), T.dvector("b")
    with pytest.raises(GraphError, match="no gradient"):
        theano.grad(solve_rows(a, b).sum(), b)
    with pytest.raises(GraphError, match="not a type"):
        as_op(itypes=["float64"], otypes=[T.dvector])(len)


def test_as_op_infer_shape_and_wrong_output_count():
    @as_op(itypes=[T.dvector], otypes=[T.dvector, T.dvector],
           infer_shape=lambda node, shapes: [shapes[0], shapes[0]])
    def twice(v):
        return (v,)

    x = T.dvector("x")
    outs = twice(x)
    assert twice.infer_shape(outs[0].owner, [(3,)]) == [(3,), (3,)]
    with pytest.raises(ValueError, match="returned 1 outputs"):
        outs[0].eval({x: np.ones(2)})
