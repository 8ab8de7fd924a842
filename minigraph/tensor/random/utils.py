"""``RandomStream``: the NumPy-style random stream of later Theano (``theano.tensor.random.utils``).

Its methods take NumPy's argument order, distribution parameters first and ``size`` last
(``srng.normal(0, 1, size=(2, 3))``), where ``RandomStreams`` (:mod:`..shared_randomstreams`)
takes Theano's classic order (``srng.normal((2, 3), avg=0, std=1)``). The draws themselves
are ``RandomStreams`` draws: each has a shared generator, ``.rng``, advanced once per call
and per ``scan`` step, and one seed reproduces them all.
"""

from ..shared_randomstreams import RandomStreams

__all__ = ["RandomStream"]


class RandomStream:
    """Symbolic random draws with NumPy's signatures.

    Parameters
    ----------
    seed : int or None
        Seeds every draw's generator (``None``: fresh entropy).
    namespace, rng_ctor : ignored
        Accepted for compatibility: generators are ``numpy.random.Generator`` objects.

    Examples
    --------
    >>> import minigraph as theano
    >>> srng = RandomStream(seed=7)
    >>> z = srng.normal(0.0, 2.0, size=(2, 3))
    >>> theano.function([], z)().shape
    (2, 3)
    """

    def __init__(self, seed=None, namespace=None, rng_ctor=None):
        self._streams = RandomStreams(seed)

    @property
    def state_updates(self):
        """``[(shared generator, new generator)]`` of every draw, in creation order."""
        return self._streams.state_updates

    @property
    def default_instance_seed(self):
        return self._streams.default_instance_seed

    def seed(self, seed=None):
        """Re-seed every draw made so far (``None``: the construction seed)."""
        self._streams.seed(seed)

    def updates(self):
        """``[(shared generator, new generator)]`` for every draw."""
        return self._streams.updates()

    def uniform(self, low=0.0, high=1.0, size=None, dtype=None):
        """Uniform samples on ``[low, high)``; ``size`` defaults to the parameters' shape."""
        return self._streams.uniform(size, low=low, high=high, dtype=dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=None):
        """Gaussian samples of mean ``loc`` and standard deviation ``scale``."""
        return self._streams.normal(size, avg=loc, std=scale, dtype=dtype)

    def binomial(self, n, p, size=None, dtype="int64"):
        """Successes in ``n`` trials of probability ``p``."""
        return self._streams.binomial(size, n=n, p=p, dtype=dtype)

    def bernoulli(self, p, size=None, dtype="int64"):
        """1 with probability ``p``, else 0."""
        return self._streams.binomial(size, n=1, p=p, dtype=dtype)

    def choice(self, a, size=None, replace=True, p=None, dtype=None):
        """Samples from ``a`` (an int ``k``: ``range(k)``), as ``numpy``'s ``choice``."""
        return self._streams.choice(size, a=a, replace=replace, p=p, dtype=dtype)
