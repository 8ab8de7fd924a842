"""Tests of minigraph.gradient: ``grad`` and its options, second derivatives, ``verify_grad``,
``zero_grad`` / ``disconnected_grad``, ``jacobian`` / ``hessian``.

Every differentiable op is checked numerically by the table in
``tests/tensor/test_grad_table.py``.
"""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.gradient import (DisconnectedInputError, GradientError, disconnected_grad,
                                verify_grad, zero_grad)
from minigraph.graph.basic import GraphError

HERE = os.path.basename(__file__)


@pytest.fixture
def rng(request):
    seed = int(os.environ.get("MINIGRAPH_TEST_SEED") or np.random.SeedSequence().entropy % 2**32)
    print(f"random seed {seed} for {request.node.name}")
    return np.random.default_rng(seed)


def test_grad_of_a_polynomial_and_its_second_derivative():
    x = T.dscalar("x")
    g = theano.grad(x ** 3 + 2 * x, x)
    assert float(g.eval({x: 2.0})) == 3 * 4 + 2
    assert float(T.grad(g, x).eval({x: 2.0})) == 6 * 2  # grad of a grad


def test_grad_wrt_a_list_returns_a_list_of_matching_types(rng):
    W, b, x = T.dmatrix("W"), T.dvector("b"), T.dvector("x")
    cost = T.sum(T.tanh(T.dot(x, W) + b) ** 2)
    gW, gb = T.grad(cost, [W, b])
    assert gW.type == W.type and gb.type == b.type
    Wv, bv, xv = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal(3)
    h = np.tanh(xv @ Wv + bv)
    delta = 2 * h * (1 - h ** 2)
    f = theano.function([W, b, x], [gW, gb])
    got_W, got_b = f(Wv, bv, xv)
    np.testing.assert_allclose(got_W, np.outer(xv, delta), rtol=1e-12)
    np.testing.assert_allclose(got_b, delta, rtol=1e-12)
    assert isinstance(T.grad(cost, (W, b)), list)


def test_gradient_keeps_float32():
    x = T.fvector("x")
    for cost in (T.sum(x ** 2), T.sum(x * 2.0), T.mean(x), T.sum(T.cast(x, "float64") ** 2)):
        assert T.grad(cost, x).dtype == "float32"


def test_shared_variables_are_differentiable():
    W = theano.shared(np.array([1.0, -2.0, 3.0]), name="W")
    assert T.grad(T.sum(W ** 2), W).eval().tolist() == [2.0, -4.0, 6.0]


def test_consider_constant_stops_the_gradient_there():
    x = T.dscalar("x")
    y = x * x
    assert float(T.grad(y * x, x, consider_constant=[y]).eval({x: 3.0})) == 9.0
    assert float(T.grad(y * x, x).eval({x: 3.0})) == 27.0


def test_zero_grad_and_disconnected_grad():
    x = T.dscalar("x")
    assert float(T.grad(zero_grad(x * x) * x, x).eval({x: 3.0})) == 9.0
    assert float(T.grad(disconnected_grad(x * x) * x, x).eval({x: 3.0})) == 9.0
    assert float((zero_grad(x) + disconnected_grad(x)).eval({x: 2.0})) == 4.0
    # zero_grad stays connected (zeros); disconnected_grad cuts the path
    assert float(T.grad(zero_grad(x * x), x).eval({x: 3.0})) == 0.0
    with pytest.raises(DisconnectedInputError):
        T.grad(disconnected_grad(x * x), x)


def test_known_grads_start_back_propagation():
    x = T.dscalar("x")
    y = x * x
    assert float(T.grad(None, x, known_grads={y: T.constant(1.0)}).eval({x: 3.0})) == 6.0
    # with a cost too, the contributions add up
    assert float(T.grad(y, x, known_grads={y: T.constant(1.0)}).eval({x: 3.0})) == 12.0
    with pytest.raises(GraphError, match="give a cost or known_grads"):
        T.grad(None, x)


def test_integer_inputs_get_no_gradient():
    x, i = T.dvector("x"), T.ivector("i")
    g = T.grad(T.sum(x * i), i, disconnected_inputs="ignore")
    assert g.eval({i: np.array([1, 2], "int32")}).tolist() == [0.0, 0.0]
    assert T.grad(T.sum(x * i), x).eval({x: np.ones(2), i: np.array([3, 4], "int32")}).tolist() \
        == [3.0, 4.0]


def test_grad_of_a_non_scalar_cost_names_the_problem_and_the_line():
    v = T.dvector("v")
    with pytest.raises(GraphError) as info:
        T.grad(v * 2, v)
    msg = str(info.value)
    assert "the cost must be a scalar, got a 1-d float64[?]" in msg and "cost.sum()" in msg
    assert f"{HERE}:" in msg


def test_grad_of_an_integer_cost_is_refused():
    i = T.ivector("i")
    with pytest.raises(GraphError, match=f"integer dtype int64.*{HERE}:"):
        T.grad(T.sum(i), i)


def test_disconnected_wrt_raises_warns_or_ignores():
    x, v = T.dscalar("x"), T.dvector("v")
    with pytest.raises(DisconnectedInputError) as info:
        T.grad(x ** 2, v)
    msg = str(info.value)
    assert "does not depend on v" in msg and "disconnected_inputs='ignore'" in msg
    assert f"{HERE}:" in msg
    with pytest.warns(UserWarning, match="does not depend on v"):
        g = T.grad(x ** 2, v, disconnected_inputs="warn")
    assert g.eval({v: np.ones(2)}).tolist() == [0.0, 0.0]
    assert T.grad(x ** 2, v, disconnected_inputs="ignore").eval({v: np.ones(3)}).tolist() \
        == [0.0] * 3
    assert T.grad(x ** 2, v, disconnected_inputs="ignore", return_disconnected="none") is None
    with pytest.raises(ValueError, match="disconnected_inputs"):
        T.grad(x ** 2, x, disconnected_inputs="maybe")
    with pytest.raises(GraphError, match=f"wrt must be symbolic variables.*{HERE}:"):
        T.grad(x ** 2, 3.0)


def test_second_derivatives_through_many_ops(rng):
    """verify_grad of a gradient checks the second derivative numerically."""
    from minigraph.tensor.nnet import categorical_crossentropy, log_softmax, softmax

    y = np.array([2, 0, 1], "int32")
    costs = [
        lambda a: T.sum(T.tanh(a) * T.exp(a / 3) + T.nnet.sigmoid(a) ** 2),
        lambda a: T.sum(T.log(a * a + 1) / T.sqrt(a * a + 2)),
        lambda a: T.prod(a) + T.var(a) + T.max(a) * T.mean(a),
        lambda a: T.sum(softmax(a) ** 2) + T.sum(log_softmax(a)[:, 0]),
        lambda a: T.sum(categorical_crossentropy(softmax(a), y)),
        lambda a: T.sum(T.dot(a, a.T) ** 2),
    ]
    for cost in costs:
        verify_grad(lambda a: T.grad(cost(a), a), [rng.standard_normal((3, 3))], rng=rng)


def test_hessian_of_cross_entropy_is_finite_and_symmetric(rng):
    from minigraph.tensor.nnet import categorical_crossentropy, softmax

    x = T.dvector("x")
    cost = T.sum(categorical_crossentropy(softmax(x), np.array([1], "int32")))
    g = T.grad(cost, x)
    H = theano.function([x], [T.grad(g[i], x) for i in range(3)])(rng.standard_normal(3))
    H = np.array(H)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    assert np.all(np.isfinite(H)) and np.allclose(H.sum(axis=1), 0, atol=1e-12)


def test_verify_grad_accepts_a_right_gradient_and_catches_a_wrong_one(rng):
    verify_grad(lambda a, b: T.tanh(a) * b, [rng.standard_normal(3), rng.standard_normal(3)],
                rng=rng)
    with pytest.raises(GradientError, match=r"gradient of input 0 \(shape \(3,\)\) disagrees"):
        verify_grad(lambda a: zero_grad(a) * a, [rng.standard_normal(3) + 2], rng=rng)
    verify_grad(lambda a: a ** 2, [np.array(1.5)], rng=rng)  # 0-d inputs work too


def test_verify_grad_in_float32(rng):
    verify_grad(lambda a: T.exp(a) * 2, [rng.standard_normal(4).astype("float32")], rng=rng)


def test_jacobian_and_hessian_use_scan(rng):
    pytest.importorskip("minigraph.scan")
    from minigraph.gradient import hessian, jacobian

    x = T.dvector("x")
    xv = rng.standard_normal(3)
    J = jacobian(T.exp(x) * x[0], x)
    want = np.diag(np.exp(xv) * xv[0])
    want[:, 0] += np.exp(xv)
    np.testing.assert_allclose(J.eval({x: xv}), want, rtol=1e-12)
    H = hessian(T.sum(x ** 3), x)
    np.testing.assert_allclose(H.eval({x: xv}), np.diag(6 * xv), rtol=1e-12)
    assert float(jacobian(T.sum(x ** 2), x).eval({x: xv})[0]) == 2 * xv[0]


def _model(W, x):
    """Two outputs of (W, x): a layer and a scalar of it (a vector and a 0-d output)."""
    h = T.tanh(T.dot(W, x)) * x[::-1]
    return [h, (h ** 2).sum() + T.exp(x).mean()]


def _numeric_model(W, x):
    h = np.tanh(W @ x) * x[::-1]
    return [h, (h ** 2).sum() + np.exp(x).mean()]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rop_is_a_jacobian_vector_product(rng, dtype):
    n = 5  # odd sizes: W is 5 x 5 (tanh(W x) * x[::-1] needs len(x) outputs)
    W, x, vW, vx = (T.tensor(dtype, s, name=k) for k, s in
                    (("W", (None, None)), ("x", (None,)), ("vW", (None, None)), ("vx", (None,))))
    outs = T.Rop(_model(W, x), [W, x], [vW, vx])
    assert [o.dtype for o in outs] == [dtype, dtype] and [o.ndim for o in outs] == [1, 0]
    f = theano.function([W, x, vW, vx], outs)
    Wv, xv = rng.normal(size=(n, n)) * 0.5, rng.normal(size=n)
    dW, dx = rng.normal(size=(n, n)), rng.normal(size=n)
    got = f(*(a.astype(dtype) for a in (Wv, xv, dW, dx)))
    eps = 1e-6  # central differences along (dW, dx), in float64
    plus, minus = _numeric_model(Wv + eps * dW, xv + eps * dx), \
        _numeric_model(Wv - eps * dW, xv - eps * dx)
    tol = 1e-7 if dtype == "float64" else 2e-3
    for g, p, m in zip(got, plus, minus):
        np.testing.assert_allclose(g, (p - m) / (2 * eps), rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lop_is_a_vector_jacobian_product(rng, dtype):
    n = 3
    W, x = T.tensor(dtype, (None, None), name="W"), T.tensor(dtype, (None,), name="x")
    v, s = T.tensor(dtype, (None,), name="v"), T.tensor(dtype, (), name="s")
    gW, gx = T.Lop(_model(W, x), [W, x], [v, s])
    f = theano.function([W, x, v, s], [gW, gx])
    Wv, xv, vv, sv = rng.normal(size=(n, n)), rng.normal(size=n), rng.normal(size=n), 0.7
    got_W, got_x = f(*(np.asarray(a, dtype) for a in (Wv, xv, vv, sv)))
    eps = 1e-6  # the cost v.h + s*scalar, differentiated numerically element by element
    cost = lambda W_, x_: vv @ _numeric_model(W_, x_)[0] + sv * _numeric_model(W_, x_)[1]
    num_W = np.zeros_like(Wv)
    for k in np.ndindex(Wv.shape):
        d = np.zeros_like(Wv)
        d[k] = eps
        num_W[k] = (cost(Wv + d, xv) - cost(Wv - d, xv)) / (2 * eps)
    num_x = np.array([(cost(Wv, xv + eps * e) - cost(Wv, xv - eps * e)) / (2 * eps)
                      for e in np.eye(n)])
    tol = 1e-6 if dtype == "float64" else 2e-3
    np.testing.assert_allclose(got_W, num_W, rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(got_x, num_x, rtol=tol * 10, atol=tol)


def test_rop_lop_single_variables_and_disconnected_outputs():
    x, y, v = T.dvector("x"), T.dvector("y"), T.dvector("v")
    jv = T.Rop(x ** 3, x, v)  # single f, single wrt: a single result
    np.testing.assert_allclose(jv.eval({x: [1.0, 2.0], v: [1.0, -1.0]}), [3.0, -12.0])
    vj = T.Lop(T.sin(x), x, v)
    np.testing.assert_allclose(vj.eval({x: [0.0, 1.0], v: [2.0, 1.0]}), [2.0, np.cos(1.0)])
    with pytest.raises(DisconnectedInputError, match="does not depend on x"):
        T.Rop([x * 2, y * 2], x, v)
    out = T.Rop([x * 2, y * 2], x, v, disconnected_outputs="ignore")
    assert out[1].eval({y: [1.0, 1.0]}).tolist() == [0.0, 0.0]
    assert T.Rop(y, x, v, disconnected_outputs="ignore", return_disconnected="None") is None
    with pytest.raises(GraphError, match="eval point for x is 2-d"):
        T.Rop(x * 2, x, T.dmatrix())


def test_grad_clip_and_grad_scale_change_only_the_gradient(rng):
    from minigraph.gradient import grad_clip, grad_scale

    x = T.dvector("x")
    xv = rng.normal(size=7) * 3
    y = grad_clip(x, -0.5, 2.0)
    assert np.array_equal(y.eval({x: xv}), xv)
    g = theano.grad((y ** 2).sum(), x)  # d/dx x^2 = 2x, clipped into [-0.5, 2]
    np.testing.assert_array_equal(g.eval({x: xv}), np.clip(2 * xv, -0.5, 2.0))
    g = theano.gradient.grad(T.sum(grad_scale(x, -3.0) ** 2), x)
    np.testing.assert_allclose(g.eval({x: xv}), -6 * xv)
    f32 = T.fvector("f")
    g = theano.grad(T.sum(grad_clip(f32 * 4, -1, 1)), f32)
    assert g.dtype == "float32" and g.eval({f32: np.ones(3, "float32")}).tolist() == [4.0] * 3
    with pytest.raises(GraphError, match="lower_bound 1 is above upper_bound -1"):
        grad_clip(x, 1, -1)
