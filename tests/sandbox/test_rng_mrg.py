"""Tests for ``MRG_RandomStreams``: streams from the seed, per-call and per-step advance,
values against NumPy on the same generator states, statistics, dtypes, ``.rng``, scan,
gradients and errors."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.sandbox import mrg31k3p as mrg
from minigraph.sandbox.rng_mrg import MRG_RandomStreams, guess_n_streams


def _seed():
    seed = int(np.random.SeedSequence().entropy % (mrg.M2 - 1)) + 1
    print(f"seed={seed}")
    return seed


def _expected_uniform(state, n, dtype):
    return mrg.fill_numpy(state, n, dtype)


def test_draw_k_uses_stream_k_of_the_seed():
    seed = _seed()
    srng = MRG_RandomStreams(seed)
    draws = [srng.uniform((7,), dtype="float64", nstreams=3) for _ in range(3)]
    got = theano.function([], draws)()
    start = np.full(6, seed)
    for k, values in enumerate(got):  # stream k starts k * 2**134 steps in
        states = mrg.substreams(start, 3)
        np.testing.assert_array_equal(values, _expected_uniform(states, 7, "float64")[1])
        start = mrg.apply_jump(mrg.jump_matrices(134), start)


def test_same_seed_same_draws_other_seed_other_draws_and_reseed_replays():
    seed = _seed()
    fs = []
    for s in (seed, seed, seed % (mrg.M2 - 2) + 1):
        srng = MRG_RandomStreams(s)
        fs.append((srng, theano.function([], [srng.uniform((5,)), srng.normal((2, 3))])))
    first = [f() for _, f in fs]
    for a, b in zip(first[0], first[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], first[2][0])
    srng, f = fs[0]
    assert not np.array_equal(f()[0], first[0][0])  # the next call continues the streams
    srng.seed()  # back to the construction seed
    for a, b in zip(f(), first[0]):
        np.testing.assert_array_equal(a, b)
    srng.seed(seed + 1)
    assert not np.array_equal(f()[0], first[0][0])


def test_each_call_continues_the_stream(rng):
    srng = MRG_RandomStreams(_seed())
    u = srng.uniform((10,), dtype="float32")
    f = theano.function([], u)
    state = u.rng.get_value()
    assert state.shape == (guess_n_streams((10,)), 6) and state.dtype == np.int32
    for _ in range(3):
        state, expect = _expected_uniform(state, 10, "float32")
        np.testing.assert_array_equal(f(), expect)
    np.testing.assert_array_equal(u.rng.get_value(), state)


def test_explicit_updates_advance_once_and_no_default_updates_not_at_all():
    srng = MRG_RandomStreams(_seed())
    u = srng.uniform((4,), dtype="float64")
    state = u.rng.get_value()
    f = theano.function([], u, updates=srng.updates())  # as Theano programs often pass
    state, expect = _expected_uniform(state, 4, "float64")
    np.testing.assert_array_equal(f(), expect)
    np.testing.assert_array_equal(u.rng.get_value(), state)
    g = theano.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(g(), g())
    np.testing.assert_array_equal(u.rng.get_value(), state)


def test_rng_get_and_set_replays_a_sequence():
    srng = MRG_RandomStreams(_seed())
    x = T.dvector("x")
    z = srng.normal(x.shape, std=0.1, dtype="float64")
    assert z.rng is srng.updates()[0][0] and z.update[0] is z.rng
    f = theano.function([x], x + z)
    saved = z.rng.get_value()
    run = [f(np.zeros(4)) for _ in range(3)]
    z.rng.set_value(saved)
    for expect in run:
        np.testing.assert_array_equal(f(np.zeros(4)), expect)
    assert not np.array_equal(run[0], run[1])


def test_streams_of_one_generator_are_independent():
    srng = MRG_RandomStreams(_seed())
    n = 20_000
    a, b = theano.function([], [srng.uniform((n,), dtype="float64"),
                                srng.uniform((n,), dtype="float64", nstreams=1)])()
    assert abs(np.corrcoef(a, b)[0, 1]) < 6 / np.sqrt(n)
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 6 / np.sqrt(n)  # across substreams too


def test_normal_is_box_muller_of_the_uniforms():
    srng = MRG_RandomStreams(_seed())
    z = srng.normal((3, 5), avg=1.5, std=2.0, dtype="float64")
    state = z.rng.get_value()
    got = theano.function([], z)()
    u = _expected_uniform(state, 16, "float64")[1]  # 15 samples: 16 uniforms, one pair each
    r, angle = np.sqrt(-2 * np.log(u[:8])), 2 * np.pi * u[8:]
    expect = np.concatenate([r * np.cos(angle), r * np.sin(angle)])[:15].reshape(3, 5)
    np.testing.assert_allclose(got, 1.5 + 2.0 * expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_statistics(mode):
    seed = _seed()
    srng = MRG_RandomStreams(seed)
    n = 40_000
    draws = [srng.uniform((n,), low=-1.0, high=3.0), srng.normal((n,), avg=2.0, std=0.5),
             srng.binomial((n,), p=0.3), srng.binomial((n,), n=5, p=0.4),
             srng.normal((n,), truncate=True)]
    u, z, b1, b5, zt = theano.function([], draws, mode=mode)()
    expected = [(u, 1.0, 16 / 12), (z, 2.0, 0.25), (b1, 0.3, 0.21), (b5, 2.0, 1.2)]
    for values, mean, var in expected:
        # 6 standard errors: a false failure is (much) rarer than one in a million
        assert abs(values.mean() - mean) < 6 * np.sqrt(var / n), (seed, mean)
        assert abs(values.var() - var) < 0.05 * var, (seed, var)
    assert -1.0 < u.min() and u.max() < 3.0
    assert set(np.unique(b1)) <= {0, 1} and b5.max() <= 5 and b5.dtype == np.int64
    assert np.abs(zt).max() <= 2.0 and abs(zt.mean()) < 0.03 and 0.8 < zt.std() < 0.95


def test_multinomial_and_choice_frequencies():
    srng = MRG_RandomStreams(_seed())
    pv = np.array([[0.2, 0.5, 0.3], [0.0, 0.1, 0.9]])
    n = 20_000
    counts = srng.multinomial(n=n, pvals=pv)
    first = srng.choice(size=2, replace=False, p=np.tile(pv[:1], (n, 1)))
    single = srng.multinomial(pvals=T.constant(pv[0]), dtype="int8")
    c, picks, s = theano.function([], [counts, first, single])()
    np.testing.assert_array_equal(c.sum(axis=1), [n, n])
    assert c[1, 0] == 0
    assert np.all(np.abs(c / n - pv) < 6 * np.sqrt(pv * (1 - pv) / n) + 1e-12)
    assert np.all(picks[:, 0] != picks[:, 1])
    share = np.bincount(picks[:, 0], minlength=3) / n
    assert np.all(np.abs(share - pv[0]) < 6 * np.sqrt(pv[0] * (1 - pv[0]) / n))
    assert s.shape == (3,) and s.dtype == np.int8 and s.sum() == 1


def test_dtypes(float32_mode):
    srng = MRG_RandomStreams(_seed())
    assert srng.uniform((2,)).dtype == "float32"
    assert srng.normal((2,)).dtype == "float32"
    assert srng.uniform((2,), low=T.dscalar()).dtype == "float64"  # upcast with symbolic low
    assert srng.normal((2,), dtype="float64").dtype == "float64"
    assert srng.binomial((2,)).dtype == "int64"
    assert srng.binomial((2,), dtype="floatX").dtype == "float32"
    outs = theano.function([], [srng.uniform((3,)), srng.normal((3,)),
                                srng.binomial((3,), dtype="float32"),
                                srng.choice(size=1, replace=False, p=[[0.5, 0.5]],
                                            dtype="int32")])()
    assert [o.dtype.name for o in outs] == ["float32", "float32", "float32", "int32"]
    with pytest.raises(GraphError, match="float32 or float64"):
        srng.uniform((2,), dtype="float16")


def test_symbolic_sizes():
    srng = MRG_RandomStreams(_seed())
    x = T.fmatrix("x")
    mask = srng.binomial(size=x.shape, n=1, p=0.8, dtype="float32")
    rows = srng.uniform((x.shape[0], 3))
    z = srng.normal(x.shape, dtype="float32")
    assert rows.type.shape == (None, 3) and mask.ndim == 2 and z.ndim == 2
    assert mask.rng.get_value().shape == (60 * 256, 6)  # unknown size: Theano's stream count
    f = theano.function([x], [x * mask, rows, z])
    for shape in [(5, 7), (1, 1), (2, 3)]:  # odd element counts for Box-Muller's pairs
        dropped, r, zv = f(np.ones(shape, dtype="float32"))
        assert dropped.shape == shape and r.shape == (shape[0], 3) and zv.shape == shape
        assert set(np.unique(dropped)) <= {0.0, 1.0} and zv.dtype == np.float32


def test_ndim_completes_a_size_vector_of_unknown_length():
    srng = MRG_RandomStreams(_seed())
    shp = T.lvector("shp")
    u = srng.uniform(shp, ndim=2)
    z = srng.normal(size=np.array([2, 3]))  # a NumPy size is a tuple of ints
    assert u.ndim == 2 and z.type.shape == (2, 3)
    f = theano.function([shp], [u, z])
    assert [a.shape for a in f(np.array([4, 1]))] == [(4, 1), (2, 3)]
    with pytest.raises(ValueError, match="expected shape"):
        f(np.array([4, 5, 6]))
    with pytest.raises(GraphError, match="unknown length; give ndim"):
        srng.uniform(shp)


def test_inside_scan_every_step_draws_and_every_call_advances():
    srng = MRG_RandomStreams(_seed())
    x = T.dvector("x")
    noisy, updates = theano.scan(lambda x_t: x_t + srng.uniform((2,), dtype="float64"),
                                 sequences=x)
    (rng, new), = updates.items()
    f = theano.function([x], noisy, updates=updates)
    state = rng.get_value()
    for _ in range(2):  # the steps continue one stream; the next call continues it again
        out = f(np.zeros(3))
        for step in out:
            state, expect = _expected_uniform(state, 2, "float64")
            np.testing.assert_array_equal(step, expect)
    np.testing.assert_array_equal(rng.get_value(), state)


def test_dropout_inside_scan_gradient_matches_central_differences(rng):
    srng = MRG_RandomStreams(_seed())
    x = T.dmatrix("x")
    W = theano.shared(rng.normal(size=(3, 3)) * 0.5, name="W")

    def step(x_t, h):  # a fresh mask at every step, as an RNN with dropout draws
        mask = srng.binomial(size=h.shape, p=0.6, dtype="float64")
        return T.tanh(T.dot(h, W) * mask + x_t)

    hs, updates = theano.scan(step, sequences=x, outputs_info=T.zeros((3,), "float64"))
    assert len(updates) == 1
    cost = (hs ** 2).sum()
    # with the state held fixed the masks are fixed, so the cost is a smooth function of W
    f = theano.function([x], [cost, theano.grad(cost, W)], no_default_updates=True)
    xv, W0, eps = rng.normal(size=(5, 3)), W.get_value(), 1e-6
    _, g = f(xv)
    numeric = np.zeros_like(W0)
    for idx in np.ndindex(*W0.shape):
        for sign in (1, -1):
            Wd = W0.copy()
            Wd[idx] += sign * eps
            W.set_value(Wd)
            numeric[idx] += sign * f(xv)[0] / (2 * eps)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


def test_a_stream_made_in_a_scan_step_advances_without_passing_the_updates():
    srng = MRG_RandomStreams(_seed())
    out, updates = theano.scan(lambda: srng.uniform((2,), dtype="float64"), n_steps=3)
    f = theano.function([], out)  # updates forgotten: the state's default update is the loop's
    first, second = f(), f()
    assert len({tuple(r) for r in np.concatenate([first, second])}) == 6


def test_no_gradient_through_draws():
    srng = MRG_RandomStreams(_seed())
    W = theano.shared(np.linspace(-1, 1, 6).reshape(2, 3), name="W")
    p = T.dscalar("p")
    mask = srng.binomial(W.shape, p=p, dtype="float64")
    noise = srng.normal(W.shape, avg=W, std=1.0, dtype="float64")
    cost = (W * mask).sum() + noise.sum()
    gW, gp = theano.grad(cost, [W, p], disconnected_inputs="ignore")
    m, g, g_p = theano.function([p], [mask, gW, gp])(0.5)
    np.testing.assert_array_equal(g, m)  # only W * mask: nothing through the draws
    assert g_p == 0


def test_build_time_errors_name_the_line():
    srng = MRG_RandomStreams(1)
    line = r"test_rng_mrg.py:\d+"
    cases = [
        (lambda: srng.uniform((2, -1)), "negative size"),
        (lambda: srng.uniform((2, 2), ndim=3), "ndim=3"),
        (lambda: srng.normal((2,), std=-1.0), "std must lie"),
        (lambda: srng.binomial((2,), p=1.5), r"p must lie in \[0, 1\]"),
        (lambda: srng.binomial((2,), n=0), "n must be an int >= 1"),
        (lambda: srng.multinomial(pvals=[[0.5, 0.6]]), "row 0 sums to 1.1"),
        (lambda: srng.multinomial(size=(2,), pvals=[[0.5, 0.5]]), "size and ndim are not used"),
        (lambda: srng.multinomial(), "give the probabilities"),
        (lambda: srng.choice(size=2, a=3, p=[[0.5, 0.5]]), "a must be None"),
        (lambda: srng.choice(size=3, replace=False, p=[[0.5, 0.5]]), "3 samples without"),
        (lambda: srng.uniform((2,), nstreams=0), "nstreams must be a positive int"),
        (lambda: srng.uniform(low=T.dmatrix(), size=(2,)), "more dimensions"),
    ]
    for build, match in cases:
        with pytest.raises(GraphError, match=f"(?s){match}.*{line}"):
            build()
    for bad in (0, -5, mrg.M2, [1, 2, 3], [0, 0, 0, 1, 1, 1]):
        with pytest.raises((ValueError, TypeError)):
            MRG_RandomStreams(bad)
    MRG_RandomStreams([1, 2, 3, 4, 5, 6])  # a full state is a seed too
    fresh = MRG_RandomStreams(None)  # unpredictable, but seed() replays it
    u = fresh.uniform((3,))
    f = theano.function([], u)
    first = f()
    fresh.seed()
    np.testing.assert_array_equal(f(), first)


def test_run_time_errors_name_the_line():
    srng = MRG_RandomStreams(1)
    n, p = T.lscalar("n"), T.dmatrix("p")
    f = theano.function([n, p], [srng.uniform((n,)), srng.multinomial(pvals=p)])
    with pytest.raises(ValueError, match="(?s)negative size.*created at .*test_rng_mrg.py"):
        f(-2, np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="(?s)sums to 0.6.*created at .*test_rng_mrg.py"):
        f(2, np.array([[0.5, 0.5], [0.3, 0.3]]))
