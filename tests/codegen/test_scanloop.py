"""Tests of minigraph.codegen.scanloop: a whole scan compiled as one Numba function must give
what the interpreted loop gives (values, gradients, errors, shared updates), and say how it
runs.

Every comparison runs the same compiled function twice: with ``POLICY.enabled`` False (the
interpreted loop of ``minigraph/scan/loop.py``), then True; ``loop_state`` must then be
``compiled`` for every loop claimed compiled, so a silent fallback fails. Graphs are built
once per case and dtype (``_function``) and shared by the parametrized sizes: the generated
source does not depend on sizes, so one Numba compile serves them all.
"""

import functools
import os
import subprocess
import sys

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.codegen import scanloop
from minigraph.codegen.scanloop import loop_report, loop_state
from minigraph.compile.ops import as_op
from minigraph.scan.op import Scan

P = scanloop.POLICY
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-11, atol=1e-13)}


@pytest.fixture
def eager(monkeypatch):
    """Loops compile at their first call, in the calling thread (restored afterwards)."""
    monkeypatch.setattr(P, "enabled", True)
    monkeypatch.setattr(P, "compile_after_calls", 0)
    monkeypatch.setattr(P, "background", False)
    return P


def var(name, ndim, dtype="float64"):
    return T.tensor(dtype, shape=(None,) * ndim, name=name)


def scans(f):
    return [n.op for n in f.fgraph.toposort() if isinstance(n.op, Scan)]


def states(f):
    return [loop_state(op) for op in scans(f)]


def both(f, args, shared=()):
    """``(interpreted, compiled)`` outputs of ``f(*args)`` (copies), and the values of the
    ``shared`` variables after each call (reset to their old values in between)."""
    old = [s.get_value() for s in shared]
    runs = []
    for enabled in (False, True):
        for s, v in zip(shared, old):
            s.set_value(v)
        P.enabled = enabled
        outs = [np.array(o, copy=True) for o in f(*args)]
        runs.append((outs, [np.array(s.get_value(), copy=True) for s in shared]))
    return runs


def assert_same(ref, got, dtype):
    assert len(ref) == len(got)
    for r, g in zip(ref, got):
        assert r.shape == g.shape and r.dtype == g.dtype
        np.testing.assert_allclose(g, r, **TOL.get(str(r.dtype), dict(rtol=0, atol=0)))


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


def _backwards(dtype, truncate):
    x, h0, W = var("x", 3, dtype), var("h0", 2, dtype), var("W", 2, dtype)
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)), sequences=x,
                        outputs_info=h0, non_sequences=W, go_backwards=True,
                        truncate_gradient=truncate)
    return [x, h0, W], [hs], [x, h0, W]


def _backwards_values(rng, dtype, T_=6, B=2, H=7):
    return [rng.normal(size=s).astype(dtype) * k for s, k in
            [((T_, B, H), 1), ((B, H), 1), ((H, H), 0.4)]]


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


CASES = {"rnn": (_rnn, _rnn_values), "backwards": (functools.partial(_backwards, truncate=-1),
                                                   _backwards_values),
         "truncated": (functools.partial(_backwards, truncate=2), _backwards_values),
         "taps": (_taps, _taps_values), "swap": (_swap, _swap_values),
         "scalars": (_scalars, _scalars_values), "slices": (_slices, _slices_values),
         "peephole_lstm": (_peephole_lstm, _peephole_lstm_values)}
# loops that run interpreted for want of a template (not a bug of the loop machinery): the
# state must name the op, so that any other fallback fails
MISSING = {("slices", "grad_of_scan"): "MakeVector", ("peephole_lstm", "grad_of_scan"): "sum{"}


def _cost(outs):
    """A scalar of the float outputs (and its NumPy twin, for central differences)."""
    floats = [o for o in outs if o.dtype.startswith("float")]
    return sum((0.5 * o ** 2 + 0.3 * o).sum() for o in floats)


def _np_cost(outs):
    return sum(float((0.5 * o.astype("float64") ** 2 + 0.3 * o).sum()) for o in outs
               if o.dtype.kind == "f")


@functools.lru_cache(maxsize=None)
def _function(case, dtype):
    """``(f, n_outputs)``: ``f`` returns the case's outputs, then the gradient of
    :func:`_cost` with respect to its ``wrt``."""
    ins, outs, wrt = CASES[case][0](dtype)
    return theano.function(ins, outs + theano.grad(_cost(outs), wrt)), len(outs)


def check_states(case, f):
    for op in scans(f):
        state = loop_state(op)
        missing = MISSING.get((case, op.name))
        if missing and state.startswith("interpreted: "):
            assert f"{missing}" in state and "has no loop template" in state, state
        else:
            assert state == "compiled", (op, state)


SIZES = [dict(T_=7, B=1, H=13), dict(T_=1, B=3, H=7), dict(T_=4, B=2, H=1)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "T{T_}B{B}H{H}".format(**s))
def test_rnn_values_and_gradients_equal_interpreted(eager, rng, dtype, sizes):
    f, _ = _function("rnn", dtype)
    (ref, _), (got, _) = both(f, _rnn_values(rng, dtype, **sizes))
    check_states("rnn", f)
    assert_same(ref, got, dtype)


@pytest.mark.parametrize("case, dtypes", [
    ("backwards", ["float64"]), ("truncated", ["float64"]), ("taps", ["float64"]),
    ("swap", ["float64"]), ("scalars", ["float64", "float32"]), ("slices", ["float64"]),
    ("peephole_lstm", ["float64"])])
def test_case_values_and_gradients_equal_interpreted(eager, rng, case, dtypes):
    for dtype in dtypes:
        f, _ = _function(case, dtype)
        (ref, _), (got, _) = both(f, CASES[case][1](rng, dtype))
        check_states(case, f)
        assert_same(ref, got, dtype)


@pytest.mark.parametrize("case", ["rnn", "backwards", "taps", "swap", "scalars", "slices",
                                  "peephole_lstm"])
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
            assert abs(g[at] - num) <= 1e-6 + 1e-5 * abs(num), (case, i, at, g[at], num)


def test_truncated_gradient_differs_from_the_full_one(eager, rng):
    args = _backwards_values(rng, "float64", T_=6)
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


# ---- carries that keep no trace, fallbacks, errors -------------------------------------


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


def test_an_op_without_template_runs_interpreted_and_right(eager, rng):
    @as_op(itypes=[T.dmatrix], otypes=[T.dmatrix])
    def flip(m):
        return m[:, ::-1].copy()

    x, h0 = T.dtensor3("x"), T.dmatrix("h0")
    hs, _ = theano.scan(lambda x_t, h: T.tanh(x_t + flip(h)), sequences=x, outputs_info=h0)
    f = theano.function([x, h0], [hs])
    xv, hv = rng.normal(size=(4, 2, 3)), rng.normal(size=(2, 3))
    (ref, _), (got, _) = both(f, [xv, hv])
    [state] = states(f)
    assert state.startswith("interpreted: ") and "has no loop template" in state, state
    want, h = [], hv
    for t in range(4):
        h = np.tanh(xv[t] + h[:, ::-1])
        want.append(h)
    np.testing.assert_allclose(got[0], np.array(want), rtol=1e-12)
    assert_same(ref, got, "float64")
    P.enabled = False
    assert loop_state(scans(f)[0]).startswith("interpreted: compiled loops are off")


@pytest.mark.parametrize("where", ["generator", "numba"])
def test_a_failing_generator_or_numba_leaves_the_loop_interpreted(eager, rng, monkeypatch,
                                                                  where):
    from minigraph.codegen import cache, templates
    from minigraph.tensor.blas import Dot, DotAdd

    def broken(*args):
        raise TypeError("a bug")

    if where == "generator":  # a template with a bug (not Unsupported)
        monkeypatch.setitem(templates.TEMPLATES, Dot, broken)
        monkeypatch.setitem(templates.TEMPLATES, DotAdd, broken)
    else:
        monkeypatch.setattr(cache, "load", broken)
    ins, outs, _ = _backwards("float64", -1)
    f = theano.function(ins, outs)
    args = _backwards_values(rng, "float64")
    with pytest.warns(RuntimeWarning, match="a bug.*it runs interpreted"):
        (ref, _), (got, _) = both(f, args)
    assert_same(ref, got, "float64")
    want = "generating it failed (TypeError)" if where == "generator" else \
        "Numba failed (TypeError)"
    assert states(f) == [f"interpreted: {want}"]
    f(*args)  # no second attempt, no second warning


def test_a_compiled_loop_that_raises_where_the_interpreted_runs_is_dropped(eager, rng,
                                                                            monkeypatch):
    ins, outs, _ = _backwards("float64", -1)
    f = theano.function(ins, outs)
    args = _backwards_values(rng, "float64")
    tries = []

    def wrong(self, *a):  # as a template checking a size it should not would
        tries.append(1)
        raise ValueError("a wrong check")

    monkeypatch.setattr(scanloop.CompiledLoop, "run", wrong)
    with pytest.warns(RuntimeWarning, match="a wrong check.*the interpreted loop did not"):
        (ref, _), (got, _) = both(f, args)
    assert_same(ref, got, "float64")
    assert states(f) == ["interpreted: the compiled loop raised ValueError where the "
                         "interpreted one ran"]
    f(*args)
    assert tries == [1]  # not tried again


def _failing(kind):
    """A function whose scan fails at run time for bad inputs, updating shared variables
    (an SGD step on ``W`` and a counter inside the step)."""
    W = theano.shared(np.full((3, 3), 0.1), name="W")
    count = theano.shared(np.int64(0), name="count")
    x, h0, k = T.dtensor3("x"), T.dmatrix("h0"), T.lvector("k")
    if kind == "dot":  # a product whose sizes do not match the state's
        step, seqs = (lambda x_t, h: ({count: count + 1}, x_t + T.dot(h, W))[::-1]), x
    elif kind == "shape":  # a carry that loses a row each step
        step, seqs = (lambda x_t, h: (x_t[1:] + h[1:] * W[0, 0],
                                       {count: count + 1})), x
    else:  # a row index out of range at step 3 only
        step, seqs = (lambda k_t, h: (h * 0.5 + W[k_t], {count: count + 1})), k
    hs, upd = theano.scan(step, sequences=seqs, outputs_info=h0)
    cost = (hs ** 2).sum()
    upd[W] = W - 0.1 * theano.grad(cost, W)
    return theano.function([x, h0, k], [hs], updates=upd, on_unused_input="ignore"), [W, count]


@pytest.mark.parametrize("kind, exc", [("dot", ValueError), ("shape", ValueError),
                                       ("index", IndexError)])
def test_run_time_errors_are_the_interpreted_ones_and_change_nothing(eager, rng, monkeypatch,
                                                                     kind, exc):
    f, shared = _failing(kind)
    x, h0, k = rng.normal(size=(5, 2, 3)), rng.normal(size=(2, 3)), np.array([0, 1, 2, 9, 0])
    if kind == "dot":
        h0 = rng.normal(size=(2, 4))
        x = rng.normal(size=(5, 2, 4))
    raised = []
    real_run = scanloop.CompiledLoop.run

    def spy(self, *args):
        try:
            return real_run(self, *args)
        except Exception as e:
            raised.append(type(e))
            raise

    monkeypatch.setattr(scanloop.CompiledLoop, "run", spy)
    before = [s.get_value() for s in shared]
    messages = []
    for enabled in (False, True):
        P.enabled = enabled
        with pytest.raises(exc) as info:
            f(x, h0, k)
        messages.append(str(info.value))
        for s, v in zip(shared, before):
            np.testing.assert_array_equal(s.get_value(), v)
    assert messages[0] == messages[1] and "step" in messages[1]
    assert states(f)[0] == "compiled"  # the forward loop; the gradient's never ran
    assert raised, "the compiled loop did not raise"
    if kind == "index":  # good indices: the same function runs, compiled
        (ref, ref_sh), (got, got_sh) = both(f, [x, h0, np.array([0, 1, 2, 1, 0])], shared)
        assert_same(ref + ref_sh, got + got_sh, "float64")
        assert got_sh[1] == 5


# ---- when loops compile, the disk cache, what printing says ----------------------------


def test_background_compile_serves_interpreted_until_ready(eager, rng, monkeypatch):
    from minigraph.tensor.fused_kernels import wait_for_compiles

    monkeypatch.setattr(P, "background", True)
    monkeypatch.setattr(P, "compile_after_calls", 1)
    runs = []
    real_run = scanloop.CompiledLoop.run
    monkeypatch.setattr(scanloop.CompiledLoop, "run",
                        lambda self, *a: runs.append(1) or real_run(self, *a))
    ins, outs, _ = _backwards("float64", -1)
    f = theano.function(ins, outs)
    [op] = scans(f)
    args = _backwards_values(rng, "float64")
    assert loop_state(op) == "not run yet"
    first = f(*args)[0].copy()
    assert loop_state(op) == "interpreted: not hot yet" and not runs
    second = f(*args)[0].copy()  # hot: the compile starts in a thread, this call is served
    assert loop_state(op) in ("compiling", "compiled") and not runs
    wait_for_compiles()
    assert loop_state(op) == "compiled"
    third = f(*args)[0]
    assert runs == [1]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(third, first, **TOL["float64"])
    assert loop_report().get("compiled", 0) >= 1


def _cache_probe():
    """Run a small scan compiled; print its state and Numba's cache hits (the disk-cache
    test runs this in a second process)."""
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    hs, _ = theano.scan(lambda x_t, h: (x_t - 0.5 * h) * 1.25, sequences=x,
                        outputs_info=h0)
    f = theano.function([x, h0], hs)
    out = f(np.ones((3, 4)), np.zeros(4))
    [op] = scans(f)
    stats = op._codegen.fn.stats if op._codegen.fn is not None else None
    hits = sum(stats.cache_hits.values()) if stats else -1
    print(f"probe state={loop_state(op)} hits={hits} sum={out.sum():.12f}")
    return loop_state(op), hits


def test_a_second_process_loads_the_loop_from_the_disk_cache(eager, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", str(tmp_path))
    state, hits = _cache_probe()  # compiles, and writes the module and Numba's cache
    assert (state, hits) == ("compiled", 0)
    assert list((tmp_path / "loops").glob("minigraph_loop_*.py"))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, MINIGRAPH_CACHE_DIR=str(tmp_path), MINIGRAPH_COMPILE_LOOPS="eager")
    proc = subprocess.run([sys.executable, "-c", "from tests.codegen.test_scanloop import "
                           "_cache_probe; _cache_probe()"], cwd=root, env=env, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("probe ")][-1]
    assert line.startswith("probe state=compiled hits=") and " hits=0 " not in line, line


def test_profile_and_debugprint_say_how_each_loop_runs(eager, rng):
    import io

    ins, outs, _ = _backwards("float64", -1)
    f = theano.function(ins, outs, profile=True)
    f(*_backwards_values(rng, "float64"))
    assert states(f) == ["compiled"]
    summary = f.profile.summary(file=io.StringIO())
    assert "Scan  [loop: compiled, one Numba function]" in summary
    [line] = [ln for ln in theano.printing.debugprint(f, file="str").splitlines()
              if "Scan" in ln and "<- " in ln]
    assert "[loop: compiled, one Numba function]" in line

    x = T.dmatrix("x")
    hs, _ = theano.scan(lambda x_t, h: h + T.sort(x_t), sequences=x, outputs_info=x[0])
    g = theano.function([x], hs, profile=True)
    g(rng.normal(size=(3, 4)))
    [state] = states(g)
    assert state.startswith("interpreted: ") and "has no loop template" in state
    why = f"Scan  [loop: Python per step ({state})"
    assert why in g.profile.summary(file=io.StringIO())
    assert f"[loop: Python per step ({state})" in theano.printing.debugprint(g, file="str")


# ---- the char-RNN: training through compiled loops ------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_charrnn_trains_the_same_through_compiled_loops(eager, rng, cell):
    from models.charrnn.model import CharRNN, ModelConfig

    config = ModelConfig(vocab_size=5, cell=cell, layers=2, hidden=3, dropout=0.2,
                         dtype="float64")
    seed = int(rng.integers(1 << 30))
    models = [CharRNN(config, seed), CharRNN(config, seed)]  # interpreted, compiled
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
    assert losses[1][-1][0] < losses[1][0][0]  # it learns
    for name, p in models[1].params.items():
        np.testing.assert_allclose(p.get_value(), models[0].params[name].get_value(),
                                   rtol=1e-10, atol=1e-13, err_msg=name)
