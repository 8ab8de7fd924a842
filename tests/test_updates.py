"""Tests for ``minigraph.updates``: every rule's first steps against a NumPy
re-implementation (float32 and float64), state dtypes, clipping, and error messages."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph import updates as U
from minigraph.graph.basic import GraphError


def _seed():
    seed = int(np.random.SeedSequence().entropy % 2**31)
    print(f"seed={seed}")
    return seed


# ---- NumPy references: step(params, grads, state) -> new params; state is a dict ---------

def np_sgd(ps, gs, st, lr=0.1):
    return [p - lr * g for p, g in zip(ps, gs)]


def np_momentum(ps, gs, st, lr=0.1, mu=0.9):
    vs = st.setdefault("v", [np.zeros_like(p) for p in ps])
    for i, g in enumerate(gs):
        vs[i] = mu * vs[i] - lr * g
    return [p + v for p, v in zip(ps, vs)]


def np_nesterov(ps, gs, st, lr=0.1, mu=0.9):
    vs = st.setdefault("v", [np.zeros_like(p) for p in ps])
    for i, g in enumerate(gs):
        vs[i] = mu * vs[i] - lr * g
    return [p + mu * v - lr * g for p, v, g in zip(ps, vs, gs)]


def np_adagrad(ps, gs, st, lr=0.1, eps=1e-6):
    acc = st.setdefault("a", [np.zeros_like(p) for p in ps])
    for i, g in enumerate(gs):
        acc[i] = acc[i] + g ** 2
    return [p - lr * g / np.sqrt(a + eps) for p, g, a in zip(ps, gs, acc)]


def np_rmsprop(ps, gs, st, lr=0.01, rho=0.9, eps=1e-6):
    acc = st.setdefault("a", [np.zeros_like(p) for p in ps])
    for i, g in enumerate(gs):
        acc[i] = rho * acc[i] + (1 - rho) * g ** 2
    return [p - lr * g / np.sqrt(a + eps) for p, g, a in zip(ps, gs, acc)]


def np_adam(ps, gs, st, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    # Kingma & Ba's "more efficient" ordering (Algorithm 1, section 2), as Lasagne writes it
    st["t"] = t = st.get("t", 0) + 1
    ms = st.setdefault("m", [np.zeros_like(p) for p in ps])
    vs = st.setdefault("v", [np.zeros_like(p) for p in ps])
    a_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    for i, g in enumerate(gs):
        ms[i] = b1 * ms[i] + (1 - b1) * g
        vs[i] = b2 * vs[i] + (1 - b2) * g ** 2
    return [p - a_t * m / (np.sqrt(v) + eps) for p, m, v in zip(ps, ms, vs)]


RULES = {
    "sgd": (lambda l, p: U.sgd(l, p, learning_rate=0.1), np_sgd),
    "momentum": (lambda l, p: U.momentum(l, p, learning_rate=0.1, momentum=0.9), np_momentum),
    "nesterov": (lambda l, p: U.nesterov_momentum(l, p, 0.1, momentum=0.9), np_nesterov),
    "adagrad": (lambda l, p: U.adagrad(l, p, learning_rate=0.1), np_adagrad),
    "rmsprop": (lambda l, p: U.rmsprop(l, p, learning_rate=0.01), np_rmsprop),
    "adam": (lambda l, p: U.adam(l, p, learning_rate=0.01), np_adam),
}


def _quadratic(dtype, rng):
    """Shared params W (2,3) and b (3,), the loss 0.5 * sum(a * (p - c)**2), its gradient."""
    values = [rng.standard_normal((2, 3)), rng.standard_normal(3)]
    scales = [rng.uniform(0.5, 2.0, v.shape) for v in values]
    centres = [rng.standard_normal(v.shape) for v in values]
    params = [theano.shared(v.astype(dtype), name=n) for v, n in zip(values, "Wb")]
    loss = sum(0.5 * T.sum(T.constant(a.astype(dtype)) * (p - c.astype(dtype)) ** 2)
               for p, a, c in zip(params, scales, centres))

    def np_grads(ps):
        return [a * (p - c) for p, a, c in zip(ps, scales, centres)]

    return params, loss, [v.astype(dtype).astype("float64") for v in values], np_grads


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_first_three_steps_match_numpy(rule, dtype):
    rng = np.random.default_rng(_seed())
    build, reference = RULES[rule]
    params, loss, ps, np_grads = _quadratic(dtype, rng)
    updates = build(loss, params)
    step = theano.function([], loss, updates=updates)
    state = {}
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == "float32" else dict(rtol=1e-11, atol=1e-12)
    for _ in range(3):
        step()
        ps = reference(ps, np_grads(ps), state)
        for p, expect in zip(params, ps):
            got = p.get_value()
            assert got.dtype == dtype
            np.testing.assert_allclose(got, expect, **tol)
    for shared_var, new_value in updates.items():  # optimizer state keeps the dtype too
        assert shared_var.dtype == dtype and new_value.dtype == dtype
        assert shared_var.get_value().dtype == dtype


def test_loss_decreases_and_grads_list_equals_loss():
    rng = np.random.default_rng(_seed())
    params, loss, _, _ = _quadratic("float64", rng)
    start = [p.get_value() for p in params]
    by_loss = theano.function([], loss, updates=U.adam(loss, params, learning_rate=0.05))
    losses = [float(by_loss()) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    after_loss = [p.get_value() for p in params]
    for p, v in zip(params, start):
        p.set_value(v)
    grads = theano.grad(loss, params)
    by_grads = theano.function([], loss, updates=U.adam(grads, params, learning_rate=0.05))
    for _ in range(30):
        by_grads()
    for p, v in zip(params, after_loss):
        np.testing.assert_allclose(p.get_value(), v, rtol=1e-12)


def test_symbolic_hyper_parameters_and_mixed_dtypes():
    w32 = theano.shared(np.ones(3, dtype="float32"), name="w32")
    w64 = theano.shared(np.ones(2), name="w64")
    lr = T.dscalar("lr")  # float64: cast down for the float32 parameter, not upcast
    loss = T.sum(w32 ** 2) + T.sum(w64 ** 2)
    updates = U.adam(loss, [w32, w64], learning_rate=lr)
    assert all(k.dtype == v.dtype for k, v in updates.items())
    t_var = [k for k in updates if k.name == "adam_t"][0]
    assert t_var.dtype == "float64"
    f = theano.function([lr], loss, updates=updates)
    f(0.1)
    # Adam's first step moves every coordinate by about the learning rate
    np.testing.assert_allclose(w32.get_value(), 0.9, rtol=1e-5)
    np.testing.assert_allclose(w64.get_value(), 0.9, rtol=1e-6)
    assert w32.get_value().dtype == np.float32 and float(t_var.get_value()) == 1.0


def test_state_is_named_after_params():
    w = theano.shared(np.zeros(2, dtype="float32"), name="W")
    names = sorted(k.name for k in U.adam(T.sum(w ** 2), [w]))
    assert names == ["W", "W.adam_m", "W.adam_v", "adam_t"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_total_norm_constraint(dtype):
    rng = np.random.default_rng(_seed())
    values = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    xs = [T.tensor(dtype, (None,) * v.ndim) for v in values]
    norm = np.sqrt(sum((v.astype("float64") ** 2).sum() for v in values))
    for max_norm in (0.5 * norm, 2.0 * norm):
        scaled, got_norm = U.total_norm_constraint(xs, max_norm, return_norm=True)
        f = theano.function(xs, scaled + [got_norm])
        *outs, n = f(*values)
        factor = min(max_norm, norm) / (norm + 1e-7)
        rtol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(float(n), norm, rtol=rtol)
        for out, v in zip(outs, values):
            assert out.dtype == dtype
            np.testing.assert_allclose(out, v * factor, rtol=rtol, atol=rtol)
        new_norm = np.sqrt(sum((o.astype("float64") ** 2).sum() for o in outs))
        np.testing.assert_allclose(new_norm, min(max_norm, norm), rtol=1e-5)
    zeros = theano.function(xs, U.total_norm_constraint(xs, 1.0))(
        *[np.zeros_like(v) for v in values])
    assert all(np.all(z == 0) for z in zeros)  # epsilon avoids 0 / 0


def test_clip_gradients():
    rng = np.random.default_rng(_seed())
    g32 = T.fmatrix("g32")
    g64 = T.dvector("g64")
    v32 = (3 * rng.standard_normal((4, 5))).astype("float32")
    v64 = 3 * rng.standard_normal(6)
    both = theano.function([g32, g64], U.apply_clip([g32, g64], -1.5, 0.5))(v32, v64)
    sym = theano.function([g32, g64], U.clip_gradients([g32, g64], 1.0))(v32, v64)
    assert both[0].dtype == np.float32 and sym[0].dtype == np.float32
    np.testing.assert_array_equal(both[0], np.clip(v32, np.float32(-1.5), np.float32(0.5)))
    np.testing.assert_array_equal(both[1], np.clip(v64, -1.5, 0.5))
    np.testing.assert_array_equal(sym[1], np.clip(v64, -1.0, 1.0))


def test_clip_then_update_pipeline():
    w = theano.shared(np.full(4, 10.0, dtype="float32"), name="w")
    grads = U.total_norm_constraint(theano.grad(T.sum(w ** 2), [w]), max_norm=1.0)
    theano.function([], updates=U.sgd(grads, [w], learning_rate=1.0))()
    # grad = 20 per entry (norm 40), rescaled to norm 1: each entry moves by 20 / 40
    np.testing.assert_allclose(w.get_value(), 9.5, rtol=1e-6)


def test_errors():
    w = theano.shared(np.zeros(3), name="w")
    x = T.dvector("x")
    loss = T.sum((w - x) ** 2)
    with pytest.raises(GraphError, match="not a shared tensor variable"):
        U.sgd(loss, [x], 0.1)
    with pytest.raises(GraphError, match="list of shared variables"):
        U.sgd(loss, w, 0.1)
    with pytest.raises(GraphError, match="2 gradients for 1 params"):
        U.adam([x, x], [w])
    with pytest.raises(GraphError, match="loss must be a scalar"):
        U.rmsprop((w - x) ** 2, [w])
    with pytest.raises(GraphError, match="gradient 0 is 0-d"):
        U.sgd([T.dscalar()], [w], 0.1)
    with pytest.raises(GraphError, match="learning_rate must be a scalar"):
        U.sgd(loss, [w], T.dvector())
    with pytest.raises(GraphError, match="learning_rate must be a number"):
        U.sgd(loss, [w], "fast")
    with pytest.raises(GraphError, match="only float"):
        U.sgd(loss, [theano.shared(np.zeros(3, dtype="int64"))], 0.1)
    with pytest.raises(GraphError, match="max_norm must be positive"):
        U.total_norm_constraint([x], 0.0)
    with pytest.raises(GraphError, match="must not exceed"):
        U.apply_clip([x], 1.0, -1.0)
