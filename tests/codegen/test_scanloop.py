"""Tests of minigraph.codegen.scanloop: a whole scan compiled as one Numba function gives
what the interpreted loop gives: values, gradients (also against central differences),
shared updates, for float32 and float64, odd sizes, batch 1, 0 and 1 steps, and the char-RNN's
training. How loops run (policy, fallbacks, errors, cache, printing) is
``test_scanloop_runtime.py``.

Graphs are built once per case and dtype (``_function``) and shared by the parametrized
sizes: the generated source does not depend on sizes, so one Numba compile serves them all.
"""

import functools

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.codegen.scanloop import loop_state
from minigraph.scan.op import Scan

from .loops import P, assert_same, backwards_rnn, backwards_values, both, scans, states, var


# ---- the cases: (inputs, outputs, wrt) built at fixed lines, values for given sizes ------


def _rnn(dtype):
    """Bias rows broadcast over the batch, a transposed weight, non-sequences."""
    x, h0, Wx, Wh, b = var("x", 3, dtype), var("h0", 2, dtype), var("Wx", 2, dtype), \
        var("Wh", 2, dtype), var("b", 1, dtype)
    hs, _ = theano.scan(lambda x_t, h, Wx, Wh, b: T.tanh(T.dot(x_t, Wx) + T.dot(h, Wh.T) + b),
                        sequences=x, outputs_info=h0, non_sequences=[Wx, Wh, b])
    return [x, h0, Wx, Wh, b], [hs], [x, h0, Wx, Wh, b]


def _rnn_values(rng, dtype, T_=7, B=3, H=13, D=5):
    return [rng.normal(size=s).astype(dtype) * k for s, k in
            [((T_, B, D), 1), ((B, H), 1), ((D, H), 0.5), ((H, H), 0.4), ((H,), 0.3)]]


def _taps(dtype):
    """A sequence read at taps -1 and 0, a carry at taps -2 and -1."""
    x, h2, W = var("x", 3, dtype), var("h2", 3, dtype), var("W", 2, dtype)
    hs, _ = theano.scan(lambda x_m1, x_0, h_m2, h_m1, W:
                        x_0 + 0.5 * x_m1 + T.dot(h_m1, W) - 0.3 * h_m2,
                        sequences=dict(input=x, taps=[-1, 0]),
                        outputs_info=dict(initial=h2, taps=[-2, -1]), non_sequences=W)
    return [x, h2, W], [hs], [x, h2, W]


def _taps_values(rng, dtype, T_=6, B=1, H=7):
    return [rng.normal(size=s).astype(dtype) * k for s, k in
            [((T_, B, H), 1), ((2, B, H), 1), ((H, H), 0.4)]]


def _swap(dtype):
    """Two carries that swap values, and a per-step output that is a carry's old value."""
    a0, b0, w, n = var("a0", 1, dtype), var("b0", 1, dtype), var("w", 1, dtype), \
        T.lscalar("n")
    (A, B, Y), _ = theano.scan(lambda a, b, w: [b, a * w + b * b * 0.1, a],
                               outputs_info=[a0, b0, None], non_sequences=w, n_steps=n)
    return [a0, b0, w, n], [A, B, Y], [a0, b0, w]


def _swap_values(rng, dtype, T_=5, H=13):
    return [rng.normal(size=H).astype(dtype) for _ in range(3)] + [np.int64(T_)]


def _scalars(dtype):
    """Rank-0 sequence, carries (a float accumulator, an int counter) and per-step output."""
    v, s0 = var("v", 1, dtype), var("s0", 0, dtype)
    (acc, cnt, ys), _ = theano.scan(
        lambda v_t, acc, cnt: [acc + v_t * v_t + T.cast(cnt, dtype) * 0.1, cnt + 1, v_t * acc],
        sequences=v, outputs_info=[s0, T.constant(np.int64(0)), None])
    return [v, s0], [acc, cnt, ys], [v, s0]


def _scalars_values(rng, dtype, T_=7):
    return [rng.normal(size=T_).astype(dtype), np.asarray(rng.normal(), dtype)]


def _slices(dtype, H=3):
    """A state sliced in halves, nested indexing with negative indices, a join."""
    x, s0, W = var("x", 3, dtype), var("s0", 2, dtype), var("W", 2, dtype)

    def step(x_t, s, W):
        h, c = s[:, :H], s[:, H:]
        g = T.dot(h, W[-H:, ::2])
        c_new = c * g * 0.5 + x_t[:, -H:]
        h_new = g + c_new * s[-1][1:-1][-1]
        return [T.concatenate([h_new, c_new], axis=1), x_t[-1, 1:-1] * s[0][-2]]

    (ss, ys), _ = theano.scan(step, sequences=x, outputs_info=[s0, None], non_sequences=W)
    return [x, s0, W], [ss, ys], [x, s0, W]


def _slices_values(rng, dtype, T_=5, B=2):
    return [rng.normal(size=s).astype(dtype) * k for s, k in
            [((T_, B, 7), 1), ((B, 6), 1), ((5, 6), 0.5)]]


def _peephole_lstm(dtype, H=3):
    """An LSTM with peepholes, written in plain ops (no model ships it)."""
    x, h0, c0, W, U, b = var("x", 3, dtype), var("h0", 2, dtype), var("c0", 2, dtype), \
        var("W", 2, dtype), var("U", 2, dtype), var("b", 1, dtype)
    p_i, p_f, p_o = var("p_i", 1, dtype), var("p_f", 1, dtype), var("p_o", 1, dtype)
    sig = T.nnet.sigmoid

    def step(x_t, h, c, W, U, b, p_i, p_f, p_o):
        g = T.dot(x_t, W) + T.dot(h, U) + b
        i, f = sig(g[:, :H] + c * p_i), sig(g[:, H:2 * H] + c * p_f)
        c = f * c + i * T.tanh(g[:, 2 * H:3 * H])
        return [sig(g[:, 3 * H:] + c * p_o) * T.tanh(c), c]

    (hs, cs), _ = theano.scan(step, sequences=x, outputs_info=[h0, c0],
                              non_sequences=[W, U, b, p_i, p_f, p_o])
    ins = [x, h0, c0, W, U, b, p_i, p_f, p_o]
    return ins, [hs, cs], ins


def _peephole_lstm_values(rng, dtype, T_=5, B=2, H=3, D=4):
    shapes = [(T_, B, D), (B, H), (B, H), (D, 4 * H), (H, 4 * H), (4 * H,), (H,), (H,), (H,)]
    return [(rng.normal(size=s) * 0.5).astype(dtype) for s in shapes]


def _euler(dtype):
    """``h - 0.3 * dot(h, W)``: a scaled product subtracted from the carry, which the "gemm"
    rule makes one ``Gemm`` in the step (tensor/rewriting/blas.py)."""
    x, h0, W = var("x", 3, dtype), var("h0", 2, dtype), var("W", 2, dtype)
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(h - 0.3 * T.dot(h, W)) + x_t,
                        sequences=x, outputs_info=h0, non_sequences=W)
    return [x, h0, W], [hs], [x, h0, W]


def _euler_values(rng, dtype, T_=6, B=2, H=5):
    return [rng.normal(size=(T_, B, H)).astype(dtype), rng.normal(size=(B, H)).astype(dtype),
            (rng.normal(size=(H, H)) * 0.4).astype(dtype)]


CASES = {"rnn": (_rnn, _rnn_values), "backwards": (functools.partial(backwards_rnn, truncate=-1),
                                                   backwards_values),
         "truncated": (functools.partial(backwards_rnn, truncate=2), backwards_values),
         "taps": (_taps, _taps_values), "swap": (_swap, _swap_values),
         "scalars": (_scalars, _scalars_values), "slices": (_slices, _slices_values),
         "peephole_lstm": (_peephole_lstm, _peephole_lstm_values),
         "euler": (_euler, _euler_values)}

def _cost(outs):
    """A scalar of the float outputs (and its NumPy twin, for central differences)."""
    floats = [o for o in outs if o.dtype.startswith("float")]
    return sum((0.5 * o ** 2 + 0.3 * o).sum() for o in floats)


def _np_cost(outs):
    return sum(float((0.5 * o.astype("float64") ** 2 + 0.3 * o).sum()) for o in outs
               if o.dtype.kind == "f")


@functools.cache
def _function(case, dtype):
    """``(f, n_outputs)``: ``f`` returns the case's outputs, then the gradient of
    :func:`_cost` with respect to its ``wrt``."""
    ins, outs, wrt = CASES[case][0](dtype)
    return theano.function(ins, outs + theano.grad(_cost(outs), wrt)), len(outs)


def check_states(case, f):
    """Every loop of ``f`` (the forward and the gradient's) ran compiled."""
    assert states(f) and set(states(f)) == {"compiled"}, (case, states(f))


SIZES = [dict(T_=7, B=1, H=13), dict(T_=1, B=3, H=7), dict(T_=4, B=2, H=1)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "T{T_}B{B}H{H}".format(**s))
def test_rnn_values_and_gradients_equal_interpreted(eager, rng, dtype, sizes):
    f, _ = _function("rnn", dtype)
    (ref, _), (got, _) = both(f, _rnn_values(rng, dtype, **sizes))
    check_states("rnn", f)
    assert_same(ref, got, dtype)
    P.enabled = False  # compiled, but switched off: they run interpreted, and say so
    assert set(states(f)) == {"interpreted: compiled loops are off (POLICY)"}


@pytest.mark.parametrize("steps", [3, 4])  # below and at the loop length that copies
def test_transposed_const_copied_once_equals_interpreted(eager, rng, steps):
    """``dot(h, Wh.T)`` of a const reads a copy of ``Wh.T`` made before the loop from 4 steps
    (GEMM without a transposed operand, codegen/templates.py ``_transposed_once``), ``Wh``
    as stored below that: both equal the interpreted loop, gradients included."""
    f, _ = _function("rnn", "float64")
    (ref, _), (got, _) = both(f, _rnn_values(rng, "float64", T_=steps, B=3, H=13))
    check_states("rnn", f)
    assert_same(ref, got, "float64")
    sources = [op._codegen.source for op in scans(f)]
    assert any("np.ascontiguousarray(k" in src and "if T >= 4:" in src for src in sources)


@pytest.mark.parametrize("case, dtypes", [
    ("backwards", ["float64"]), ("truncated", ["float64"]), ("taps", ["float64"]),
    ("swap", ["float64"]), ("scalars", ["float64", "float32"]), ("slices", ["float64"]),
    ("peephole_lstm", ["float64"]), ("euler", ["float64", "float32"])])
def test_case_values_and_gradients_equal_interpreted(eager, rng, case, dtypes):
    for dtype in dtypes:
        f, _ = _function(case, dtype)
        (ref, _), (got, _) = both(f, CASES[case][1](rng, dtype))
        check_states(case, f)
        assert_same(ref, got, dtype)


@pytest.mark.parametrize("case", ["rnn", "backwards", "taps", "swap", "scalars", "slices",
                                  "peephole_lstm", "euler"])
def test_compiled_gradients_match_central_differences(eager, rng, case):
    f, n_out = _function(case, "float64")
    args = CASES[case][1](rng, "float64")
    outs = f(*args)
    check_states(case, f)
    floats = [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]
    eps = 1e-6
    for g, i in zip(outs[n_out:], floats):
        for k in rng.choice(np.asarray(args[i]).size, size=min(3, np.asarray(args[i]).size),
                            replace=False):
            at = np.unravel_index(k, np.shape(args[i]))
            costs = []
            for d in (eps, -eps):
                moved = [np.array(a, copy=True) for a in args]
                moved[i][at] += d
                costs.append(_np_cost(f(*moved)[:n_out]))
            num = (costs[0] - costs[1]) / (2 * eps)
            # the rounding of the costs themselves, over 2 eps: a step that grows the values
            # (slices, some seeds) makes costs of 1e8 whose differences keep few digits
            rounding = 8 * np.finfo(np.float64).eps * max(map(abs, costs)) / (2 * eps)
            assert abs(g[at] - num) <= 1e-6 + 1e-5 * abs(num) + rounding, \
                (case, i, at, g[at], num, rounding)


def test_truncated_gradient_differs_from_the_full_one(eager, rng):
    args = backwards_values(rng, "float64", T_=6)
    full, trunc = _function("backwards", "float64")[0], _function("truncated", "float64")[0]
    gf, gt = full(*args), trunc(*args)
    np.testing.assert_allclose(gt[0], gf[0], rtol=1e-13)  # same forward values
    assert not np.allclose(gt[2], gf[2])  # h0 is reached only by the full gradient
    assert np.all(gt[2] == 0)
    check_states("truncated", trunc)


@pytest.mark.parametrize("case", ["rnn", "swap", "scalars"])
def test_zero_steps_run_interpreted_with_the_right_shapes(eager, rng, case):
    f, n_out = _function(case, "float64")
    args = CASES[case][1](rng, "float64", T_=0)
    (ref, _), (got, _) = both(f, args)
    assert_same(ref, got, "float64")
    assert all(o.shape[0] == 0 for o in got[:n_out] if o.ndim)
    floats = [a for a in args if np.asarray(a).dtype.kind == "f"]
    assert [g.shape for g in got[n_out:]] == [np.shape(a) for a in floats]




# ---- shared updates, nested scans -------------------------------------------------------


def _accumulating(dtype="float64"):
    """A scan updating shared variables (carries that keep only their last value): a
    vector, a matrix and an int counter."""
    H = 5
    acc = theano.shared(np.zeros(H, dtype), name="acc")
    M = theano.shared(np.eye(H, dtype=dtype), name="M")
    count = theano.shared(np.int64(0), name="count")
    x, h0, W = var("x", 2, dtype), var("h0", 1, dtype), var("W", 2, dtype)

    def step(x_t, h, W):
        hn = x_t + T.dot(h, W) * 0.5
        return hn, {acc: acc + hn, M: M * 0.5 + hn.dimshuffle(0, "x"), count: count + 1}

    hs, updates = theano.scan(step, sequences=x, outputs_info=h0, non_sequences=W)
    f = theano.function([x, h0, W], [hs], updates=updates)
    return f, [acc, M, count], [(6, H), (H,), (H, H)]


def test_shared_updates_inside_the_step_equal_interpreted(eager, rng):
    f, shared, shapes = _accumulating()
    args = [rng.normal(size=s) * 0.5 for s in shapes]
    (ref, ref_sh), (got, got_sh) = both(f, args, shared)
    assert states(f) == ["compiled"]
    assert_same(ref, got, "float64")
    assert_same(ref_sh, got_sh, "float64")
    assert got_sh[2] == 6 and got_sh[1].shape == (5, 5)


def test_a_scan_inside_a_step_compiles_alone(eager, rng):
    x, v0 = T.dtensor3("x"), T.dvector("v0")

    def outer(x_t, h):
        inner, _ = theano.scan(lambda r, acc: acc * 0.5 + r, sequences=x_t, outputs_info=h)
        return inner[-1]

    hs, _ = theano.scan(outer, sequences=x, outputs_info=v0)
    f = theano.function([x, v0], [hs])
    (ref, _), (got, _) = both(f, [rng.normal(size=(4, 3, 2)), rng.normal(size=2)])
    assert_same(ref, got, "float64")
    [outer_op] = scans(f)
    assert loop_state(outer_op) == "interpreted: Scan has no loop template"
    [inner_op] = [n.op for n in outer_op.compiled().fgraph.toposort() if isinstance(n.op, Scan)]
    assert loop_state(inner_op) == "compiled"


# ---- the char-RNN: training through compiled loops ------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_charrnn_trains_the_same_through_compiled_loops(eager, rng, cell):
    from models.charrnn.model import CharRNN, ModelConfig

    config = ModelConfig(vocab_size=5, cell=cell, layers=2, hidden=3, dropout=0.2,
                         dtype="float64")
    seed = int(rng.integers(1 << 30))
    models = [CharRNN(config, seed), CharRNN(config, seed)]  # interpreted, compiled
    start = {name: p.get_value() for name, p in models[1].params.items()}
    trains = [m.compile_train(learning_rate=0.05) for m in models]
    x = rng.integers(0, 5, (2, 6)).astype(np.int32)
    y = (x + 1) % 5
    state = np.abs(rng.normal(0, 0.5, (2, 2, config.state_size)))
    losses = [[], []]
    for _ in range(4):
        for k in (0, 1):
            P.enabled = bool(k)
            loss, acc, new_state = trains[k](x, y, state)
            losses[k].append((float(loss), float(acc), new_state.copy()))
    assert states(trains[1]) and set(states(trains[1])) == {"compiled"}, states(trains[1])
    for (la, aa, sa), (lb, ab, sb) in zip(*losses):
        assert lb == pytest.approx(la, rel=1e-12) and ab == aa
        np.testing.assert_allclose(sb, sa, rtol=1e-12, atol=1e-14)
    # 4 noisy steps (dropout) need not lower the loss (tests/models/test_model.py checks
    # learning); the compiled steps must update the parameters exactly as the interpreted ones
    assert len({loss for loss, _, _ in losses[1]}) == 4
    for name, p in models[1].params.items():
        assert not np.array_equal(p.get_value(), start[name]), name
        np.testing.assert_allclose(p.get_value(), models[0].params[name].get_value(),
                                   rtol=1e-10, atol=1e-13, err_msg=name)


def test_gemm_in_a_step_is_compiled(eager, rng):
    """The "euler" case's step holds a ``Gemm`` (its template in codegen/templates.py), and
    its loops run compiled, equal to the interpreted ones."""
    f, _ = _function("euler", "float64")
    inner = [n.op for op in scans(f) for n in op.compiled().fgraph.toposort()]
    assert any(type(op).__name__ == "Gemm" for op in inner)
    (ref, _), (got, _) = both(f, _euler_values(rng, "float64", T_=5, B=3, H=4))
    check_states("euler", f)
    assert_same(ref, got, "float64")


def test_outputs_through_identities_are_written_in_place(eager, rng):
    """A carry and a per-step output returned through ``specify_shape`` (as a gradient's
    loop returns its products) are written by the region computing them, straight into
    the trace (scanloop._destinations): no copy follows them, and the values equal the
    interpreted loop's."""
    x, h0, W = var("x", 3), var("h0", 2), var("W", 2)

    def step(x_t, h, W):
        a = x_t + T.dot(h, W)
        return T.specify_shape(T.tanh(a), (None, None)), T.specify_shape(a * a, (None, None))

    (hs, sq), _ = theano.scan(step, sequences=x, outputs_info=[h0, None], non_sequences=W)
    f = theano.function([x, h0, W], [hs, sq])
    (ref, _), (got, _) = both(f, [rng.normal(size=(5, 2, 3)), rng.normal(size=(2, 3)),
                                  rng.normal(size=(3, 3)) * 0.5])
    assert set(states(f)) == {"compiled"}
    assert_same(ref, got, "float64")
    source = scans(f)[0]._codegen.source
    body = source.split("for t in range(T):")[1]
    assert "y0[t, " in body and "c0[t + 1, " in body  # the regions write the traces ...
    assert all(line.split("=")[1].strip().startswith("r_") for line in body.splitlines()
               if line.strip().startswith(("y0[t, ", "c0[t + 1, ")))  # ... not copies
