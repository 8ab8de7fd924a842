"""Tests of minigraph.scan.grad: BPTT against finite differences for every way a value enters
a loop, truncated gradients, second derivatives, random draws, and what is kept."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.mode import FAST_RUN
from minigraph.gradient import disconnected_grad, verify_grad
from minigraph.graph.basic import toposort
from minigraph.scan.op import Scan
from minigraph.tensor.shared_randomstreams import RandomStreams

# every check runs with the scan rewrites and without them
MODES = [FAST_RUN, FAST_RUN.excluding("scan")]


def _rnn(x, h0, W, **kw):
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)), sequences=x,
                        outputs_info=h0, non_sequences=W, **kw)
    return hs


@pytest.mark.parametrize("mode", MODES, ids=["rewrites", "plain"])
def test_rnn_gradient_wrt_sequence_initial_state_and_non_sequence(rng, mode):
    pt = [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(3, 3)) * 0.5]
    verify_grad(_rnn, pt, rng=rng, mode=mode)


def test_go_backwards_gradient(rng):
    pt = [rng.normal(size=(4, 2)), rng.normal(size=2), rng.normal(size=(2, 2))]
    verify_grad(lambda x, h, W: _rnn(x, h, W, go_backwards=True), pt, rng=rng)


@pytest.mark.parametrize("mode", MODES, ids=["rewrites", "plain"])
def test_sequence_taps_and_multi_tap_output_gradient(rng, mode):
    def f(x, y0, w):
        ys, _ = theano.scan(lambda xm2, x0, ym2, ym1, w: T.tanh(xm2 * w + x0 * ym1) + 0.5 * ym2,
                            sequences=dict(input=x, taps=[-2, 0]),
                            outputs_info=dict(initial=y0, taps=[-2, -1]), non_sequences=w)
        return ys

    pt = [rng.normal(size=(7, 2)), rng.normal(size=(2, 2)), rng.normal(size=2)]
    verify_grad(f, pt, rng=rng, mode=mode)


def test_implicit_free_variable_gradient(rng):
    def f(x, W):  # W reaches the loop without being passed
        hs, _ = theano.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=x,
                            outputs_info=T.zeros((2,), "float64"))
        return hs

    verify_grad(f, [rng.normal(size=(4, 2)), rng.normal(size=(2, 2))], rng=rng)


def test_implicit_shared_variable_gradient_matches_finite_differences(rng):
    Wv = rng.normal(size=(3, 3)) * 0.5
    W = theano.shared(Wv.copy(), name="W")
    x = T.dmatrix("x")
    hs, _ = theano.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=x,
                        outputs_info=T.zeros((3,), "float64"))
    cost = (hs ** 2).sum()
    xv = rng.normal(size=(5, 3))
    g = theano.function([x], theano.grad(cost, W))(xv)
    f = theano.function([x], cost)
    num = np.zeros_like(Wv)
    for i in np.ndindex(*Wv.shape):
        for sign in (1, -1):
            Wp = Wv.copy()
            Wp[i] += sign * 1e-6
            W.set_value(Wp)
            num[i] += sign * f(xv) / 2e-6
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES, ids=["rewrites", "plain"])
def test_per_step_outputs_and_an_unused_output(rng, mode):
    def f(x, h0, W, V):
        def step(x_t, h, W, V):
            h = T.tanh(T.dot(x_t, W) + h)
            return h, T.nnet.softmax(T.dot(h, V)).flatten(), h.sum()

        (hs, ps, unused), _ = theano.scan(step, sequences=x, outputs_info=[h0, None, None],
                                          non_sequences=[W, V])
        return T.log(ps)[:, 0] + hs[:, 1]  # the third output is not used

    pt = [rng.normal(size=(4, 3)), rng.normal(size=2), rng.normal(size=(3, 2)),
          rng.normal(size=(2, 4))]
    verify_grad(f, pt, rng=rng, mode=mode)


def test_an_unused_carry_trace_gives_the_backward_loop_no_sequence_of_zeros(rng):
    """Only the per-step output reaches the cost (fast.ai's lesson-6 RNN): the carry's
    trace gets ``grad``'s zeros, a 0-d zero broadcast by a DimShuffle, which the backward
    loop must not read as a sequence (one more argument and add per step). Its gradients
    still match finite differences."""
    def step(x_t, h, W, V):
        h = T.nnet.relu(T.dot(x_t, W) + T.dot(h, W.T[:2, :2]))
        return h, T.nnet.softmax(T.dot(h, V)).flatten()

    def cost(x, h0, W, V):
        (_, ps), _ = theano.scan(step, sequences=x, outputs_info=[h0, None],
                                 non_sequences=[W, V])
        return T.log(ps)[:, 0]

    x, h0, W, V = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W"), T.dmatrix("V")
    f = theano.function([x, h0, W, V], theano.grad(cost(x, h0, W, V).sum(), [W, V]))
    backward = [n for n in f.fgraph.toposort()
                if isinstance(n.op, Scan) and n.op.name == "grad_of_scan"]
    assert len(backward) == 1
    names = [ph.name or "" for ph in backward[0].op.seq_placeholders()]
    assert not any(n.startswith("d ") and "output 0" in n for n in names), names
    pt = [rng.normal(size=(5, 2)), rng.normal(size=2), rng.normal(size=(2, 2)) + 1.0,
          rng.normal(size=(2, 4))]
    verify_grad(cost, pt, rng=rng)


def test_truncate_gradient_longer_than_the_loop_against_finite_differences(rng):
    pt = [rng.normal(size=(4, 2)), rng.normal(size=2), rng.normal(size=(2, 2))]
    verify_grad(lambda x, h, W: _rnn(x, h, W, truncate_gradient=4), pt, rng=rng)


def test_truncate_gradient_at_least_n_steps_is_the_full_gradient(rng):
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    full = theano.grad(_rnn(x, h0, W).sum(), [x, h0, W])
    trunc = theano.grad(_rnn(x, h0, W, truncate_gradient=9).sum(), [x, h0, W])
    vals = [rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=(3, 3))]
    got = theano.function([x, h0, W], full + trunc)(*vals)
    for a, b in zip(got[:3], got[3:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES, ids=["rewrites", "plain"])
def test_truncate_gradient_stops_after_k_steps_back(rng, mode):
    n, k = 7, 3
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    hs = _rnn(x, h0, W, truncate_gradient=k)
    gx, gh0, gW = theano.grad(hs[-1].sum(), [x, h0, W])
    full_gx = theano.grad(_rnn(x, h0, W)[-1].sum(), x)
    # the same last k steps restarted from a state that lets no gradient through
    restart = _rnn(x[n - k:], disconnected_grad(hs[n - k - 1]), W)
    ref_gW = theano.grad(restart[-1].sum(), W)
    vals = [rng.normal(size=(n, 3)), rng.normal(size=3), rng.normal(size=(3, 3))]
    got = theano.function([x, h0, W], [gx, gh0, gW, full_gx, ref_gW], mode=mode)(*vals)
    gx_v, gh0_v, gW_v, full_v, ref_v = got
    np.testing.assert_array_equal(gx_v[: n - k], 0)
    np.testing.assert_allclose(gx_v[n - k:], full_v[n - k:], rtol=1e-12)
    np.testing.assert_array_equal(gh0_v, 0)
    np.testing.assert_allclose(gW_v, ref_v, rtol=1e-10, atol=1e-12)


def test_second_derivative_through_scan(rng):
    W = T.constant(rng.normal(size=(2, 2)) * 0.7)

    def grad_of_cost(h0, V):
        hs, _ = theano.scan(lambda h, W, V: T.tanh(T.dot(h, W) * V), outputs_info=h0,
                            non_sequences=[W, V], n_steps=4)
        return T.concatenate(theano.grad((hs ** 2).sum(), [h0, V]))

    # verify_grad differentiates the gradient: the Hessian through the backward scan
    verify_grad(grad_of_cost, [rng.normal(size=2), rng.normal(size=2)], rng=rng)


def test_gradient_through_random_draws_uses_the_drawn_values(rng):
    srng = RandomStreams(seed=int(rng.integers(2 ** 31)))
    x, w = T.dvector("x"), T.dscalar("w")

    def step(x_t, h, w):
        z = srng.normal((), dtype="float64")
        return h * w + x_t * z, z

    (hs, zs), updates = theano.scan(step, sequences=x,
                                    outputs_info=[T.constant(1.0, dtype="float64"), None],
                                    non_sequences=w)
    g = theano.grad(hs.sum(), w)
    f = theano.function([x, w], [hs, zs, g], updates=updates)
    xv, wv = rng.normal(size=5), 0.7
    hv, zv, gv = f(xv, wv)
    h, dh, total = 1.0, 0.0, 0.0  # forward-mode derivative of the same recurrence
    for t in range(5):
        h, dh = h * wv + xv[t] * zv[t], dh * wv + h
        total += dh
    np.testing.assert_allclose(hv[-1], h)
    np.testing.assert_allclose(gv, total)
    assert not np.array_equal(f(xv, wv)[1], zv)  # the next call draws new values


def test_relu_rnn_float32_gradient_with_and_without_rewrites(rng):
    """Regression: the backward step must not compare a stored ``maximum(x, 0)`` with a
    recomputed ``x`` (the last bit differs between a hoisted GEMM and a per-step dot)."""
    V, H, n = 7, 16, 6
    ws = [(rng.normal(size=s) * 0.5).astype("float32") for s in [(H, H), (H,), (V, H), (V,)]]
    x, h0 = T.fmatrix("x"), T.fvector("h0")
    W_h, b_h, W_y, b_y = [T.tensor("float32", (None,) * w.ndim, name=f"w{i}")
                          for i, w in enumerate([ws[0], ws[1], ws[2].T, ws[3]])]
    W_x = T.fmatrix("W_x")

    def step(x_t, h, W_h, b_h, W_x, W_y, b_y):
        h = T.nnet.relu(T.dot(x_t, W_x) + T.dot(h, W_h) + b_h)
        # log_softmax, not log(softmax): in float32 a probability that underflows to 0 made
        # the gradients NaN in about 5% of seeds, and NaN compares equal in assert_allclose
        return h, T.nnet.log_softmax(T.dot(h, W_y) + b_y).flatten()

    (hs, ys), _ = theano.scan(step, sequences=x, outputs_info=[h0, None],
                              non_sequences=[W_h, b_h, W_x, W_y, b_y])
    y = T.fmatrix("y")
    cost = -(ys * y).sum()
    params = [W_h, b_h, W_x, W_y, b_y]
    grads = theano.grad(cost, params)
    ins = [x, y, h0] + params
    vals = [np.eye(V, dtype="float32")[rng.integers(0, V, n)],
            np.eye(V, dtype="float32")[rng.integers(0, V, n)], np.zeros(H, "float32"),
            ws[0], ws[1], ws[2], (rng.normal(size=(H, V)) * 0.5).astype("float32"), ws[3]]
    a = theano.function(ins, grads)(*vals)
    b = theano.function(ins, grads, mode=FAST_RUN.excluding("scan"))(*vals)
    for ga, gb in zip(a, b):
        assert np.all(np.isfinite(ga))
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-4)


def test_backward_keeps_only_the_carry_traces(rng):
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    hs = _rnn(x, h0, W)
    f = theano.function([x, h0, W], theano.grad(hs.sum(), [x, h0, W]),
                        mode=FAST_RUN.excluding("scan"))
    scans = [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)]
    forward, backward = scans
    assert forward.op.n_ys == 0 and len(forward.outputs) == 1  # the trace of h, nothing more
    assert backward.op.name == "grad_of_scan"
    # the backward loop reads the trace twice (h[t-1], and h[t] for tanh's gradient) and the
    # output's gradient, as views; x itself is not needed and nothing else was stored
    assert backward.op.n_seqs == 3 and all(c == (-1,) for c in backward.op.carry_taps)
    assert backward.op.carry_keep == (False, False)  # no per-step copies of the adjoints


def test_gradient_with_an_integer_carry_in_the_step(rng):
    def f(x, W):
        (hs, ks), _ = theano.scan(lambda x_t, h, k, W: (T.tanh(x_t * k + T.dot(h, W)), k + 1),
                                  sequences=x, outputs_info=[T.zeros((2,), "float64"),
                                                             T.constant(1, dtype="int64")],
                                  non_sequences=W)
        return hs

    verify_grad(f, [rng.normal(size=(4, 2)), rng.normal(size=(2, 2))], rng=rng)


def test_gradient_of_a_loop_that_also_updates_a_shared_variable(rng):
    total = theano.shared(0.5, name="total")

    def f(x, W):  # the update's final value is differentiable too
        hs, updates = theano.scan(
            lambda x_t, h, W: (T.tanh(x_t + T.dot(h, W)), {total: total * 0.9 + h.sum()}),
            sequences=x, outputs_info=T.zeros((2,), "float64"), non_sequences=W)
        return hs.sum() * 0.1 + updates[total]

    verify_grad(f, [rng.normal(size=(5, 2)), rng.normal(size=(2, 2))], rng=rng)


def test_gradient_through_a_nested_scan(rng):
    def f(M, w):
        def row(r, prev, w):
            inner, _ = theano.scan(lambda v, acc, w: T.tanh(acc * w + v), sequences=r,
                                   outputs_info=T.constant(0.0, dtype="float64"),
                                   non_sequences=w)
            return prev * 0.5 + inner[-1]

        out, _ = theano.scan(row, sequences=M, outputs_info=T.constant(0.0, dtype="float64"),
                             non_sequences=w)
        return out

    verify_grad(f, [rng.normal(size=(3, 4)), np.array(0.7)], rng=rng)


# ---- stored step values (SAVE_STEP_VALUES) against the recomputing backward step ----------

def _lstm_cell(x_t, s, W, b, H=None):
    """An LSTM in plain ops as the char-RNN writes it: one product for the four gates (``H``
    a constant: the backward step joins the gates' gradients; symbolic: it adds them)."""
    H = W.shape[0] if H is None else H
    h, c = s[:, :H], s[:, H:]
    g = x_t + T.dot(h, W) + b
    i, f, o = (T.nnet.sigmoid(g[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
    c = f * c + i * T.tanh(g[:, 2 * H:3 * H])
    return T.concatenate([o * T.tanh(c), c], axis=1)


def _relu_cell(x_t, s, W, b):
    return T.nnet.relu(x_t + T.dot(s, W) + b)


def _own_cell(x_t, s, W, b):
    """A cell no library ships: a gated blend of a softplus and a tanh branch."""
    H = W.shape[0]
    a = T.dot(s, W) + b
    gate = T.nnet.sigmoid(a[:, :H] + x_t[:, :H])
    return gate * T.tanh(a[:, H:] * x_t[:, H:]) + (1 - gate) * T.nnet.softplus(s) * 0.5


CELLS = {"lstm": (_lstm_cell, 4, 2), "relu": (_relu_cell, 1, 1), "own": (_own_cell, 2, 1),
         "lstm_H5": (lambda x_t, s, W, b: _lstm_cell(x_t, s, W, b, 5), 4, 2)}


def _cell_grads(cell, dtype, store, monkeypatch, wrt_all=True, **scan_kw):
    """(inputs, [cost, d/dx, d/ds0, d/dW, d/db]) of a scan of ``cell``, built with the step
    values stored (``store``) or recomputed by the backward step (d/ds0 and d/db only
    unless ``wrt_all``)."""
    from minigraph.scan import grad as scan_grad_module

    monkeypatch.setattr(scan_grad_module, "SAVE_STEP_VALUES", store)
    fn = CELLS[cell][0]
    x, s0 = T.tensor3("x", dtype=dtype), T.matrix("s0", dtype=dtype)
    W, b, R = T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype), T.matrix("R", dtype=dtype)
    states, _ = theano.scan(fn, sequences=x, outputs_info=s0, non_sequences=[W, b], **scan_kw)
    cost = (states * R).sum() + (states ** 2).sum() * 0.1
    ins = [x, s0, W, b, R]
    return ins, [cost] + theano.grad(cost, [x, s0, W, b] if wrt_all else [s0, b])


def _cell_values(rng, cell, dtype, B, n, H=5):
    _, gates, state = CELLS[cell]
    G, S = gates * H, state * H
    return [rng.normal(size=(n, B, G)).astype(dtype), rng.normal(size=(B, S)).astype(dtype),
            (rng.normal(size=(H, G)) * 0.4).astype(dtype), rng.normal(size=G).astype(dtype),
            rng.normal(size=(B, S)).astype(dtype)]


def _stored_equals_recomputed(rng, monkeypatch, cell, dtype, B, n, **scan_kw):
    vals = _cell_values(rng, cell, dtype, B, n)
    ins, outs = _cell_grads(cell, dtype, True, monkeypatch, **scan_kw)
    stored = theano.function(ins, outs)
    ins2, outs2 = _cell_grads(cell, dtype, False, monkeypatch, **scan_kw)
    recomputed = theano.function(ins2, outs2)
    tol = 1e-4 if dtype == "float32" else 1e-10
    got = stored(*vals)
    for a, b, v in zip(got[1:], recomputed(*vals)[1:], vals):
        assert a.shape == v.shape and a.dtype == v.dtype
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    if n == 0:  # no step: zeros, and the initial state's gradient is what the cost sends it
        assert got[0] == 0
        for g in got[1:2] + got[3:]:
            assert not np.any(g)
        np.testing.assert_array_equal(got[2], 0 * vals[1])
    return stored


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("B, n", [(1, 5), (3, 1), (2, 0)], ids=["batch1", "one-step", "empty"])
def test_stored_step_values_give_the_recomputed_gradients(rng, monkeypatch, cell, dtype, B, n):
    f = _stored_equals_recomputed(rng, monkeypatch, cell, dtype, B, n)
    scans = [node for node in f.fgraph.toposort() if isinstance(node.op, Scan)]
    assert len(scans) == 2  # the forward loop runs once: the user's and grad's are merged


@pytest.mark.parametrize("kw", [dict(go_backwards=True), dict(truncate_gradient=2),
                                dict(n_steps=4)],
                         ids=["go_backwards", "truncate_gradient", "rows_left_unread"])
def test_stored_step_values_backwards_and_truncated(rng, monkeypatch, kw):
    _stored_equals_recomputed(rng, monkeypatch, "lstm", "float64", 3, 6, **kw)


@pytest.mark.parametrize("cell", ["lstm", "lstm_H5"])
def test_stored_step_values_lstm_against_finite_differences(rng, cell):
    def f(x, s0, W, b):
        states, _ = theano.scan(CELLS[cell][0], sequences=x, outputs_info=s0,
                                non_sequences=[W, b])
        return states

    verify_grad(f, _cell_values(rng, cell, "float64", 2, 4)[:4], rng=rng)


def test_stored_step_values_with_taps_against_finite_differences(rng):
    def f(x, y0, W):
        ys, _ = theano.scan(
            lambda xm1, x0, ym2, ym1, W: T.nnet.sigmoid(T.dot(ym1, W) + xm1) * T.tanh(ym2 + x0),
            sequences=dict(input=x, taps=[-1, 0]), outputs_info=dict(initial=y0, taps=[-2, -1]),
            non_sequences=W)
        return ys

    verify_grad(f, [rng.normal(size=(6, 3)), rng.normal(size=(2, 3)),
                    rng.normal(size=(3, 3)) * 0.5], rng=rng)


def test_backward_step_runs_no_forward_product(rng):
    """With the step's values stored, the backward step's only product is the adjoint's
    (``d/dh = dot(a, W.T)``); what the gradient reads of the LSTM's pre-activations is only
    their shape, stored as such."""
    x, s0, W, b = T.dtensor3("x"), T.dmatrix("s0"), T.dmatrix("W"), T.dvector("b")
    states, _ = theano.scan(_lstm_cell, sequences=x, outputs_info=s0, non_sequences=[W, b])
    f = theano.function([x, s0, W, b], theano.grad(states.sum(), [x, s0, W, b]))
    forward, backward = [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)]
    inner = toposort(backward.op.inner_outputs, backward.op.inner_inputs)
    assert sum(type(n.op).__name__ in ("Dot", "DotAdd", "Gemm") for n in inner) == 1
    # the stored values: i, f, o, tanh(u), tanh(c) (each (B, H)) and shapes, no (B, 4H) gate
    vals = _cell_values(rng, "lstm", "float64", 2, 3)[:4]
    run = theano.function([x, s0, W, b], forward.outputs[1:])  # after the trace
    H = vals[2].shape[0]
    shapes = [v.shape for v in run(*vals)]
    assert shapes.count((3, 2, H)) == 5 and (3, 2, 4 * H) not in shapes


# ---- loops of no step and of one step ------------------------------------------------------

def _numpy_rnn_grads(x, h0, W, R, n, back):
    """d/dx, d/dh0, d/dW of ``sum(hs * R)`` for ``h_t = tanh(x_t + h_{t-1} W)``, by hand."""
    xs = (x[::-1] if back else x)[:n]
    hs = [h0]
    for x_t in xs:
        hs.append(np.tanh(x_t + hs[-1] @ W))
    gx, gW, a = np.zeros_like(xs), np.zeros_like(W), np.zeros_like(h0)
    for t in reversed(range(n)):
        d = (a + R[t]) * (1 - hs[t + 1] ** 2)
        gx[t], gW, a = d, gW + hs[t].T @ d, d @ W.T
    full = np.zeros_like(x)
    full[:n] = gx
    return (full[::-1] if back else full), a, gW


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows, n_steps", [(0, None), (1, None), (3, 0), (3, 1)],
                         ids=["empty", "one-row", "n_steps=0", "n_steps=1"])
@pytest.mark.parametrize("back", [False, True], ids=["forwards", "go_backwards"])
def test_gradients_of_loops_of_no_step_and_one_step(rng, dtype, rows, n_steps, back):
    """A loop of no step: every gradient is zeros shaped like its input (the loop's per-step
    outputs have the row shapes one step would give); of one step: NumPy's."""
    x, h0, W, R = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype), \
        T.matrix("W", dtype=dtype), T.tensor3("R", dtype=dtype)
    hs = _rnn(x, h0, W, go_backwards=back, n_steps=n_steps)
    f = theano.function([x, h0, W, R], [hs] + theano.grad((hs * R).sum(), [x, h0, W]))
    n = rows if n_steps is None else n_steps
    B, H = 2, 5
    vals = [rng.normal(size=(rows, B, H)).astype(dtype), rng.normal(size=(B, H)).astype(dtype),
            (rng.normal(size=(H, H)) * 0.5).astype(dtype), rng.normal(size=(n, B, H)).astype(dtype)]
    out = f(*vals)
    assert out[0].shape == (n, B, H)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for g, v, want in zip(out[1:], vals, _numpy_rnn_grads(*vals, n, back)):
        assert g.shape == v.shape and g.dtype == v.dtype
        np.testing.assert_allclose(g, want, rtol=tol, atol=tol)
        if n == 0:
            assert not np.any(g)


@pytest.mark.parametrize("kw", [dict(go_backwards=True), dict(n_steps=0)],
                         ids=["go_backwards", "n_steps=0"])
def test_lstm_gradients_of_a_loop_of_no_step(rng, kw):
    x, s0, W, b = T.dtensor3("x"), T.dmatrix("s0"), T.dmatrix("W"), T.dvector("b")
    states, _ = theano.scan(_lstm_cell, sequences=x, outputs_info=s0, non_sequences=[W, b],
                            **kw)
    f = theano.function([x, s0, W, b], theano.grad((states ** 2).sum() + (s0 ** 2).sum(),
                                                   [x, s0, W, b]))
    vals = _cell_values(rng, "lstm", "float64", 3, 2 if "n_steps" in kw else 0)[:4]
    gx, gs0, gW, gb = f(*vals)
    for g, v in zip([gx, gW, gb], [vals[0], vals[2], vals[3]]):
        assert g.shape == v.shape and not np.any(g)
    np.testing.assert_array_equal(gs0, 2 * vals[1])  # only the cost's own term reaches s0


def test_one_step_loop_with_taps_against_finite_differences(rng):
    def f(x, y0, W):
        ys, _ = theano.scan(lambda x0, ym2, ym1, W: T.tanh(T.dot(ym1, W) + x0) * ym2,
                            sequences=x, outputs_info=dict(initial=y0, taps=[-2, -1]),
                            non_sequences=W)
        return ys

    verify_grad(f, [rng.normal(size=(1, 3)), rng.normal(size=(2, 3)),
                    rng.normal(size=(3, 3)) * 0.5], rng=rng)


def test_a_loop_of_no_step_draws_nothing_from_its_generator():
    """The step run to learn the row shapes of a loop of no step draws from a copy of the
    generator: the next call's values are those of a fresh stream."""
    def draws(n_first):
        srng, x = RandomStreams(seed=3), T.dmatrix("x")
        ys, updates = theano.scan(lambda x_t: x_t * srng.normal((3,)), sequences=x)
        f = theano.function([x], ys, updates=updates)
        if n_first is not None:
            assert f(np.ones((n_first, 3))).shape == (0, 3)
        return f(np.ones((2, 3)))

    np.testing.assert_array_equal(draws(0), draws(None))


def test_relu_step_stores_no_pre_activation_for_its_gradient(rng):
    """``relu``'s gradient reads its output (tensor/scalar.py ``_g_extreme``): a loop whose
    step ends in a ReLU keeps only its carry's trace for the backward pass, and the gradients
    still match central differences."""
    x, h0, W, b = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dvector("b")
    hs, _ = theano.scan(_relu_cell, sequences=x, outputs_info=h0, non_sequences=[W, b])
    f = theano.function([x, h0, W, b], theano.grad(hs.sum(), [x, h0, W, b]))
    forward = [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)][0]
    assert len(forward.outputs) == 1  # the trace of h, nothing else
    vals = [rng.normal(size=(4, 2, 3)), rng.normal(size=(2, 3)),
            rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)]
    verify_grad(lambda *a: theano.scan(_relu_cell, sequences=a[0], outputs_info=a[1],
                                       non_sequences=list(a[2:]))[0], vals, rng=rng)


def _blend_cell(x_t, s, W):
    """``(1 - z) * n + z * h`` with ``z`` a gate and ``n`` a tanh branch."""
    z = T.nnet.sigmoid(x_t + T.dot(s, W))
    return (1 - z) * T.tanh(x_t - T.dot(s, W)) + z * s


def test_cheap_values_are_recomputed_not_stored(rng):
    """The gradient of ``(1 - z) * n + z * h`` reads ``z``, ``1 - z`` and ``n``; ``1 - z``
    is recomputed from the stored ``z`` in the backward step (scan/grad.py
    ``_recomputed_cheaply``), so the forward loop stores the carry, ``z`` and ``n`` (and
    ``n``'s argument's pieces the products need) but no ``1 - z``; the gradients still match
    central differences."""
    x, h0, W = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W")
    hs, _ = theano.scan(_blend_cell, sequences=x, outputs_info=h0, non_sequences=W)
    f = theano.function([x, h0, W], theano.grad(hs.sum(), [x, h0, W]))
    forward = [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)][0]
    stored = [o.owner.op.scalar_op.name for o in forward.op.inner_outputs[1:]
              if o.owner is not None and hasattr(o.owner.op, "scalar_op")]
    assert "sub" not in stored and {"sigmoid", "tanh"} <= set(stored), stored
    vals = [rng.normal(size=(4, 2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(3, 3)) * 0.5]
    verify_grad(lambda *a: theano.scan(_blend_cell, sequences=a[0], outputs_info=a[1],
                                       non_sequences=[a[2]])[0], vals, rng=rng)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_values_of_the_step_inputs_are_recomputed_from_them(go_backwards, rng):
    """``x_t - h`` (a sequence's row and the carry) is recomputed in the backward step from
    the row and the carry's trace, which that loop reads anyway: the forward loop stores
    the carry and the tanh only, and the gradients match central differences."""
    def cell(x_t, s, W):
        return T.tanh(T.dot(s, W)) * (x_t - s) + s * x_t

    def scan(x, h0, W):
        return theano.scan(cell, sequences=x, outputs_info=h0, non_sequences=[W],
                           go_backwards=go_backwards)[0]

    x, h0, W = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W")
    f = theano.function([x, h0, W], theano.grad(scan(x, h0, W).sum(), [x, h0, W]))
    forward = [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)][0]
    assert len(forward.outputs) == 2
    vals = [rng.normal(size=(5, 2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(3, 3)) * 0.5]
    verify_grad(scan, vals, rng=rng)
