"""The :class:`Op` base class: what an operation means, in one class.

An op defines ``make_node`` (types, static shapes, build-time errors), ``perform`` (the NumPy
reference), ``grad`` (symbolic) and optionally ``infer_shape``. Equality and hashing come from
the declared ``__props__``, so the merge rewrite de-duplicates equal nodes with no per-op code.
Backend code does not live here: the linker asks ``make_py_callable`` for a fast callable and
rewrites swap nodes for faster ops.
"""

from .basic import Apply, GraphError


class Op:
    """Base class for operations.

    Subclasses set ``__props__`` (names of attributes that define the op), implement
    ``make_node(*inputs) -> Apply`` and ``perform(node, inputs, output_storage)``, and where
    differentiable ``grad(inputs, outputs, output_grads) -> list`` (one entry per input: a
    Variable, or ``None`` when the input gets no gradient).
    """

    __props__ = ()
    #: outputs that are views of inputs: {output index: [input index]}
    view_map = {}
    #: outputs written into inputs: {output index: [input index]}
    destroy_map = {}

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        name = type(self).__name__
        if not self.__props__:
            return name
        return f"{name}{{{', '.join(str(p) for p in self._props())}}}"

    __repr__ = __str__

    def make_node(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__}.make_node")

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def perform(self, node, inputs, output_storage):
        """Compute outputs with NumPy: write each into ``output_storage[i][0]``.

        Ops define ``perform`` or ``make_py_callable``; this default runs the latter, so an
        op that has a fast callable needs no second implementation.
        """
        if type(self).make_py_callable is Op.make_py_callable:
            raise NotImplementedError(f"{type(self).__name__}.perform (define perform or "
                                      f"make_py_callable)")
        result = self.make_py_callable(node)(*inputs)
        if len(output_storage) == 1:
            output_storage[0][0] = result
        else:
            for cell, value in zip(output_storage, result):
                cell[0] = value

    def grad(self, inputs, outputs, output_grads):
        raise GraphError(f"{self} has no gradient implemented")

    def infer_shape(self, node, input_shapes):
        """Symbolic output shapes from symbolic input shapes (tuples of scalar variables)."""
        raise NotImplementedError

    def make_py_callable(self, node):
        """A callable ``f(*input_values)`` returning the output value (a tuple if several).

        The linker calls it once per node at compile time; the default wraps ``perform``.
        Ops override it to skip the storage-cell protocol on hot paths.
        """
        n_out = len(node.outputs)
        perform = self.perform
        if n_out == 1:
            def run(*args):
                cell = [None]
                perform(node, args, [cell])
                return cell[0]
        else:
            def run(*args):
                cells = [[None] for _ in range(n_out)]
                perform(node, args, cells)
                return tuple(c[0] for c in cells)
        return run


def make_apply(op, inputs, outputs):
    """Build an ``Apply`` (helper for ``make_node`` implementations)."""
    return Apply(op, inputs, outputs)
