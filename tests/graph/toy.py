"""Toy ops for testing the graph machinery on its own (no tensor op families involved).

Values are Python floats held in a scalar ``TensorType``; each op is a few lines, so a test
failure points at the machinery, not at an op.
"""

import numpy as np

from minigraph.graph.basic import Apply, Variable
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType

SCALAR = TensorType("float64", shape=())


def var(name):
    """A fresh toy input."""
    return Variable(SCALAR, name=name)


class Add(Op):
    """a + b (+ ``offset``, a parameter that makes two Adds different ops)."""

    __props__ = ("offset",)

    def __init__(self, offset=0.0):
        self.offset = offset

    def make_node(self, a, b):
        return Apply(self, [a, b], [SCALAR()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.float64(inputs[0] + inputs[1] + self.offset)

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0], output_grads[0]]


class Mul(Op):
    """a * b."""

    def make_node(self, a, b):
        return Apply(self, [a, b], [SCALAR()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.float64(inputs[0] * inputs[1])


class DivMod(Op):
    """Two outputs: a // b and a % b."""

    def make_node(self, a, b):
        return Apply(self, [a, b], [SCALAR(), SCALAR()])

    def perform(self, node, inputs, output_storage):
        q, r = divmod(inputs[0], inputs[1])
        output_storage[0][0], output_storage[1][0] = np.float64(q), np.float64(r)


class Draw(Op):
    """A pretend random draw: never merged or folded."""

    nondeterministic = True

    def make_node(self, a):
        return Apply(self, [a], [SCALAR()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.float64(inputs[0])


add, mul, divmod_ = Add(), Mul(), DivMod()
