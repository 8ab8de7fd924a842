"""Helpers of the loop compiler's tests (``tests/codegen/test_scanloop*.py``): the policy
interpreted-then-compiled comparison, and a small scan the tests share.

Every comparison runs the same compiled function twice: with ``POLICY.enabled`` False (the
interpreted loop of ``minigraph/scan/loop.py``), then True; ``loop_state`` must then be
``compiled`` for every loop claimed compiled, so a silent fallback fails.
"""

import numpy as np

import minigraph as theano
import minigraph.tensor as T
from minigraph.codegen import scanloop
from minigraph.codegen.scanloop import loop_state
from minigraph.scan.op import Scan

P = scanloop.POLICY
# float32: the compiled loop's tanh/sigmoid are kernels/vecmath.py's (a few ulps) where the
# interpreted one calls NumPy's; over 7 steps of a recurrence the difference grows to ~1e-5
# of the values' scale, near-zero elements included (seen: 2.5e-6 absolute on 0.0219)
TOL = {"float32": {"rtol": 5e-5, "atol": 2e-5}, "float64": {"rtol": 1e-11, "atol": 1e-13}}


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
        np.testing.assert_allclose(g, r, **TOL.get(str(r.dtype), {"rtol": 0, "atol": 0}))



def backwards_rnn(dtype, truncate):
    """``(inputs, outputs, wrt)`` of an RNN run with ``go_backwards`` (the tests' common
    small loop: built here, at one line, its source is compiled once)."""
    x, h0, W = var("x", 3, dtype), var("h0", 2, dtype), var("W", 2, dtype)
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)), sequences=x,
                        outputs_info=h0, non_sequences=W, go_backwards=True,
                        truncate_gradient=truncate)
    return [x, h0, W], [hs], [x, h0, W]


def backwards_values(rng, dtype, T_=6, B=2, H=7):
    return [rng.normal(size=s).astype(dtype) * k for s, k in
            [((T_, B, H), 1), ((B, H), 1), ((H, H), 0.4)]]



def cache_probe():
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


