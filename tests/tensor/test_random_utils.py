"""Tests for ``RandomStream`` (``theano.tensor.random.utils``): NumPy's argument order over
``RandomStreams`` draws, the same streams for the same seed, ``.rng``, ``seed``."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.tensor.random.utils import RandomStream
from minigraph.tensor.shared_randomstreams import RandomStreams


def test_numpy_argument_order_gives_the_classic_draws():
    seed = int(np.random.SeedSequence().entropy % 2**31)
    print(f"seed={seed}")
    new, classic = RandomStream(seed), RandomStreams(seed)
    pairs = [(new.normal(1.0, 2.0, size=(2, 3)), classic.normal((2, 3), avg=1.0, std=2.0)),
             (new.uniform(-1.0, 1.0, size=(4,)), classic.uniform((4,), low=-1.0, high=1.0)),
             (new.binomial(5, 0.3, size=(3,)), classic.binomial((3,), n=5, p=0.3)),
             (new.bernoulli(0.5, size=(3,)), classic.binomial((3,), p=0.5)),
             (new.choice(4, size=(2,), replace=False), classic.choice((2,), a=4, replace=False))]
    got = theano.function([], [a for a, _ in pairs] + [b for _, b in pairs])()
    for a, b in zip(got[:len(pairs)], got[len(pairs):]):
        np.testing.assert_array_equal(a, b)


def test_rng_updates_and_seed():
    srng = RandomStream(3)
    mu = T.dvector("mu")
    z = srng.normal(mu, 1.0)  # size from the parameters, as NumPy
    assert z.rng is srng.updates()[0][0] and srng.state_updates == srng.updates()
    f = theano.function([mu], z)
    first = f(np.zeros(5))
    assert first.shape == (5,) and not np.array_equal(f(np.zeros(5)), first)
    srng.seed()
    np.testing.assert_array_equal(f(np.zeros(5)), first)
    assert srng.default_instance_seed == 3
    with pytest.raises(GraphError, match="negative size"):
        srng.uniform(size=(-1,))
