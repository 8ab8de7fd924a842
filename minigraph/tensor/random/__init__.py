"""Random-number ops: one :class:`RandomVariable` op over a table of distributions.

A draw is a node ``(rng, size, *params) -> (new_rng, sample)``. The generator (a
``numpy.random.Generator``) comes in as a value and an advanced *copy* of it comes out;
nothing is mutated in place. That keeps three things simple: a function that fails half-way
leaves its shared generators as they were, the state advances only through an ordinary
update (``RandomStreams`` makes it the shared generator's ``default_update``), and a scan
body can thread the generator through its steps like any other carried value.

The ops are marked ``nondeterministic`` so merge and constant folding leave them alone.
Adding a distribution is one row of ``DISTRIBUTIONS``: the parameter names, the dtype
kinds it can produce, and a NumPy sampler ``f(rng, shape, dtype, *params, **options)``.
Users normally reach these ops through :class:`minigraph.tensor.shared_randomstreams.
RandomStreams` (or its NumPy-order twin ``RandomStream`` in :mod:`.utils`). The helpers
that turn a user's ``size``, parameters and ``dtype`` into variables (``size_vector``,
``as_param``, ``float_dtype``, ``check_*``) serve ``MRG_RandomStreams``
(``minigraph/sandbox/rng_mrg.py``) too, so both kinds of stream accept and refuse the same
arguments.
"""

from collections import namedtuple

import numpy as np

from minigraph.config import config
from minigraph.graph.basic import Apply, Constant, GraphError, Variable, where
from minigraph.graph.op import Op
from minigraph.graph.type import GenericType, TensorType

from ..basic import as_tensor_variable, constant, is_weak, upcast
from ..math import cast
from ..shape import Shape, as_shape_vector, specify_shape, static_shape_of

#: a distribution: parameter names, allowed output dtype kinds, the NumPy sampler, and
#: whether the parameters broadcast against the size (``choice``'s pool does not)
Distribution = namedtuple("Distribution", "params kinds sample broadcasts")

# a seeded SeedSequence makes bit-generator construction cheap (no OS entropy read); the
# state is overwritten right after, so the seed itself never matters
_CHEAP_SEED = np.random.SeedSequence(0)


def copy_generator(rng):
    """An independent ``Generator`` in the same state as ``rng`` (about 10 us)."""
    bit = type(rng.bit_generator)(_CHEAP_SEED)
    bit.state = rng.bit_generator.state
    return np.random.Generator(bit)


def _float_for(dtype):
    # Generator.random / standard_normal make float32 or float64 only
    return np.float32 if np.dtype(dtype).itemsize <= 4 else np.float64


def _uniform(rng, shape, dtype, low, high):
    u = rng.random(shape, dtype=_float_for(dtype))
    return np.asarray(low + (high - low) * u, dtype=dtype)


def _normal(rng, shape, dtype, avg, std):
    z = rng.standard_normal(shape, dtype=_float_for(dtype))
    return np.asarray(avg + std * z, dtype=dtype)


def _binomial(rng, shape, dtype, n, p):
    if n.ndim == 0 and n == 1:  # a Bernoulli draw (dropout masks): a comparison is faster
        # float32 uniforms (multiples of 2**-24) take half the random bits and memory of
        # float64 ones; P(u < p) is then off from p by less than 6e-8
        return np.asarray(rng.random(shape, dtype=np.float32) < p, dtype=dtype)
    return np.asarray(rng.binomial(n, p, size=shape), dtype=dtype)


def _choice(rng, shape, dtype, a, p=None, replace=True):
    pool = int(a) if a.ndim == 0 else a
    return np.asarray(rng.choice(pool, size=shape, replace=replace, p=p), dtype=dtype)


DISTRIBUTIONS = {
    "uniform": Distribution(("low", "high"), "f", _uniform, True),
    "normal": Distribution(("avg", "std"), "f", _normal, True),
    "binomial": Distribution(("n", "p"), "biuf", _binomial, True),
    "choice": Distribution(("a", "p"), "biuf", _choice, False),
}


def _run_shape(size, params, broadcasts):
    """The size vector as a tuple, checked against the parameters' shapes."""
    shape = tuple(int(s) for s in size)
    if any(s < 0 for s in shape):
        raise ValueError(f"random draw: negative size {shape}")
    if broadcasts and any(p.ndim for p in params):
        got = [p.shape for p in params]
        try:
            ok = np.broadcast_shapes(shape, *got) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"random draw: parameters of shapes {got} do not broadcast "
                             f"to the requested size {shape}")
    return shape


class RandomVariable(Op):
    """Draw from distribution ``dist``: ``(rng, size, *params) -> (new_rng, sample)``.

    Parameters
    ----------
    dist : str
        A key of ``DISTRIBUTIONS``.
    dtype : str
        The sample's dtype.
    ndim : int
        Length of the size vector (the sample's rank).
    options : tuple of (str, value) pairs
        Static keyword options of the sampler (``(("replace", False),)`` for ``choice``).
    """

    __props__ = ("dist", "dtype", "ndim", "options")
    nondeterministic = True  # two draws are two draws: merge and folding must skip them

    def __init__(self, dist, dtype, ndim, options=()):
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"unknown distribution {dist!r}; known: {sorted(DISTRIBUTIONS)}")
        self.dist, self.dtype, self.ndim = dist, str(np.dtype(dtype)), int(ndim)
        self.options = tuple(options)
        if np.dtype(self.dtype).kind not in DISTRIBUTIONS[dist].kinds:
            raise GraphError(f"{dist}: cannot draw dtype {self.dtype}")

    def __str__(self):
        return f"RandomVariable{{{self.dist}, {self.dtype}}}"

    def make_node(self, rng, size, *params):
        if not isinstance(rng, Variable) or not isinstance(rng.type, GenericType):
            raise GraphError(f"{self.dist}: the first input must be a symbolic random "
                             f"generator, got {rng!r}")
        size, shape = sample_size(size, self.ndim, self.dist)
        params = [as_tensor_variable(p) for p in params]
        outputs = [GenericType(rng.type.kind)(), TensorType(self.dtype, shape=shape)()]
        return Apply(self, [rng, size] + params, outputs)

    def make_py_callable(self, node):
        dist, dtype = DISTRIBUTIONS[self.dist], np.dtype(self.dtype)
        sample, broadcasts, options = dist.sample, dist.broadcasts, dict(self.options)

        def run(rng, size, *params):
            new = copy_generator(rng)
            shape = _run_shape(size, params, broadcasts)
            return new, sample(new, shape, dtype, *params, **options)

        return run

    def perform(self, node, inputs, output_storage):
        new, value = self.make_py_callable(node)(*inputs)
        output_storage[0][0] = new
        output_storage[1][0] = value

    def grad(self, inputs, outputs, output_grads):
        return [None] * len(inputs)  # samples are not differentiated (no reparameterisation)


def static_sample_shape(size, ndim):
    """What is known at build time of the shape of a sample drawn with size vector ``size``."""
    if size.owner is not None and isinstance(size.owner.op, Shape):
        return size.owner.inputs[0].type.shape  # srng.binomial(x.shape, ...)
    return static_shape_of(size, ndim)


def sample_size(size, ndim, what):
    """A sampling op's ``size`` input checked in ``make_node``: ``(int vector, static shape)``.

    ``what`` names the op in the error when ``size`` is not a vector of length ``ndim``.
    """
    size = as_shape_vector(size)
    if size.type.shape != (ndim,):
        raise GraphError(f"{what}: the size vector must have length {ndim}, got "
                         f"{size.type.short()}{where(size)}")
    return size, static_sample_shape(size, ndim)


def size_vector(size, params, what, ndim=None):
    """``(size vector, ndim)`` from a user's ``size`` (None: the parameters' broadcast).

    ``ndim`` (Theano's) gives the length of a symbolic size vector whose length is not
    known statically; it is checked when the function runs.
    """
    if isinstance(size, np.ndarray) and size.ndim <= 1:
        size = tuple(size.tolist()) if size.ndim else size.item()
    if size is None:
        ndim = max([p.ndim for p in params] + [0])
        if ndim == 0:
            return as_shape_vector(()), 0
        total = params[0]
        for p in params[1:]:
            total = total + p  # only its shape is used: the broadcast of the parameters
        return total.shape, ndim
    if isinstance(size, Variable):
        if size.ndim == 1 and size.type.shape[0] is None and ndim is not None:
            size = specify_shape(size, (ndim,))  # srng.uniform(shp, ndim=2), shp a vector
        elif size.ndim == 1 and size.type.shape[0] is None:
            raise GraphError(f"{what}: the size vector {size.describe()} has an unknown "
                             f"length; give ndim=... or size as a tuple (x.shape[0], "
                             f"x.shape[1])")
    elif isinstance(size, (list, tuple)):
        for s in size:
            if not isinstance(s, (Variable, int, np.integer)):
                raise GraphError(f"{what}: size entries must be ints or int scalars, "
                                 f"got {s!r}")
            if isinstance(s, (int, np.integer)) and s < 0:
                raise GraphError(f"{what}: negative size {tuple(size)}")
    elif isinstance(size, (int, np.integer)):
        if size < 0:
            raise GraphError(f"{what}: negative size {size}")
    else:
        raise GraphError(f"{what}: size must be a tuple of ints / int scalars or a shape "
                         f"vector, got {type(size).__name__}")
    vec = as_shape_vector(size)
    return vec, vec.type.shape[0]


def as_param(value, dtype, what):
    """A draw parameter as a tensor of ``dtype`` (Python numbers become typed constants)."""
    if isinstance(value, Variable):
        var = as_tensor_variable(value)
        if np.dtype(var.dtype).kind not in "biuf":
            raise GraphError(f"{what} must be numeric, got {var.type.short()}")
        return cast(var, dtype)
    try:
        return constant(np.asarray(value, dtype=dtype))
    except (TypeError, ValueError):
        raise GraphError(f"{what} must be a number or a tensor, got {value!r}") from None


def float_dtype(dtype, params, what):
    """The sample dtype: ``dtype``, else floatX upcast with the symbolic parameters'."""
    if dtype is None:
        strong = [as_tensor_variable(p).dtype for p in params if not is_weak(p)]
        dtype = upcast(config.floatX, *[d for d in strong if np.dtype(d).kind == "f"])
    dtype = config.floatX if dtype == "floatX" else str(np.dtype(dtype))
    if np.dtype(dtype).kind != "f":
        raise GraphError(f"{what}: dtype must be a float dtype, got {dtype}")
    return dtype


def check_ndim(ndim, vec_ndim, what):
    """Raise when a user's ``ndim`` disagrees with the length of the size vector."""
    if ndim is not None and ndim != vec_ndim:
        raise GraphError(f"{what}: ndim={ndim} does not match the size's length {vec_ndim}")


def check_constant_range(var, lo, hi, what):
    """Raise at build time when a constant parameter lies outside ``[lo, hi]``."""
    if isinstance(var, Constant):
        data = np.asarray(var.data)
        if data.size and (np.any(data < lo) or np.any(data > hi) or np.any(data != data)):
            raise GraphError(f"{what} must lie in [{lo}, {hi}], got {data.tolist()}")
