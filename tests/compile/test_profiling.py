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
