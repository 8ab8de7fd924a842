"""``T.nnet``: activations, softmax, cross-entropies, ``dropout_dot`` and the fused GRU ops."""

from .basic import (  # re-exported as T.nnet.*
    CrossentropyCategorical1Hot, CrossentropySoftmax, LogSoftmax, OneHot,  # noqa: F401
    Softmax, binary_crossentropy, categorical_crossentropy, elu,  # noqa: F401
    hard_sigmoid, log_softmax, relu, sigmoid, sigmoid_binary_crossentropy,  # noqa: F401
    softmax, softplus, to_one_hot, ultra_fast_sigmoid)  # noqa: F401
from .dropout import dropout_dot  # noqa: F401
from .gru import gru_sequence, gru_step  # noqa: F401
