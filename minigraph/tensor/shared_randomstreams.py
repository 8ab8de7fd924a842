"""``RandomStreams``: Theano's symbolic random numbers (dropout masks, noise, sampling).

Each draw (``srng.uniform(...)``) makes its own shared variable holding a
``numpy.random.Generator`` and a :class:`~minigraph.tensor.random.RandomVariable` node that
reads it and returns ``(new generator, sample)``. The shared generator's ``default_update``
is the new generator, so every compiled function that uses the sample advances the state
once per call (unless compiled with ``no_default_updates=True``); the same seed gives the
same draws. Generators are seeded from one ``SeedSequence`` per stream, one child per draw
in creation order, so ``srng.seed(s)`` reproduces a whole model's randomness.
"""

import numbers

import numpy as np

from minigraph.compile.sharedvalue import shared
from minigraph.config import config
from minigraph.graph.basic import GraphError, Variable

from .basic import as_tensor_variable, constant
from .random import (RandomVariable, as_param, check_constant_range, check_ndim, float_dtype,
                     size_vector)


def _seed_sequence(seed):
    if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)
                             or seed < 0):
        raise ValueError(f"RandomStreams: seed must be a non-negative int or None, got {seed!r}")
    return np.random.SeedSequence(None if seed is None else int(seed))


class RandomStreams:
    """A source of symbolic random draws, each with its own shared generator.

    Parameters
    ----------
    seed : int or None
        Seeds every draw's generator (``None``: fresh entropy, not reproducible).

    Attributes
    ----------
    state_updates : list of (SharedVariable, Variable)
        Each draw's shared generator and the advanced generator its node returns.

    Examples
    --------
    >>> import numpy as np, minigraph as theano, minigraph.tensor as T
    >>> srng = RandomStreams(seed=42)
    >>> x = T.dmatrix("x")
    >>> mask = srng.binomial(x.shape, p=0.5, dtype=x.dtype)
    >>> f = theano.function([x], x * mask)
    >>> a, b = f(np.ones((2, 3))), f(np.ones((2, 3)))  # two calls, two masks
    >>> np.unique(np.concatenate([a, b])).tolist()
    [0.0, 1.0]
    """

    def __init__(self, seed=None):
        self.default_instance_seed = seed
        self._seeds = _seed_sequence(seed)
        self.state_updates = []

    def seed(self, seed=None):
        """Re-seed every generator made so far (``None``: the seed given at construction).

        Draw ``k`` gets the ``k``-th child of ``SeedSequence(seed)``, exactly as when the
        stream was built, so re-seeding with the construction seed replays the draws.
        """
        self._seeds = _seed_sequence(self.default_instance_seed if seed is None else seed)
        for rng, _ in self.state_updates:
            rng.set_value(self._new_generator(), borrow=True)

    def updates(self):
        """``[(shared generator, new generator)]`` for every draw (Theano's ``updates()``)."""
        return list(self.state_updates)

    def _new_generator(self):
        return np.random.default_rng(self._seeds.spawn(1)[0])

    def gen(self, op, size, *params):
        """Apply the random op ``op`` to a fresh shared generator; return the sample.

        The sample's ``.rng`` is that shared generator (``.rng.get_value()`` /
        ``set_value()`` save and restore its stream) and ``.update`` its update pair.
        """
        rng = shared(self._new_generator(), name=f"rng_{op.dist}_{len(self.state_updates)}")
        new_rng, sample = op(rng, size, *params)
        rng.default_update = new_rng
        self.state_updates.append((rng, new_rng))
        # Theano's handles on a draw: its shared generator and that generator's update
        sample.rng, sample.update = rng, (rng, new_rng)
        return sample

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None):
        """Samples uniform on ``[low, high)`` of shape ``size``.

        The draw is made in float32 for float32 (and smaller) dtypes, float64 otherwise;
        after scaling, a value just below ``high`` can round to ``high`` itself.

        Parameters
        ----------
        size : tuple of int / int scalar, int shape vector (``x.shape``), or None
            ``None``: the broadcast shape of ``low`` and ``high``.
        low, high : float or tensor
        ndim : int, optional
            Checked against the length of ``size`` (Theano compatibility).
        dtype : str, optional
            A float dtype; default floatX (upcast with symbolic ``low``/``high``).
        """
        dtype = float_dtype(dtype, [low, high], "uniform")
        params = [as_param(low, dtype, "uniform: low"), as_param(high, dtype, "uniform: high")]
        return self._draw("uniform", dtype, size, ndim, params)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None):
        """Gaussian samples with mean ``avg`` and standard deviation ``std``.

        Parameters are as for :meth:`uniform`; a constant ``std`` must be non-negative.
        """
        dtype = float_dtype(dtype, [avg, std], "normal")
        std_var = as_param(std, dtype, "normal: std")
        check_constant_range(std_var, 0, np.inf, "normal: std")
        params = [as_param(avg, dtype, "normal: avg"), std_var]
        return self._draw("normal", dtype, size, ndim, params)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64"):
        """Number of successes in ``n`` trials of probability ``p`` (``n=1``: 0/1 masks).

        Parameters
        ----------
        size : as for :meth:`uniform`
        n : int or int tensor
        p : float or float tensor, in ``[0, 1]``
        dtype : str
            The sample's dtype (``'int64'``; use ``x.dtype`` for a dropout mask).

        Examples
        --------
        >>> import minigraph.tensor as T
        >>> x = T.fmatrix("x")
        >>> dropped = x * RandomStreams(0).binomial(x.shape, p=0.8, dtype="float32") / 0.8
        """
        dtype = config.floatX if dtype == "floatX" else str(np.dtype(dtype))
        n_var = as_param(n, "int64", "binomial: n")
        # a symbolic float p keeps its dtype; anything else compares in float64
        p_float = isinstance(p, Variable) and np.dtype(getattr(p, "dtype", "O")).kind == "f"
        p_var = as_param(p, p.dtype if p_float else "float64", "binomial: p")
        check_constant_range(n_var, 0, np.inf, "binomial: n")
        check_constant_range(p_var, 0, 1, "binomial: p")
        return self._draw("binomial", dtype, size, ndim, [n_var, p_var])

    def choice(self, size=None, a=2, replace=True, p=None, ndim=None, dtype=None):
        """Samples from ``a`` (an int ``k`` means ``range(k)``, else a 1-d tensor).

        Parameters
        ----------
        size : as for :meth:`uniform`; ``None`` draws one scalar
        a : int, int scalar or 1-d tensor
        replace : bool
        p : 1-d float tensor, optional
            Probabilities of each entry of ``a`` (uniform if omitted).
        dtype : str, optional
            Default int64 for an int ``a``, else ``a``'s dtype.
        """
        a_var = as_tensor_variable(a) if isinstance(a, Variable) else constant(a)
        if a_var.ndim > 1:
            raise GraphError(f"choice: a must be an int or a 1-d tensor, got {a_var.ndim}-d")
        if a_var.ndim == 0 and np.dtype(a_var.dtype).kind not in "iu":
            raise GraphError(f"choice: a scalar a must be an int, got {a_var.type.short()}")
        if a_var.ndim == 0:
            check_constant_range(a_var, 1, np.inf, "choice: the pool size a")
        if dtype is None:
            dtype = "int64" if a_var.ndim == 0 else a_var.dtype
        params = [a_var]
        if p is not None:
            p_var = as_tensor_variable(p)
            if p_var.ndim != 1 or np.dtype(p_var.dtype).kind != "f":
                raise GraphError(f"choice: p must be a 1-d float tensor, got "
                                 f"{p_var.type.short()}")
            params.append(p_var)
        options = (("replace", bool(replace)),)
        return self._draw("choice", str(np.dtype(dtype)), () if size is None else size, ndim,
                          params, options)

    def _draw(self, dist, dtype, size, ndim, params, options=()):
        vec, vec_ndim = size_vector(size, params, dist, ndim)
        check_ndim(ndim, vec_ndim, dist)
        return self.gen(RandomVariable(dist, dtype, vec_ndim, options), vec, *params)
