"""``T.extra_ops``: helpers Theano kept outside the main namespace."""

from .nnet.basic import to_one_hot  # noqa: F401
from .shape import arange  # noqa: F401
