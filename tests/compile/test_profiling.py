"""Tests of minigraph.compile.profiling: ``profile=True`` per-node times and the summary."""

import io

import numpy as np

import minigraph as theano
import minigraph.tensor as T


def test_profile_records_calls_nodes_and_rewrites():
    x = T.dmatrix("x")
    f = theano.function([x], T.log(T.nnet.softmax(x)).sum() + T.dot(x, x.T).sum(),
                        profile=True, name="prof")
    for _ in range(3):
        f(np.ones((50, 50)))
    prof = f.profile
    assert prof.n_calls == 3 and prof.call_time > 0 and prof.compile_time > 0
    times = prof.node_times()
    assert len(times) == len(f.fgraph.toposort())
    assert [t for t, _ in times] == sorted((t for t, _ in times), reverse=True)
    assert all(t > 0 for t, _ in times)
    assert prof.rewrite_stats["log_of_softmax"][0] == 1


def test_summary_is_readable():
    x = T.dvector("x")
    f = theano.function([x], T.exp(x).sum(), profile=True, name="pf")
    f(np.ones(10))
    buf = io.StringIO()
    text = f.profile.summary(file=buf)
    assert buf.getvalue().strip() == text
    lines = text.splitlines()
    assert lines[0] == "Function profile: pf"
    assert "calls: 1" in text and "us/call" in text and "slowest first" in text
    assert any("exp" in ln and "test_profiling.py:" in ln for ln in lines)
    assert "rewrites that fired:" in text


def test_no_profile_by_default():
    x = T.dvector("x")
    f = theano.function([x], x * 2)
    assert f.profile is None and "_prof" not in f.source


def test_summary_lists_each_region_and_loop_with_its_state(rng, monkeypatch, tmp_path):
    """A region compiled at its first call (``compile_after=0``), one kept in NumPy, a loop
    storing its step values for the gradient and that gradient's loop, each with its time."""
    from minigraph.tensor import fused_kernels

    monkeypatch.setattr(fused_kernels, "_KERNELS", {})
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused_kernels.POLICY, "compile_after", 0)
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)) * T.nnet.sigmoid(h),
                        sequences=x, outputs_info=h0, non_sequences=W)
    cost = (hs ** 2).sum()
    f = theano.function([x, h0, W], [T.exp(x) * 2 + x, theano.grad(cost, W)], profile=True)
    xv, hv, Wv = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(3, 3))
    np.testing.assert_allclose(f(xv, hv, Wv)[0], np.exp(xv) * 2 + xv)
    regions = f.profile.compiled_regions()
    states = {str(node.op): state for _, node, state in regions}
    assert states["Fused{exp,mul,add}"] == "numba"
    assert states["Scan"].endswith("; stores 2 step values for the gradient")
    assert states["Scan{grad_of_scan}"].endswith("; gradient: reads 2 stored values")
    assert all(t > 0 for t, _, _ in regions)
    lines = f.profile.summary(file=io.StringIO()).splitlines()
    at = lines.index(f"  fused regions and loops ({len(regions)}), how they run:")
    listed = lines[at + 1: at + 1 + len(regions)]
    assert any(ln.endswith("Fused{exp,mul,add}  [numba]") for ln in listed)
    assert any("Scan  [loop: Python per step (interpreted: not hot yet); step regions: " in ln
               for ln in listed)

    monkeypatch.setattr(fused_kernels.POLICY, "compile_after", 1e12)  # the rest stays NumPy
    monkeypatch.setattr(fused_kernels.POLICY, "compile_after_calls", 10 ** 9)
    g = theano.function([x], T.sqrt(abs(x)) * 3 - x, profile=True)
    g(xv)
    text = g.profile.summary(file=io.StringIO())
    assert "  fused regions and loops (1), how they run:" in text
    assert "  [numpy: not hot yet, 1 call]" in text and "[numba]" not in text


def test_a_region_compiling_in_the_background_says_so(rng, monkeypatch, tmp_path):
    import threading

    from minigraph.tensor import fused_kernels, fusion

    monkeypatch.setattr(fused_kernels, "_KERNELS", {})
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused_kernels.POLICY, "compile_after", 1)  # hot at the first call
    monkeypatch.setattr(fused_kernels.POLICY, "background", True)
    release, real_load = threading.Event(), fusion._load

    def slow_load(source):  # the compile thread waits until the test lets it go on
        assert release.wait(30)
        return real_load(source)

    monkeypatch.setattr(fusion, "_load", slow_load)
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 3 - x, profile=True)
    f(rng.normal(size=5))
    try:
        assert "Fused{exp,mul,sub}  [compiling]" in f.profile.summary(file=io.StringIO())
    finally:
        release.set()
        fusion.wait_for_compiles(60)
    assert "Fused{exp,mul,sub}  [numba]" in f.profile.summary(file=io.StringIO())
