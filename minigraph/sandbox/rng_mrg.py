"""``MRG_RandomStreams``: Theano's MRG31k3p random streams (``theano.sandbox.rng_mrg``).

Every draw gets its own *stream* of the MRG31k3p generator (:mod:`.mrg31k3p`), split into
``nstreams`` substreams: a shared int32 matrix of ``(nstreams, 6)`` states, the draw's
``.rng``. One primitive, :class:`MRGUniform`, turns a state matrix into
``(new states, uniforms in (0, 1))`` (:mod:`.mrg_op`).
The other distributions are built from it with ordinary tensor ops, as Theano builds them:
``normal`` by Box-Muller, ``binomial`` by comparing with ``p``, ``multinomial`` and
``choice`` by the ops of :mod:`.multinomial`.

The state's ``default_update`` is the new state, so each call of a compiled function (and
each step of a ``scan`` whose step function draws) advances it; the streams of one
``MRG_RandomStreams`` follow from its seed alone: draw ``k`` starts ``k * 2**134`` steps
into the seed's sequence and its substreams ``2**72`` apart.

Samples carry no gradient: the parameters (``low``, ``avg``, ``p``, ...) enter through
``disconnected_grad``, as Theano marks them with ``undefined_grad``.
"""

import numpy as np

from minigraph import tensor as T
from minigraph.config import config
from minigraph.gradient import disconnected_grad
from minigraph.graph.basic import Constant, GraphError, Variable
from minigraph.tensor.random import (as_param, check_constant_range, check_ndim, float_dtype,
                                     size_vector)
from minigraph.tensor.shape import as_shape_vector

from . import mrg31k3p
from .mrg_op import MRGUniform, guess_n_streams, mrg_uniform  # noqa: F401 (Theano's names)
from .multinomial import ChoiceFromUniform, MultinomialFromUniform

__all__ = ["MRG_RandomStreams", "MRGUniform", "mrg_uniform", "guess_n_streams"]


def _seed_state(seed):
    """The 6-int base state of a seed: an int (repeated 6 times) or 6 ints."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if not 0 < seed < mrg31k3p.M2:
            raise ValueError(f"MRG_RandomStreams: an int seed must be in [1, {mrg31k3p.M2}), "
                             f"got {seed}")
        return np.full(6, seed, dtype=np.int32)
    try:
        state = np.asarray(seed, dtype=np.int64)
    except (TypeError, ValueError):
        state = None
    if state is None or state.shape != (6,):
        raise TypeError(f"MRG_RandomStreams: seed must be an int or 6 ints, got {seed!r}")
    mrg31k3p.check_seed_state(state)
    return state.astype(np.int32)


def _tag(sample, rng, new_rng):
    """Theano's handles on a draw: ``sample.rng`` (its shared state) and its update."""
    sample.rng = sample.rstate = rng
    sample.update = (rng, new_rng)
    return sample


def _free_param(value, dtype, what):
    """A parameter as a tensor of ``dtype`` that gradients do not flow back through."""
    var = as_param(value, dtype, what)
    return var if isinstance(var, Constant) else disconnected_grad(var)


def _is_number(value, number):
    return not isinstance(value, Variable) and np.ndim(value) == 0 and value == number


class MRG_RandomStreams:
    """Symbolic random draws from MRG31k3p streams (``theano.sandbox.rng_mrg``).

    Parameters
    ----------
    seed : int, 6 ints, or None
        An int in ``[1, 2147462579)`` is repeated six times; six ints are a generator state
        (the first three ``< 2147483647``, the last three ``< 2147462579``, neither three
        all 0). ``None`` picks a fresh seed (not reproducible).
    use_cuda : ignored
        Accepted for Theano compatibility.

    Attributes
    ----------
    rstate : ndarray of 6 int32
        Where the next draw's stream starts.
    state_updates : list of (SharedVariable, Variable)
        Each draw's shared state and its advanced value; ``updates()`` returns them.

    Examples
    --------
    >>> import numpy as np, minigraph as theano, minigraph.tensor as T
    >>> srng = MRG_RandomStreams(seed=234)
    >>> x = T.dmatrix("x")
    >>> corrupted = srng.binomial(size=x.shape, n=1, p=0.7, dtype="float64") * x
    >>> f = theano.function([x], corrupted)
    >>> a, b = f(np.ones((3, 4))), f(np.ones((3, 4)))  # a new mask on every call
    >>> sorted(np.unique(np.concatenate([a, b])).tolist())
    [0.0, 1.0]
    """

    def __init__(self, seed=12345, use_cuda=None):
        self.state_updates = []
        self._n_streams = []  # substreams of each draw, in creation order (for seed())
        if seed is None:  # fresh entropy, kept so that seed() replays this run's draws
            seed = int(np.random.SeedSequence().entropy % (mrg31k3p.M2 - 1)) + 1
        self.default_instance_seed = seed
        self.set_rstate(seed)

    def set_rstate(self, seed):
        """Set where the next draw's stream starts (``seed`` as for the constructor)."""
        self.rstate = _seed_state(seed)

    def seed(self, seed=None):
        """Re-seed every draw made so far (``None``: the construction seed).

        Draw ``k`` gets the stream it would get as the ``k``-th draw of
        ``MRG_RandomStreams(seed)``, so re-seeding with the same seed replays every draw.
        """
        self.set_rstate(self.default_instance_seed if seed is None else seed)
        for (rng, _), n in zip(self.state_updates, self._n_streams):
            rng.set_value(self.get_substream_rstates(n), borrow=True)

    def inc_rstate(self):
        """Move ``rstate`` ``2**134`` steps ahead: the start of the next stream."""
        jump = mrg31k3p.jump_matrices(134)
        self.rstate = mrg31k3p.apply_jump(jump, self.rstate).astype(np.int32)

    def get_substream_rstates(self, n_streams, dtype=None, inc_rstate=True):
        """``(n_streams, 6)`` int32 states ``2**72`` steps apart, from ``rstate``.

        ``dtype`` is accepted for Theano compatibility; ``inc_rstate`` moves ``rstate`` on
        to the next stream afterwards.
        """
        rows = mrg31k3p.substreams(self.rstate, int(n_streams))
        if inc_rstate:
            self.inc_rstate()
        return rows

    def n_streams(self, size):
        """The default number of substreams of a draw of ``size``."""
        return guess_n_streams(size)

    def updates(self):
        """``[(shared state, new state)]`` for every draw made so far."""
        return list(self.state_updates)

    def _unit(self, size_vec, ndim, dtype, nstreams, what):
        """A fresh stream's uniforms in (0, 1): ``(sample, shared state, new state)``."""
        from minigraph.compile.sharedvalue import shared

        if nstreams is None:
            nstreams = self.n_streams(size_vec)
        elif not isinstance(nstreams, (int, np.integer)) or isinstance(nstreams, bool) \
                or nstreams < 1:
            raise GraphError(f"{what}: nstreams must be a positive int, got {nstreams!r}")
        if dtype not in ("float32", "float64"):
            raise GraphError(f"{what}: MRG draws are float32 or float64, got dtype {dtype}")
        states = self.get_substream_rstates(nstreams)
        rng = shared(states, name=f"mrg_rstate_{len(self.state_updates)}", borrow=True,
                     shape=(None, 6))
        new_rng, u = MRGUniform(dtype, ndim)(rng, size_vec)
        rng.default_update = new_rng
        self.state_updates.append((rng, new_rng))
        self._n_streams.append(int(nstreams))
        return u, rng, new_rng

    def _size(self, size, params, ndim, what):
        vec, vec_ndim = size_vector(size, params, what, ndim)
        check_ndim(ndim, vec_ndim, what)
        return vec, vec_ndim

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        """Samples uniform on the open interval ``(low, high)`` (rounding may reach a bound).

        Parameters
        ----------
        size : tuple of ints / int scalars, an int vector (``x.shape``), or None
            The sample's shape; ``None``: the broadcast shape of ``low`` and ``high``.
        low, high : float or tensor
        ndim : int, optional
            Checked against the length of ``size``.
        dtype : str, optional
            float32 or float64; default floatX, upcast with symbolic ``low``/``high``.
        nstreams : int, optional
            Number of substreams (default: one per six samples, at most 15360).

        Examples
        --------
        >>> import minigraph as theano
        >>> u = MRG_RandomStreams(seed=12345).uniform((2,), dtype="float64")
        >>> theano.function([], u)().round(4).tolist()
        [0.7353, 0.2586]
        """
        dtype = float_dtype(dtype, [low, high], "uniform")
        vec, vec_ndim = self._size(size, [low, high], ndim, "uniform")
        u, rng, new = self._unit(vec, vec_ndim, dtype, nstreams, "uniform")
        if _is_number(low, 0) and _is_number(high, 1):
            return _tag(u, rng, new)
        low_v = _free_param(low, dtype, "uniform: low")
        high_v = _free_param(high, dtype, "uniform: high")
        r = u * (high_v - low_v) + low_v
        if r.ndim != u.ndim:
            raise GraphError(f"uniform: low/high have more dimensions ({r.ndim}) than size "
                             f"({u.ndim}); give a size that covers them")
        return _tag(r, rng, new)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None):
        """Number of successes in ``n`` trials of probability ``p`` (``n=1``: 0/1 masks).

        A trial succeeds when a floatX uniform falls below ``p``. ``n`` is an int >= 1;
        ``size`` as for :meth:`uniform` (``None``: ``p``'s shape).

        Examples
        --------
        >>> import minigraph.tensor as T
        >>> x = T.fmatrix("x")
        >>> srng = MRG_RandomStreams(seed=1)
        >>> dropped = x * srng.binomial(size=x.shape, p=0.8, dtype="float32")
        """
        dtype = config.floatX if dtype == "floatX" else str(np.dtype(dtype))
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise GraphError(f"binomial: n must be an int >= 1, got {n!r}")
        p_dtype = p.dtype if isinstance(p, Variable) and np.dtype(p.dtype).kind == "f" \
            else config.floatX
        p_var = _free_param(p, p_dtype, "binomial: p")
        check_constant_range(p_var, 0, 1, "binomial: p")
        vec, vec_ndim = self._size(size, [p], ndim, "binomial")
        if n > 1:  # n trials as a leading axis of uniforms, summed
            vec = T.join(0, T.as_tensor_variable(np.array([n], dtype="int64")), vec)
        u, rng, new = self._unit(vec, vec_ndim + (n > 1), config.floatX, nstreams, "binomial")
        hits = u < p_var
        out = T.cast(hits, dtype) if n == 1 else T.cast(hits.sum(axis=0), dtype)
        return _tag(out, rng, new)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False):
        """Gaussian samples of mean ``avg`` and standard deviation ``std`` (Box-Muller).

        Pairs of uniforms ``(u1, u2)`` become ``sqrt(-2 log u1) * (cos, sin)(2 pi u2)``:
        the first half of the samples takes the cosines, the second half the sines.

        Parameters
        ----------
        size, ndim, dtype, nstreams : as for :meth:`uniform`
        avg, std : float or tensor
        truncate : bool
            Keep samples within 2 standard deviations: a sample outside gets a new radius
            drawn in ``[0, 2]`` (from a second stream), keeping its angle, as Theano does.
            The result's standard deviation is then below ``std`` (about ``0.89 std``).

        Examples
        --------
        >>> import minigraph as theano
        >>> z = MRG_RandomStreams(seed=3).normal((1000,), avg=2.0, std=0.5, dtype="float64")
        >>> bool(abs(theano.function([], z)().mean() - 2.0) < 0.1)
        True
        """
        dtype = float_dtype(dtype, [avg, std], "normal")
        std_v = _free_param(std, dtype, "normal: std")
        check_constant_range(std_v, 0, np.inf, "normal: std")
        vec, vec_ndim = self._size(size, [avg, std], ndim, "normal")
        z, rng, new = self._standard_normal(vec, vec_ndim, dtype, nstreams, truncate)
        if not (_is_number(avg, 0) and _is_number(std, 1)):
            z = _free_param(avg, dtype, "normal: avg") + std_v * z
            if z.ndim != vec_ndim:
                raise GraphError(f"normal: avg/std have more dimensions ({z.ndim}) than size "
                                 f"({vec_ndim}); give a size that covers them")
        return _tag(z, rng, new)

    def _standard_normal(self, vec, ndim, dtype, nstreams, truncate):
        """Box-Muller samples of shape ``vec``: ``(sample, shared state, new state)``."""
        if isinstance(vec, Constant):
            count = int(np.prod(vec.data, dtype=np.int64))
        else:
            count = T.prod(vec, dtype="int64")
        even = count + count % 2  # one pair of uniforms gives two samples
        guess = (even,) if isinstance(even, int) else vec
        nstreams = self.n_streams(guess) if nstreams is None else nstreams
        u, rng, new = self._unit(as_shape_vector([even]), 1, dtype, nstreams, "normal")
        half = even // 2
        radius = T.sqrt(-2.0 * T.log(u[:half]))
        angle = np.asarray(2 * np.pi, dtype=dtype) * u[half:]
        z0, z1 = radius * T.cos(angle), radius * T.sin(angle)
        if truncate:
            v, _, _ = self._unit(as_shape_vector([even]), 1, dtype, nstreams, "normal")
            low = np.asarray(np.exp(-2.0), dtype=dtype)
            # u in [e**-2, 1) gives a radius in (0, 2], so |r cos| and |r sin| stay <= 2
            r_fix = T.sqrt(-2.0 * T.log(low + (1 - low) * v))
            z0 = T.switch(abs(z0) > 2, r_fix[:half] * T.cos(angle), z0)
            z1 = T.switch(abs(z1) > 2, r_fix[half:] * T.sin(angle), z1)
        return T.reshape(T.join(0, z0, z1)[:count], vec, ndim=ndim), rng, new

    def truncated_normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None):
        """``normal(..., truncate=True)``: samples within 2 standard deviations of ``avg``."""
        return self.normal(size, avg, std, ndim, dtype, nstreams, truncate=True)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64",
                    nstreams=None):
        """Counts of ``n`` categorical draws from each row of ``pvals``.

        Parameters
        ----------
        size, ndim : None
            Not used (Theano's signature); the output has ``pvals``'s shape.
        n : int or int scalar
            Draws per row; each output row sums to ``n``.
        pvals : matrix (or vector) of floats
            One probability vector per row; rows must sum to 1 (checked when run).
        dtype : str
            The counts' dtype.

        Examples
        --------
        >>> import minigraph as theano
        >>> srng = MRG_RandomStreams(seed=5)
        >>> counts = srng.multinomial(n=10, pvals=[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
        >>> theano.function([], counts)().tolist()
        [[0, 10, 0], [10, 0, 0]]
        """
        pvals = self._pvals(pvals, size, ndim, "multinomial")
        n_var = T.as_tensor_variable(n)
        if n_var.ndim != 0 or np.dtype(n_var.dtype).kind not in "iu":
            raise GraphError(f"multinomial: n must be an int, got {n!r}")
        check_constant_range(n_var, 1, np.inf, "multinomial: n")
        matrix = pvals if pvals.ndim == 2 else pvals.dimshuffle("x", 0)
        unis, rng, new = self._row_uniforms(matrix, n, nstreams, "multinomial")
        counts = MultinomialFromUniform(dtype)(matrix, unis, n_var)
        return _tag(counts if pvals.ndim == 2 else counts[0], rng, new)

    def choice(self, size=1, a=None, replace=True, p=None, ndim=None, dtype="int64",
               nstreams=None):
        """``size`` category indices drawn from each row of ``p`` (Theano's MRG ``choice``).

        Parameters
        ----------
        size : int or int scalar
            Samples per row; without replacement at most the row's number of categories of
            non-zero probability.
        a : None
            Must be None: the samples are indices ``0 .. p.shape[1] - 1``.
        replace : bool
            ``False`` draws distinct indices per row (Theano implements only this mode);
            ``True`` draws independently.
        p : matrix (or vector) of floats
            One probability vector per row; rows must sum to 1 (checked when run).
        dtype : str

        Returns
        -------
        A ``(p.shape[0], size)`` int tensor (``(size,)`` for a vector ``p``).

        Examples
        --------
        >>> import minigraph as theano
        >>> srng = MRG_RandomStreams(seed=5)
        >>> picks = srng.choice(size=3, replace=False, p=[[0.2, 0.3, 0.5]])
        >>> sorted(theano.function([], picks)()[0].tolist())
        [0, 1, 2]
        """
        if a is not None:
            raise GraphError("choice: a must be None for MRG_RandomStreams; the samples are "
                             "indices 0 .. p.shape[1]-1 of the probabilities p")
        p = self._pvals(p, None, ndim, "choice")
        size_var = T.as_tensor_variable(size)
        if size_var.ndim != 0 or np.dtype(size_var.dtype).kind not in "iu":
            raise GraphError(f"choice: size must be an int or an int scalar (samples per row), "
                             f"got {size!r}")
        check_constant_range(size_var, 0, np.inf, "choice: size")
        matrix = p if p.ndim == 2 else p.dimshuffle("x", 0)
        unis, rng, new = self._row_uniforms(matrix, size, nstreams, "choice")
        picks = ChoiceFromUniform(dtype, replace)(matrix, unis, size_var)
        return _tag(picks if p.ndim == 2 else picks[0], rng, new)

    def multinomial_wo_replacement(self, size=None, n=1, pvals=None, ndim=None, dtype="int64",
                                   nstreams=None):
        """``choice(size=n, replace=False, p=pvals)`` (Theano's older name for it)."""
        if size is not None:
            raise GraphError("multinomial_wo_replacement: size is not used; n gives the "
                             "number of samples per row")
        return self.choice(size=n, a=None, replace=False, p=pvals, ndim=ndim, dtype=dtype,
                           nstreams=nstreams)

    def _pvals(self, pvals, size, ndim, what):
        if pvals is None:
            name = "p" if what == "choice" else "pvals"
            raise GraphError(f"{what}: give the probabilities ({name}=...), one row per draw")
        if size is not None or ndim is not None:
            raise GraphError(f"{what}: size and ndim are not used (the output's shape follows "
                             f"the probabilities); leave them out")
        var = T.as_tensor_variable(pvals)
        if var.ndim not in (1, 2) or np.dtype(var.dtype).kind != "f":
            raise GraphError(f"{what}: probabilities must be a float matrix (one row per draw) "
                             f"or vector, got {var.type.short()}")
        return var if isinstance(var, Constant) else disconnected_grad(var)

    def _row_uniforms(self, matrix, per_row, nstreams, what):
        """Uniforms for ``per_row`` samples of every row of ``matrix``."""
        rows = matrix.type.shape[0]
        if rows is not None and isinstance(per_row, (int, np.integer)):
            count = rows * int(per_row)
        else:
            count = matrix.shape[0] * T.as_tensor_variable(per_row).astype("int64")
        guess = (count,) if isinstance(count, int) else None
        nstreams = self.n_streams(guess) if nstreams is None else nstreams
        dtype = matrix.dtype if matrix.dtype in ("float32", "float64") else "float64"
        return self._unit(as_shape_vector([count]), 1, dtype, nstreams, what)
