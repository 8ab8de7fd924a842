"""Tests for ``RandomStreams`` and the ``RandomVariable`` op: reproducibility, state
advancing, statistics, ``no_default_updates``, dtypes, symbolic sizes and errors."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.tensor.random import RandomVariable, copy_generator
from minigraph.tensor.shared_randomstreams import RandomStreams


def _seed():
    seed = int(np.random.SeedSequence().entropy % 2**31)
    print(f"seed={seed}")
    return seed


def _state(shared_rng):
    return shared_rng.get_value(borrow=True).bit_generator.state


def test_same_seed_same_draws_and_reseed_replays():
    seed = _seed()
    fs = []
    for _ in range(2):
        srng = RandomStreams(seed)
        fs.append((srng, theano.function([], [srng.uniform((3,)), srng.normal((2, 2))])))
    first = [f() for _, f in fs]
    np.testing.assert_array_equal(first[0][0], first[1][0])
    np.testing.assert_array_equal(first[0][1], first[1][1])
    srng, f = fs[0]
    srng.seed(seed)  # back to the start of every draw's stream
    again = f()
    np.testing.assert_array_equal(again[0], first[0][0])
    np.testing.assert_array_equal(again[1], first[0][1])
    srng.seed(seed + 1)
    assert not np.array_equal(f()[0], first[0][0])


def test_state_advances_once_per_call_and_matches_numpy():
    seed = _seed()
    srng = RandomStreams(seed)
    u = srng.uniform((4,), dtype="float64")
    rng_var, _ = srng.updates()[0]
    expect = copy_generator(rng_var.get_value(borrow=True))
    f = theano.function([], u)
    for _ in range(3):  # each call continues the generator where the last one stopped
        np.testing.assert_array_equal(f(), expect.random(4))
    assert _state(rng_var) == expect.bit_generator.state


def test_two_draws_are_independent_and_not_merged():
    srng = RandomStreams(_seed())
    a, b = srng.uniform((50,)), srng.uniform((50,))
    va, vb = theano.function([], [a, b])()
    assert not np.array_equal(va, vb)
    # the same op applied twice to one generator: merge must keep both nodes
    rng_var = srng.updates()[0][0]
    op = RandomVariable("uniform", "float64", 1)
    x1 = op(rng_var, (3,), 0.0, 1.0)[1]
    x2 = op(rng_var, (3,), 0.0, 1.0)[1]
    f = theano.function([], [x1, x2], no_default_updates=True)
    n_random = sum(isinstance(n.op, RandomVariable) for n in f.fgraph.toposort())
    assert n_random == 2


def test_no_default_updates_keeps_state():
    srng = RandomStreams(_seed())
    u = srng.uniform((5,))
    rng_var = srng.updates()[0][0]
    before = _state(rng_var)
    f = theano.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(f(), f())
    assert _state(rng_var) == before
    g = theano.function([], u, no_default_updates=[rng_var])  # the list form
    np.testing.assert_array_equal(g(), f())
    assert _state(rng_var) == before


def test_failed_call_leaves_state_unchanged():
    srng = RandomStreams(_seed())
    x = T.dmatrix("x")
    noisy = x + srng.normal(x.shape)
    out = T.dot(noisy, x)  # fails at run time for a non-square x
    rng_var = srng.updates()[0][0]
    f = theano.function([x], out)
    before = _state(rng_var)
    with pytest.raises(ValueError):
        f(np.ones((2, 3)))
    assert _state(rng_var) == before
    f(np.ones((2, 2)))
    assert _state(rng_var) != before


def test_op_copies_its_input_generator():
    rng = np.random.default_rng(_seed())
    before = rng.bit_generator.state
    op = RandomVariable("normal", "float64", 1)
    node = op.make_node(theano.shared(rng), (3,), 0.0, 1.0)
    new, sample = op.make_py_callable(node)(rng, np.array([3]), np.float64(0), np.float64(1))
    assert rng.bit_generator.state == before and new is not rng
    assert new.bit_generator.state != before and sample.shape == (3,)


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_statistics(mode):
    seed = _seed()
    srng = RandomStreams(seed)
    n = 40_000
    draws = [srng.uniform((n,), low=-1.0, high=3.0), srng.normal((n,), avg=2.0, std=0.5),
             srng.binomial((n,), n=1, p=0.3), srng.binomial((n,), n=5, p=0.4)]
    u, z, b1, b5 = theano.function([], draws, mode=mode)()
    expected = [(u, 1.0, 16 / 12), (z, 2.0, 0.25), (b1, 0.3, 0.21), (b5, 2.0, 1.2)]
    for values, mean, var in expected:
        # 6 standard errors: a false failure is (much) rarer than one in a million
        assert abs(values.mean() - mean) < 6 * np.sqrt(var / n), (seed, mean)
        assert abs(values.var() - var) < 0.05 * var, (seed, var)
    assert u.min() >= -1.0 and u.max() < 3.0
    assert set(np.unique(b1)) <= {0, 1} and b5.max() <= 5


def test_bernoulli_edges_are_exact():
    srng = RandomStreams(_seed())
    never, always = theano.function([], [srng.binomial((50_000,), p=0.0, dtype="int8"),
                                         srng.binomial((50_000,), p=1.0, dtype="int8")])()
    assert never.dtype == np.int8 and not never.any() and always.all()


def test_choice():
    srng = RandomStreams(_seed())
    without = srng.choice((10,), a=10, replace=False)
    weighted = srng.choice((20_000,), a=T.constant(np.array([2.5, 7.5])),
                           p=T.constant(np.array([0.25, 0.75])))
    scalar = srng.choice(a=3)
    w, v, s = theano.function([], [without, weighted, scalar])()
    assert sorted(w.tolist()) == list(range(10)) and w.dtype == np.int64
    assert v.dtype == np.float64 and set(np.unique(v)) <= {2.5, 7.5}
    assert abs((v == 7.5).mean() - 0.75) < 0.02
    assert s.shape == () and 0 <= s < 3


def test_symbolic_sizes_and_static_shapes():
    srng = RandomStreams(_seed())
    x = T.fmatrix("x")
    mask = srng.binomial(x.shape, p=0.8, dtype="float32")
    rows = srng.uniform((x.shape[0], 3))
    assert mask.type.shape == (None, None) and rows.type.shape == (None, 3)
    y = T.tensor("float32", (None, 4), name="y")
    assert srng.normal(y.shape).type.shape == (None, 4)
    f = theano.function([x], [x * mask, rows])
    dropped, r = f(np.ones((5, 7), dtype="float32"))
    assert dropped.shape == (5, 7) and dropped.dtype == np.float32 and r.shape == (5, 3)
    assert set(np.unique(dropped)) <= {0.0, 1.0}


def test_size_none_broadcasts_parameters():
    srng = RandomStreams(_seed())
    low = T.dvector("low")
    u = srng.uniform(low=low, high=low + 1.0)
    assert u.ndim == 1
    lo = np.array([0.0, 10.0, 20.0])
    out = theano.function([low], u)(lo)
    assert out.shape == (3,) and np.all((out >= lo) & (out < lo + 1))
    assert theano.function([], srng.normal())().shape == ()


def test_dtypes():
    srng = RandomStreams(_seed())
    floatx = theano.config.floatX
    assert srng.uniform((2,)).dtype == floatx
    assert srng.uniform((2,), dtype="float32").dtype == "float32"
    assert srng.normal((2,), dtype="floatX").dtype == floatx
    assert srng.uniform((2,), low=T.dscalar()).dtype == "float64"  # upcast with symbolic low
    assert srng.binomial((2,)).dtype == "int64"
    outs = theano.function([], [srng.uniform((3,), dtype="float32"),
                                srng.normal((3,), dtype="float32"),
                                srng.binomial((3,), p=0.5, dtype="float32"),
                                srng.binomial((3,), p=0.5, dtype="bool"),
                                srng.choice((3,), a=4, dtype="int32")])()
    assert [o.dtype.name for o in outs] == ["float32", "float32", "float32", "bool", "int32"]
    with pytest.raises(GraphError, match="float dtype"):
        srng.uniform((2,), dtype="int32")
    with pytest.raises(GraphError, match="cannot draw dtype"):
        srng.binomial((2,), dtype="complex128")


def test_gradient_through_a_dropout_mask():
    srng = RandomStreams(_seed())
    W = theano.shared(np.linspace(-1, 1, 6).reshape(2, 3), name="W")
    mask = srng.binomial(W.shape, p=0.5, dtype="float64")
    cost = (W * mask).sum()
    f = theano.function([], [mask, theano.grad(cost, W)])
    m, g = f()  # d cost / d W is the mask drawn in the same call
    np.testing.assert_array_equal(g, m)


def test_build_time_errors():
    srng = RandomStreams(0)
    with pytest.raises(GraphError, match="negative size"):
        srng.uniform((2, -1))
    with pytest.raises(GraphError, match=r"binomial: p must lie in \[0, 1\]"):
        srng.binomial((2,), p=1.5)
    with pytest.raises(GraphError, match="std must lie"):
        srng.normal((2,), std=-1.0)
    with pytest.raises(GraphError, match="unknown length"):
        srng.uniform(T.lvector("shp"))
    with pytest.raises(GraphError, match="ndim=3"):
        srng.uniform((2, 2), ndim=3)
    with pytest.raises(GraphError, match="1-d"):
        srng.choice((2,), a=T.dmatrix())
    with pytest.raises(GraphError, match="size must be"):
        srng.uniform("big")
    with pytest.raises(ValueError, match="seed"):
        RandomStreams(-3)
    with pytest.raises(GraphError, match="random generator"):
        RandomVariable("uniform", "float64", 1)(T.dvector(), (2,), 0.0, 1.0)


def test_run_time_size_errors():
    srng = RandomStreams(0)
    n = T.lscalar("n")
    low = T.dvector("low")
    f = theano.function([n, low], srng.uniform((n,), low=low, high=1.0))
    with pytest.raises(ValueError, match="negative size"):
        f(-2, np.zeros(1))
    with pytest.raises(ValueError, match="do not broadcast"):
        f(3, np.zeros(2))


def test_rng_of_a_draw_replays_its_sequence():
    srng = RandomStreams(_seed())
    u = srng.uniform((4,), dtype="float64")
    assert u.rng is srng.updates()[0][0] and u.update == (u.rng, srng.updates()[0][1])
    f = theano.function([], u)
    saved = copy_generator(u.rng.get_value())
    run = [f(), f()]
    u.rng.set_value(saved)
    np.testing.assert_array_equal(f(), run[0])
    np.testing.assert_array_equal(f(), run[1])
