"""The loop templates of minigraph.codegen: each scan here runs its steps through ops of one
family, first interpreted (the reference: each op's NumPy code), then as one compiled
Numba loop, and the two must agree; ``loop_state`` must say ``compiled`` and the compiled
loop must have produced the results (a loop that raised and fell back to the interpreted
one would agree too). Gradients through the loops are compiled loops of their own.

Sizes are tiny and odd (a batch of 1, rows of 1); each function is compiled once and called
on several sizes, since a loop takes its sizes at run time.
"""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.codegen import scanloop
from minigraph.gradient import disconnected_grad, grad_clip, zero_grad
from minigraph.sandbox.rng_mrg import MRG_RandomStreams
from minigraph.scan.op import Scan

RTOL = {"float32": 2e-5, "float64": 1e-12}


@pytest.fixture
def compiled_runs(monkeypatch):
    """Loops compile at their first enabled call, in this thread; the list counts the calls
    the compiled loops completed."""
    monkeypatch.setattr(scanloop, "POLICY", scanloop.LoopPolicy(
        enabled=True, compile_after_calls=0, background=False))
    runs, run = [], scanloop.CompiledLoop.run

    def counted(self, *args):
        out = run(self, *args)
        runs.append(self.op)
        return out

    monkeypatch.setattr(scanloop.CompiledLoop, "run", counted)
    return runs


def compare(runs, inputs, outputs, cases, dtype="float64", updates=None, reset=None, rtol=None):
    """Run ``cases`` (lists of input values) interpreted, then compiled, and compare; every
    scan of the function must be compiled and have run compiled on every case. ``reset``
    puts shared state back before each run."""
    f = theano.function(inputs, outputs, updates=updates)
    scans = [n.op for n in f.fgraph.toposort() if isinstance(n.op, Scan)]
    assert scans

    def run_all():
        out = []
        for vals in cases:
            if reset:
                reset()
            out.append([np.array(v) for v in f(*vals)])
        return out

    scanloop.POLICY.enabled = False
    want = run_all()
    assert all(scanloop.loop_state(op) == "not run yet" for op in scans)
    scanloop.POLICY.enabled = True
    got = run_all()
    assert [scanloop.loop_state(op) for op in scans] == ["compiled"] * len(scans)
    for op in scans:
        assert runs.count(op) == len(cases), f"{op} fell back to the interpreted loop"
    for w_case, g_case in zip(want, got):
        for w, g in zip(w_case, g_case):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=rtol or RTOL[dtype], atol=rtol or RTOL[dtype])
    return f


def _cast(vals, dtype):
    return [v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for v in vals]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_of_a_vector_state_and_its_gradient(compiled_runs, rng, dtype):
    """The fast.ai lesson-6 RNN: ReLU state, a softmax per step flattened to a vector
    (DimShuffle, Softmax, Shape, Reshape), cross-entropy; its gradient loop has
    SoftmaxGrad and a sum over rows."""
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    h0, b = T.vector("h0", dtype=dtype), T.vector("b", dtype=dtype)
    Wx, Wh, Wy = (T.matrix(n, dtype=dtype) for n in ("Wx", "Wh", "Wy"))

    def step(x_t, h, Wx, Wh, Wy, b):
        h = T.nnet.relu(T.dot(x_t, Wx) + T.dot(h, Wh) + b)
        return h, T.flatten(T.nnet.softmax(T.dot(h, Wy)), 1)

    [hs, ys], _ = theano.scan(step, sequences=x, outputs_info=[h0, None],
                              non_sequences=[Wx, Wh, Wy, b])
    err = T.nnet.categorical_crossentropy(ys, y).sum() + 0.1 * hs.sum()
    params = [x, h0, Wx, Wh, Wy, b]
    cases = []
    for n, V, H, K in ((1, 1, 1, 1), (5, 7, 5, 3)):
        cases.append(_cast([rng.normal(size=(n, V)), rng.dirichlet(np.ones(K), n),
                            rng.normal(size=H), rng.normal(size=(V, H)),
                            rng.normal(size=(H, H)) * 0.5, rng.normal(size=(H, K)),
                            rng.normal(size=H)], dtype))
    compare(compiled_runs, [x, y, h0, Wx, Wh, Wy, b], [err, ys] + theano.grad(err, params),
            [[c[0], c[1]] + c[2:] for c in cases], dtype)


# gradient loops double a test's compile time: float64 with them, float32 without
BOTH = pytest.mark.parametrize("dtype, with_grad", [("float32", False), ("float64", True)])


@BOTH
def test_row_softmax_log_softmax_and_reductions(compiled_runs, rng, dtype, with_grad):
    """Softmax and LogSoftmax of matrices, sums, means, maxima, minima, products and
    arg-extrema over either axis or all, keepdims or not; the gradient loop has
    SoftmaxGrad of matrices and the reductions of their gradients."""
    x, h0, W = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype), T.matrix("W", dtype=dtype)

    def step(x_t, h, W):
        a = T.dot(h, W) + x_t
        p, lp = T.nnet.softmax(a), T.nnet.log_softmax(0.5 * a)
        h = T.tanh(p + lp.mean(axis=1, keepdims=True) + 0.1 * a.max(axis=0)
                   - 0.01 * a.sum(axis=1, keepdims=True) + 0.1 * T.min(a, axis=1, keepdims=True))
        return h, lp.sum(), T.prod(a, axis=0), T.argmax(a, axis=1), T.argmin(a), a.max()

    [hs, s, pr, am, ai, mx], _ = theano.scan(step, sequences=x, outputs_info=[h0] + [None] * 5,
                                             non_sequences=W)
    cost = hs.sum() + s.sum() + 0.01 * pr.sum() + mx.sum()
    cases = [_cast([rng.normal(size=(n, B, k)), rng.normal(size=(B, k)),
                    rng.normal(size=(k, k))], dtype) for n, B, k in ((1, 1, 1), (4, 3, 5))]
    grads = theano.grad(cost, [x, h0, W]) if with_grad else []
    compare(compiled_runs, [x, h0, W], [hs, s, pr, am, ai, mx] + grads, cases, dtype)


def test_reductions_of_integers_and_of_nans(compiled_runs, rng):
    """Integer sums accumulate in int64, ``dtype=`` converts first, booleans reduce; NaN is
    the maximum and minimum (and its first position the arg-extremum), as in NumPy; the
    maximum of an empty array raises (the interpreted rerun gives the message)."""
    xi, xf = T.itensor3("xi"), T.tensor3("xf", dtype="float64")

    def step(i_t, f_t):
        return [i_t.sum(axis=0), i_t.max(axis=1), T.prod(i_t, axis=1), i_t.sum(dtype="float32"),
                T.all(i_t > 0, axis=1), T.any(i_t > 2, axis=0), T.mean(i_t, axis=0),
                f_t.max(axis=1), f_t.min(axis=0), T.argmax(f_t, axis=1), T.argmin(f_t, axis=0),
                f_t.sum(axis=(0, 1), keepdims=True), T.argmax(f_t, axis=None, keepdims=True)]

    outs, _ = theano.scan(step, sequences=[xi, xf])
    ints = rng.integers(-3, 5, size=(3, 4, 5)).astype("int32")
    floats = rng.normal(size=(3, 4, 5))
    floats[0, 1, 2] = floats[1, 3, 0] = floats[2, 2, 4] = np.nan
    ints1, floats1 = ints[:, :1, :1].copy(), floats[:, :1, :1].copy()
    f = compare(compiled_runs, [xi, xf], outs, [[ints, floats], [ints1, floats1]])
    with pytest.raises(ValueError, match="empty"):
        f(ints[:, :, :0], floats[:, :, :0])
    assert scanloop.loop_state(f.fgraph.outputs[0].owner.op) == "compiled"


@BOTH
def test_lookups_set_and_inc_subtensor(compiled_runs, rng, dtype, with_grad):
    """``E[idx]`` with repeated and negative ids, zeros of a symbolic shape (Alloc of a
    MakeVector), set/inc_subtensor on strided, reversed and symbolically indexed parts;
    the gradient loop scatters rows back into E (repeats accumulate) and has the
    IncSubtensor chains of the gradients of slices."""
    idx, k = T.imatrix("idx"), T.iscalar("k")
    E, h0 = T.matrix("E", dtype=dtype), T.matrix("h0", dtype=dtype)

    def step(i_t, h, E, k):
        e = E[i_t]
        g = T.set_subtensor(T.zeros((h.shape[0], h.shape[1]), dtype=dtype)[:, ::2], e[:, ::2])
        g = T.inc_subtensor(g[k], h[k, ::-1])
        g = T.inc_subtensor(g[:, 1:], 0.5 * e[:, :-1])
        return T.tanh(g + 0.5 * h[::-1] + 0.1 * E[i_t[0]])

    hs, _ = theano.scan(step, sequences=idx, outputs_info=h0, non_sequences=[E, k])
    cost = (hs ** 2).sum() + hs[-1, 0].sum()
    cases = []
    for n, B, d, V, kk in ((1, 1, 1, 1, 0), (4, 3, 5, 4, -1), (3, 2, 4, 6, 1)):
        ids = rng.integers(-V, V, size=(n, B)).astype("int32")
        ids[0, 0] = ids[-1, -1]  # a repeat
        cases.append([ids] + _cast([rng.normal(size=(V, d)), rng.normal(size=(B, d))], dtype)
                     + [np.int32(kk)])
    grads = theano.grad(cost, [E, h0]) if with_grad else []
    compare(compiled_runs, [idx, E, h0, k], [hs] + grads, cases, dtype)


def test_a_bad_index_in_a_compiled_loop_raises_the_interpreted_error(compiled_runs, rng):
    idx, E = T.ivector("idx"), T.matrix("E", dtype="float64")
    ys, _ = theano.scan(lambda i, E: E[i] * 2.0 + T.set_subtensor(E[i][:1], 0.0),
                        sequences=idx, non_sequences=E)
    ids, table = np.array([1, -3, 2], "int32"), rng.normal(size=(3, 2))
    f = compare(compiled_runs, [idx, E], ys, [[ids, table]])
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.array([0, 3], "int32"), table)
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.array([0, -4], "int32"), table)
    np.testing.assert_allclose(f(ids, table), table[ids] * 2 + np.c_[np.zeros(3), table[ids, 1:]])


@BOTH
def test_products_and_identity_ops(compiled_runs, rng, dtype, with_grad):
    """A matrix product plus a bias vector (DotAdd of a lower-rank bias), vector . vector
    with and without a scalar bias, specify_shape, and the gradient modifiers (identity
    in the forward pass) inside a step, with the gradient loop."""
    x, h0 = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype)
    W, W2, b, v = (T.matrix("W", dtype=dtype), T.matrix("W2", dtype=dtype),
                   T.vector("b", dtype=dtype), T.vector("v", dtype=dtype))
    c = T.scalar("c", dtype=dtype)

    def step(x_t, h, W, W2, b, v, c):
        a = T.dot(h, W) + b
        s = T.dot(v, x_t[0]) + c
        two = T.specify_shape(T.dot(h, W2), (None, 2))
        h = T.tanh(a * s * 0.1 + zero_grad(h) + grad_clip(x_t, -0.5, 0.5)
                   + disconnected_grad(two[:, :1]) + 0.1 * T.dot(v, v))
        return h, s

    [hs, ss], _ = theano.scan(step, sequences=x, outputs_info=[h0, None],
                              non_sequences=[W, W2, b, v, c])
    cost = hs.sum() + ss.sum()
    cases = [_cast([rng.normal(size=(n, B, d)), rng.normal(size=(B, d)), rng.normal(size=(d, d)),
                    rng.normal(size=(d, 2)), rng.normal(size=d), rng.normal(size=d),
                    rng.normal()], dtype) for n, B, d in ((1, 1, 1), (3, 2, 5))]
    ins = [x, h0, W, W2, b, v, c]
    grads = theano.grad(cost, [x, h0, W, b, v, c]) if with_grad else []
    compare(compiled_runs, ins, [hs, ss] + grads, cases, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mrg_draws_in_a_gibbs_chain_are_the_interpreted_draws(compiled_runs, rng, dtype):
    """An RBM's Gibbs chain drawing with MRG_RandomStreams in each step: the compiled loop
    draws bit for bit what the interpreted one draws, and leaves the same generator state."""
    srng = MRG_RandomStreams(seed=1234)
    v0, W = T.matrix("v0", dtype=dtype), T.matrix("W", dtype=dtype)
    bh, bv = T.vector("bh", dtype=dtype), T.vector("bv", dtype=dtype)

    def gibbs(v, W, bh, bv):
        ph = T.nnet.sigmoid(T.dot(v, W) + bh)
        h = srng.binomial(size=ph.shape, n=1, p=ph, dtype=dtype)
        pv = T.nnet.sigmoid(T.dot(h, W.T) + bv)
        return srng.binomial(size=pv.shape, n=1, p=pv, dtype=dtype), pv

    [vs, pvs], updates = theano.scan(gibbs, outputs_info=[v0, None],
                                     non_sequences=[W, bh, bv], n_steps=4)
    states = [s for s, _ in srng.state_updates]
    start, left = [s.get_value() for s in states], []

    def reset():  # keeps the state each run leaves, then starts the next one from `start`
        left.append([s.get_value() for s in states])
        for s, a in zip(states, start):
            s.set_value(a.copy())

    cases = [_cast([(rng.random(size=(B, nv)) < 0.5).astype("float64"),
                    rng.normal(size=(nv, nh)), rng.normal(size=nh), rng.normal(size=nv)], dtype)
             for B, nv, nh in ((1, 1, 1), (3, 5, 4))]
    compare(compiled_runs, [v0, W, bh, bv], [vs, pvs], cases, dtype, updates=updates,
            reset=reset)
    reset()
    interpreted, compiled = left[1:3], left[3:5]
    for a, b in zip(interpreted, compiled):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        assert not all(np.array_equal(x, y) for x, y in zip(a, start))
