"""Tests of ``theano.scan_module.until``: scan loops that stop on a condition, against NumPy
loops; outputs cut to the steps run, updates, taps, gradients, errors."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.scan.op import Scan, ScanUntil

HERE = os.path.basename(__file__)
MODES = ["FAST_RUN", "FAST_COMPILE"]


@pytest.mark.parametrize("mode", MODES)
def test_powers_of_two_until_above_a_limit(mode):
    # Theano's documentation example: the step that crosses the limit is kept
    limit = T.dscalar("limit")
    powers, updates = theano.scan(
        lambda p, m: (p * 2, theano.scan_module.until(p * 2 > m)),
        outputs_info=T.constant(1.0), non_sequences=limit, n_steps=1024)
    assert not updates
    f = theano.function([limit], powers, mode=mode)
    for m in (45.0, 1.0, 0.5, 2.0 ** 20):
        want, p = [], 1.0
        while True:
            p *= 2
            want.append(p)
            if p > m:
                break
        np.testing.assert_array_equal(f(m), want)
    loop = powers.owner.inputs[0].owner.op  # carries keep their initial value: [1:]
    assert isinstance(loop, ScanUntil) and not isinstance(loop, Scan)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sequences_several_outputs_and_taps_stop_together(rng, dtype):
    x, limit = T.tensor(dtype, (None,), name="x"), T.tensor(dtype, (), name="limit")
    init = T.tensor(dtype, (None,), name="init")  # two values before the first step

    def step(x_t, fm2, fm1, acc, lim):
        fib = fm1 + fm2
        total = acc + x_t
        return [fib, total, total * 2], theano.scan_module.until(total > lim)

    (fib, total, double), _ = theano.scan(
        step, sequences=x, outputs_info=[dict(initial=init, taps=[-2, -1]),
                                         T.constant(0.0, dtype=dtype), None],
        non_sequences=limit)
    f = theano.function([x, init, limit], [fib, total, double])
    xv = rng.random(13).astype(dtype)  # positive: the running sum grows
    for lim in (-1.0, 2.0, xv.sum() / 2, 100.0):  # first step, middle, never (all 13)
        got = f(xv, np.array([0, 1], dtype), np.asarray(lim, dtype))
        sums = np.cumsum(xv, dtype=dtype)
        n = min(int(np.argmax(sums > lim)) + 1 if (sums > lim).any() else 13, 13)
        fibs = [0.0, 1.0]
        for _ in range(n):
            fibs.append(fibs[-1] + fibs[-2])
        np.testing.assert_array_equal(got[0], fibs[2:])
        np.testing.assert_allclose(got[1], sums[:n], rtol=1e-6)
        np.testing.assert_allclose(got[2], 2 * sums[:n], rtol=1e-6)
        assert all(g.dtype == dtype for g in got)


def test_shared_variable_updates_stop_with_the_loop():
    count = theano.shared(np.int64(0), name="count")
    k = T.lscalar("k")

    def step(i):
        return [i * 10], {count: count + 1}, theano.scan_module.until(T.ge(i, k))

    out, updates = theano.scan(step, sequences=T.arange(100, dtype="int64"))
    f = theano.function([k], out, updates=updates)
    np.testing.assert_array_equal(f(4), [0, 10, 20, 30, 40])
    assert int(count.get_value()) == 5
    np.testing.assert_array_equal(f(0), [0])
    assert int(count.get_value()) == 6


def _rnn(W, h0, x, stop):
    """h_t = tanh(h_{t-1} W + x_t), stopping after step ``stop`` (an int scalar)."""
    steps = T.arange(x.shape[0], dtype="int64")
    hs, _ = theano.scan(lambda x_t, t, h, W_: (T.tanh(T.dot(h, W_) + x_t),
                                                theano.scan_module.until(T.ge(t, stop))),
                        sequences=[x, steps], outputs_info=h0, non_sequences=W)
    return hs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradient_through_until_is_that_of_the_steps_run(rng, dtype):
    W, h0 = T.tensor(dtype, (None, None), name="W"), T.tensor(dtype, (None,), name="h0")
    x, stop = T.tensor(dtype, (None, None), name="x"), T.lscalar("stop")
    hs = _rnn(W, h0, x, stop)
    cost = (hs ** 2).sum() + hs[-1].sum()
    grads = theano.grad(cost, [W, h0, x])
    f = theano.function([W, h0, x, stop], [hs, cost] + grads)
    Wv, h0v = rng.normal(size=(3, 3)).astype(dtype) * 0.5, rng.normal(size=3).astype(dtype)
    xv = rng.normal(size=(9, 3)).astype(dtype)
    # the same loop without until, over the steps that ran (stop=4: 5 steps)
    hp, _ = theano.scan(lambda x_t, h, W_: T.tanh(T.dot(h, W_) + x_t), sequences=x[:5],
                        outputs_info=h0, non_sequences=W)
    cp = (hp ** 2).sum() + hp[-1].sum()
    g = theano.function([W, h0, x], [hp, cp] + theano.grad(cp, [W, h0, x]))(Wv, h0v, xv)
    got = f(Wv, h0v, xv, 4)
    assert got[0].shape == (5, 3)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for a, b in zip(got, g):
        np.testing.assert_allclose(a, b, rtol=tol * 10, atol=tol)
    assert not np.any(got[4][5:])  # rows after the stop get no gradient
    stop_v = np.int64(2)
    theano.gradient.verify_grad(
        lambda W_, h_, x_: _rnn(W_, h_, x_, T.constant(stop_v)),
        [Wv.astype("float64"), h0v.astype("float64"), xv[:6].astype("float64")], rng=rng)


def test_until_errors_name_the_problem_and_the_line():
    x = T.dvector("x")
    with pytest.raises(GraphError, match=f"until: the condition must be a scalar.*{HERE}:"):
        theano.scan(lambda x_t: (x_t, theano.scan_module.until(x > 0)), sequences=x)
    with pytest.raises(GraphError, match="more than one until"):
        theano.scan(lambda x_t: (x_t, theano.scan_module.until(x_t > 0),
                                 theano.scan_module.until(x_t < 0)), sequences=x)
    with pytest.raises(GraphError, match="give sequences or n_steps"):
        theano.scan(lambda h: (h * 2, theano.scan_module.until(h > 3)), outputs_info=x)


def test_printing_shows_the_condition():
    x = T.dvector("x")
    out, _ = theano.scan(lambda x_t: (x_t * 2, theano.scan_module.until(x_t > 1)),
                         sequences=x, name="doubling")
    text = theano.printing.debugprint(out, file="str", print_trace=False)
    assert "ScanUntil{doubling}" in text and "gt" in text
    np.testing.assert_array_equal(out.eval({x: [0.5, 1.5, 3.0]}), [1.0, 3.0])


def test_test_values_run_only_the_steps_until_the_stop():
    with theano.config.change_flags(compute_test_value="raise"):
        limit = T.dscalar("limit")
        limit.tag.test_value = 45.0
        powers, _ = theano.scan(lambda p, m: (p * 2, theano.scan_module.until(p * 2 > m)),
                                outputs_info=T.constant(1.0), non_sequences=limit,
                                n_steps=10 ** 6)  # never run in full
        assert powers.tag.test_value.tolist() == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
        g = theano.grad(powers[-1], limit, disconnected_inputs="ignore")
        assert g.tag.test_value == 0.0


def test_pydotprint_draws_the_loop_and_its_condition(tmp_path):
    x = T.dvector("x")
    out, _ = theano.scan(lambda x_t, acc: (acc + x_t, theano.scan_module.until(acc > 2)),
                         sequences=x, outputs_info=T.constant(0.0), name="running")
    f = theano.function([x], out)
    path = tmp_path / "g.dot"
    theano.printing.pydotprint(f, outfile=str(path), format="dot", print_output_file=False)
    text = path.read_text()
    assert "ScanUntil{running}" in text and "gt" in text
    np.testing.assert_array_equal(f([1.0, 1.5, 1.0, 4.0]), [1.0, 2.5, 3.5])


def test_gradient_through_until_runs_the_loop_once(rng):
    """A step whose gradient reads its values (a gate times a tanh): the backward loop of an
    until-loop recomputes them rather than adding a second forward loop that stores them."""
    W, h0, x = T.dmatrix("W"), T.dvector("h0"), T.dmatrix("x")

    def step(x_t, h, W):
        new = T.nnet.sigmoid(T.dot(h, W)) * T.tanh(x_t + h)
        return new, theano.scan_module.until(T.sum(new) > 100.0)

    hs, _ = theano.scan(step, sequences=x, outputs_info=h0, non_sequences=W)
    grads = theano.grad((hs ** 2).sum(), [W, h0, x])
    f = theano.function([W, h0, x], grads)
    loops = [type(n.op) for n in f.fgraph.toposort() if isinstance(n.op, (Scan, ScanUntil))]
    assert loops == [ScanUntil, Scan]
    vals = [rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3), rng.normal(size=(4, 3))]
    theano.gradient.verify_grad(lambda W_, h_, x_: theano.scan(
        step, sequences=x_, outputs_info=h_, non_sequences=W_)[0], vals, rng=rng)
    assert all(np.all(np.isfinite(g)) for g in f(*vals))
