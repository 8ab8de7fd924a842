"""Shared helpers of the tensor rewrite tests: compile with only some passes, list ops."""

import minigraph as theano
from minigraph.compile.mode import Mode


def _compile(inputs, out, *passes, exclude=()):
    return theano.function(inputs, out, mode=Mode("test", passes=["merge", *passes],
                                                  exclude=exclude))


def _ops(f):
    return [str(n.op) for n in f.fgraph.toposort()]


def _classes(f):
    return [type(n.op) for n in f.fgraph.toposort()]
