"""``T.nnet``: activations, softmax, cross-entropies, ``conv2d``, ``dropout_dot`` and the fused GRU ops."""

from .basic import (  # re-exported as T.nnet.*
    CrossentropyCategorical1Hot, CrossentropySoftmax, LogSoftmax, OneHot,  # noqa: F401
    Softmax, binary_crossentropy, categorical_crossentropy, elu,  # noqa: F401
    hard_sigmoid, log_softmax, relu, sigmoid, sigmoid_binary_crossentropy,  # noqa: F401
    softmax, softplus, to_one_hot, ultra_fast_sigmoid)  # noqa: F401
from .dropout import dropout_dot  # noqa: F401
from .abstract_conv import conv2d, conv2d_transpose  # noqa: F401
from .composed import (crossentropy_softmax_1hot, crossentropy_softmax_1hot_with_bias,  # noqa
                       confusion_matrix, crossentropy_softmax_argmax_1hot_with_bias, h_softmax,
                       selu, softmax_with_bias, softsign)
from . import bn, neighbours  # noqa: F401,E402
from .gru import gru_sequence, gru_step  # noqa: F401
