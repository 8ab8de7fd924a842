"""``theano.tensor.signal``: pooling (``pool.pool_2d``) and its old home ``downsample``."""

from . import downsample, pool  # noqa: F401
