"""Tests of minigraph.tensor.elemwise: broadcasting, shape errors, DimShuffle, unbroadcast."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.tensor.elemwise import DimShuffle, Elemwise, unbroadcast
from minigraph.tensor.scalar import SCALAR_OPS

HERE = os.path.basename(__file__)


def test_ranks_are_aligned_on_the_left_with_broadcastable_dims():
    m, v = T.dmatrix("m"), T.dvector("v")
    out = m + v
    assert out.type.shape == (None, None)
    pad = out.owner.inputs[1].owner
    assert isinstance(pad.op, DimShuffle) and pad.op.new_order == ("x", 0)
    assert (T.dscalar() + T.dtensor3()).ndim == 3


def test_static_shapes_propagate():
    a = T.tensor("float64", (3, 1))
    b = T.tensor("float64", (None, 4))
    assert (a + b).type.shape == (3, 4)
    assert (a * T.tensor("float64", (1, 1))).type.shape == (3, 1)
    assert (T.tensor("float64", (None, 1)) + T.tensor("float64", (None, None))).type.shape \
        == (None, None)


def test_static_shape_mismatch_is_a_build_time_error():
    a = T.tensor("float64", (2, 3), name="a")
    b = T.tensor("float64", (2, 4), name="b")
    with pytest.raises(GraphError) as info:
        a + b
    msg = str(info.value)
    assert "add: shapes do not broadcast in dimension 1: a float64[2,3], b float64[2,4]" in msg
    assert f"{HERE}:" in msg


def test_run_time_shape_mismatch_names_inputs_shapes_and_line():
    x, y = T.dvector("x"), T.dvector("y")
    f = theano.function([x, y], x * y)
    line = f.fgraph.toposort()[0].trace
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    msg = str(info.value)
    assert "mul: input shapes do not broadcast: x (3,), y (4,)" in msg
    assert line in msg and f"{HERE}:" in line


def test_only_broadcastable_dims_broadcast_at_run_time():
    m, w = T.dmatrix("m"), T.dmatrix("w")
    f = theano.function([m, w], m + w)
    with pytest.raises(ValueError, match="dimension 0 is not broadcastable in its type"):
        f(np.ones((3, 2)), np.ones((1, 2)))
    r = T.drow("r")
    assert theano.function([m, r], m + r)(np.ones((3, 2)), np.ones((1, 2))).shape == (3, 2)


def test_wrong_arity_is_refused():
    with pytest.raises(GraphError, match=f"add takes 2 inputs, got 3.*{HERE}:"):
        Elemwise(SCALAR_OPS["add"])(T.dscalar(), T.dscalar(), T.dscalar())


def test_op_identity_and_str():
    assert Elemwise(SCALAR_OPS["exp"]) == Elemwise(SCALAR_OPS["exp"])
    assert Elemwise(SCALAR_OPS["exp"]) != Elemwise(SCALAR_OPS["exp"], inplace=0)
    assert str(Elemwise(SCALAR_OPS["exp"], inplace=0)) == "exp{inplace}"
    assert Elemwise(SCALAR_OPS["exp"], inplace=0).destroy_map == {0: [0]}


def test_inplace_elemwise_writes_into_its_input(rng):
    x = T.dvector("x")
    node = Elemwise(SCALAR_OPS["exp"], inplace=0)(x).owner
    run = node.op.make_py_callable(node)
    a = rng.standard_normal(4)
    want = np.exp(a)
    out = run(a)
    assert out is a and np.array_equal(out, want)


def test_infer_shape():
    m, r = T.dmatrix("m"), T.drow("r")
    node = (m + r).owner
    assert node.op.infer_shape(node, [("a", "b"), (1, "c")]) == [("a", "b")]


@pytest.mark.parametrize("pattern", [(1, 0), ("x", 0, 1), (0, "x", 1), (1, "x", 0, "x")])
def test_dimshuffle_matches_numpy(pattern, rng):
    m = T.dmatrix("m")
    mv = rng.standard_normal((2, 3))
    got = m.dimshuffle(*pattern).eval({m: mv})
    axes = [p for p in pattern if p != "x"]
    want = mv.transpose(axes)
    for i, p in enumerate(pattern):
        if p == "x":
            want = np.expand_dims(want, i)
    assert np.array_equal(got, want)


def test_dimshuffle_drops_broadcastable_dims_and_returns_a_view(rng):
    r = T.drow("r")
    v = r.dimshuffle(1)
    assert v.type.shape == (None,)
    node = v.owner
    a = rng.standard_normal((1, 5))
    out = node.op.make_py_callable(node)(a)
    assert out.shape == (5,) and np.shares_memory(out, a)
    x = T.dvector("x")
    assert x.dimshuffle(0) is x  # the identity pattern adds no node


@pytest.mark.parametrize("pattern, message", [
    ((1,), "drops dimension 0 of m .* which is not broadcastable"),
    ((0, 2), "2 is not 'x' or a dimension"),
    ((0, 0), "repeats a dimension"),
])
def test_bad_dimshuffle_patterns(pattern, message):
    m = T.dmatrix("m")
    with pytest.raises(GraphError, match=f"{message}.*{HERE}:"):
        m.dimshuffle(*pattern)


def test_dimshuffle_of_the_wrong_rank():
    with pytest.raises(GraphError, match="expects a 2-d input, got 1-d"):
        DimShuffle(2, (1, 0))(T.dvector("v"))


def test_unbroadcast_sums_the_broadcast_dims(rng):
    r, m = T.drow("r"), T.dmatrix("m")
    g = unbroadcast(m, r)
    mv = rng.standard_normal((3, 4))
    np.testing.assert_allclose(g.eval({m: mv}), mv.sum(axis=0, keepdims=True), rtol=1e-14)
    assert unbroadcast(m, T.dmatrix()) is m


def test_gradient_of_a_broadcast_add_is_summed_back(rng):
    m, v, s = T.dmatrix("m"), T.dvector("v"), T.dscalar("s")
    cost = T.sum((m + v + s) * m)
    gv, gs = T.grad(cost, [v, s])
    mv = rng.standard_normal((3, 4))
    f = theano.function([m, v, s], [gv, gs])
    got_v, got_s = f(mv, np.zeros(4), 0.0)
    np.testing.assert_allclose(got_v, mv.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(got_s, mv.sum(), rtol=1e-13)


@pytest.mark.parametrize("ndim, bcast, pattern", [
    (3, (False, False, False), (2, 0, 1)), (3, (False, True, False), (2, "x", 0)),
    (2, (False, False), ("x", 0, 1)), (2, (True, False), (1,)), (2, (False, False), (0, 1)),
    (0, (), ("x", "x")), (1, (True,), ()), (2, (True, True), ("x", 1, "x")),
])
def test_dimshuffle_runner_equals_numpy_and_is_a_view(ndim, bcast, pattern, rng):
    # each runner form (a transpose only, dimensions dropped and inserted) on C-ordered,
    # Fortran-ordered and strided values: NumPy's transpose + reshape, a view
    op = DimShuffle(ndim, pattern)
    node = op.make_node(T.TensorType("float64", bcast)())
    run = op.make_py_callable(node)
    kept = [d for d in pattern if d != "x"]
    base = np.asarray(rng.standard_normal([1 if b else 3 + d for d, b in enumerate(bcast)]))
    fortran = np.asfortranarray(base) if ndim else base  # (asfortranarray makes 0-d 1-d)
    for a in (base, fortran, base[(slice(None, None, -1),) * ndim + (...,)]):
        want = a.transpose(tuple(kept) + op.dropped).reshape(
            [1 if d == "x" else a.shape[d] for d in pattern])
        got = run(a)
        assert got.shape == want.shape and got.strides == want.strides
        assert np.shares_memory(got, a) or a.size == 0
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("build, grad_of", [
    (lambda x: T.nnet.relu(x), lambda x: (x > 0).astype(float)),
    (lambda x: T.maximum(x, 0.5), lambda x: (x > 0.5).astype(float)),
    (lambda x: T.maximum(0.5, x), lambda x: (x > 0.5).astype(float)),
    (lambda x: T.minimum(x, 0.5), lambda x: (x < 0.5).astype(float)),
])
def test_max_and_min_against_a_constant_differentiate_through_their_output(build, grad_of):
    """Against a constant bound, the gradient is where the output is strictly beyond it
    (ties, here exact, get 0, as PyTorch's relu); against a variable, the input the output
    equals (ties to the first) gets it."""
    x = T.dvector("x")
    g = theano.function([x], theano.grad(build(x).sum(), x))
    xv = np.array([-1.0, 0.0, 0.25, 0.5, 0.75, 2.0])
    np.testing.assert_array_equal(g(xv), grad_of(xv))
    y = T.dvector("y")
    gx, gy = theano.function([x, y], theano.grad(T.maximum(x, y).sum(), [x, y]))(xv, xv * 0 + 0.5)
    np.testing.assert_array_equal(gx, (xv >= 0.5).astype(float))
    np.testing.assert_array_equal(gy, (xv < 0.5).astype(float))
