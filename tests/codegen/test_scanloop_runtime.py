"""Tests of how minigraph.codegen.scanloop runs loops: the policy (``POLICY``, the
environment, compiling after some calls or in the background), the disk cache, what profile
and debugprint say, fallbacks (no template, a failing generator or Numba, a compiled loop
wrong to raise) and run-time errors, which must be the interpreted loop's.
"""

import io
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

from .loops import (TOL, P, assert_same, backwards_rnn, backwards_values, both, cache_probe,
                    scans, states, var)

# ---- fallbacks and run-time errors -----------------------------------------------------


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


@pytest.mark.parametrize("where", ["generator", "numba"])
def test_a_failing_generator_or_numba_leaves_the_loop_interpreted(eager, rng, monkeypatch,
                                                                  where):
    from minigraph.codegen import cache, templates
    from minigraph.tensor.blas import Dot, DotAdd

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    if where == "generator":  # a template with a bug (not Unsupported)
        monkeypatch.setitem(templates.TEMPLATES, Dot, broken)
        monkeypatch.setitem(templates.TEMPLATES, DotAdd, broken)
    else:
        monkeypatch.setattr(cache, "load", broken)
    ins, outs, _ = backwards_rnn("float64", -1)
    f = theano.function(ins, outs)
    args = backwards_values(rng, "float64")
    with pytest.warns(RuntimeWarning, match="a bug.*it runs interpreted"):
        (ref, _), (got, _) = both(f, args)
    assert_same(ref, got, "float64")
    want = "generating it failed (TypeError)" if where == "generator" else \
        "Numba failed (TypeError)"
    assert states(f) == [f"interpreted: {want}"]
    f(*args)  # no second attempt, no second warning


def test_a_compiled_loop_that_raises_where_the_interpreted_runs_is_dropped(eager, rng,
                                                                            monkeypatch):
    ins, outs, _ = backwards_rnn("float64", -1)
    f = theano.function(ins, outs)
    args = backwards_values(rng, "float64")
    tries = []

    def wrong(self, *a):  # as a template checking a size it should not would
        tries.append(1)
        raise ValueError("a wrong check")

    monkeypatch.setattr(scanloop.CompiledLoop, "run", wrong)
    with pytest.warns(RuntimeWarning, match="a wrong check.*the interpreted loop did not"):
        (ref, _), (got, _) = both(f, args)
    assert_same(ref, got, "float64")
    assert states(f) == [("interpreted: the compiled loop raised ValueError where the "
                          "interpreted one ran")]
    f(*args)
    assert tries == [1]  # not tried again


def _failing(kind):
    """A function whose scan fails at run time for bad inputs, updating shared variables
    (an SGD step on ``W`` and a counter inside the step)."""
    W = theano.shared(np.full((3, 3), 0.1), name="W")
    count = theano.shared(np.int64(0), name="count")
    x, h0, k = T.dtensor3("x"), T.dmatrix("h0"), T.lvector("k")
    if kind == "dot":  # a product whose sizes do not match the state's
        step, seqs = (lambda x_t, h: x_t + T.dot(h, W)), x
    elif kind == "shape":  # a carry that loses a row each step
        step, seqs = (lambda x_t, h: x_t[1:] + h[1:] * W[0, 0]), x
    else:  # a row index out of range at step 3 only
        step, seqs = (lambda k_t, h: h * 0.5 + W[k_t]), k
    hs, upd = theano.scan(lambda s_t, h: (step(s_t, h), {count: count + 1}), sequences=seqs,
                          outputs_info=h0)
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
    assert raised == [exc], "the compiled loop did not raise"
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
    ins, outs, _ = backwards_rnn("float64", -1)
    f = theano.function(ins, outs)
    [op] = scans(f)
    args = backwards_values(rng, "float64")
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


def test_a_loop_compiles_after_compile_after_calls_calls(eager, rng, monkeypatch):
    monkeypatch.setattr(P, "compile_after_calls", 2)
    ins, outs, _ = backwards_rnn("float64", -1)
    f = theano.function(ins, outs)
    args = backwards_values(rng, "float64")
    seen = []
    for _ in range(3):
        f(*args)
        seen.append(states(f)[0])
    assert seen == ["interpreted: not hot yet"] * 2 + ["compiled"]


@pytest.mark.parametrize("value, want", [("off", (False, 2, True)), ("eager", (True, 0, False)),
                                         ("", (True, 2, True))])
def test_the_policy_from_the_environment(monkeypatch, value, want):
    monkeypatch.setenv("MINIGRAPH_COMPILE_LOOPS", value)
    p = scanloop._policy_from_env()
    assert (p.enabled, p.compile_after_calls, p.background) == want


def test_a_second_process_loads_the_loop_from_the_disk_cache(eager, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", str(tmp_path))
    state, hits = cache_probe()  # compiles, and writes the module and Numba's cache
    assert (state, hits) == ("compiled", 0)
    assert list((tmp_path / "loops").glob("minigraph_loop_*.py"))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, MINIGRAPH_CACHE_DIR=str(tmp_path), MINIGRAPH_COMPILE_LOOPS="eager")
    code = "from tests.codegen.loops import cache_probe; cache_probe()"
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, timeout=120,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("probe ")][-1]
    assert line.startswith("probe state=compiled hits=") and " hits=0 " not in line, line


def test_profile_and_debugprint_say_how_each_loop_runs(eager, rng):
    ins, outs, _ = backwards_rnn("float64", -1)
    f = theano.function(ins, outs, profile=True)
    f(*backwards_values(rng, "float64"))
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



@pytest.mark.parametrize("memory", ["workspace", "numpy"])
def test_ys_reuse_workspace_memory_only_once_dropped(eager, rng, monkeypatch, memory):
    """Per-step outputs of 1 MB and more are written into blocks of the shared workspace
    (pages mapped once, ``CompiledLoop.run``): a block the caller still holds is never
    written again, one it dropped is. Above ``KEPT_MAX_BYTES`` the blocks are NumPy's. (An
    output is handed out, so the function's memory plan, ``kernels/memplan.py``, leaves it
    to the workspace once a call has shown that it outlives the call: from the third call.)"""
    KEPT_MAX_BYTES = scanloop.KEPT_MAX_BYTES  # the default cap, before the numpy case's
    if memory == "numpy":
        monkeypatch.setattr(scanloop, "KEPT_MAX_BYTES", 1 << 19)

    x, h0 = var("x", 3), var("h0", 2)
    (hs, ys), _ = theano.scan(lambda x_t, h: [T.tanh(x_t + h), h * 2.0 + x_t],
                              sequences=x, outputs_info=[h0, None])
    f = theano.function([x, h0], ys)
    T_, B, H = 40, 32, 128  # ys: 1.3 MB of float64 (tanh: kernels/vecmath.py's, a few ulps)
    assert 1 << 20 <= T_ * B * H * 8 <= KEPT_MAX_BYTES
    args = [[rng.normal(size=(T_, B, H)), rng.normal(size=(B, H))] for _ in range(3)]
    want = []
    for xv, hv in args:
        h, rows = hv, []
        for t in range(T_):
            rows.append(h * 2.0 + xv[t])
            h = np.tanh(xv[t] + h)
        want.append(np.array(rows))
    first = f(*args[0])  # fresh memory; then held by the test
    loop = scans(f)[0]._codegen
    assert states(f) == ["compiled"] and loop.y_bytes == [first.nbytes]
    second = f(*args[1])
    assert not np.shares_memory(first, second)
    np.testing.assert_allclose(first, want[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(second, want[1], rtol=1e-9, atol=1e-12)
    third = f(*args[2])
    address = third.__array_interface__["data"][0]
    np.testing.assert_allclose(third, want[2], rtol=1e-9, atol=1e-12)
    del third  # its block is free again: the next call writes there
    fourth = f(*args[0])
    if memory == "workspace":
        assert fourth.__array_interface__["data"][0] == address
    np.testing.assert_allclose(fourth, want[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(first, want[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(second, want[1], rtol=1e-9, atol=1e-12)
