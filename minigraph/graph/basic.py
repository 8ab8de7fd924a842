"""The graph's nodes: :class:`Variable`, :class:`Constant`, :class:`Apply`, and walks over them.

A graph is bipartite: variables are produced by at most one ``Apply`` (their ``owner``) and
consumed by any number. Every ``Apply`` remembers the line of *user* code that created it
(the first stack frame outside minigraph), so errors and printouts can point there.
"""

import functools
import itertools
import os
import sys

from minigraph.config import config as _config

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Frames in these folders are library frames; the first frame outside them is the user's line.
_PACKAGE_DIRS = (os.path.join(_ROOT, "minigraph") + os.sep, os.path.join(_ROOT, "kernels") + os.sep)
_ids = itertools.count()


def user_line():
    """Return ``"file:line"`` of the innermost stack frame outside the minigraph package.

    ``make_node`` frames are skipped too, so a node built by an op defined in user code
    points at the line that applied the op, not at the op's own definition.
    """
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        fname = code.co_filename
        if not _is_library(fname) and code.co_name != "make_node":
            return f"{fname}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


@functools.lru_cache(maxsize=None)
def _is_library(fname):
    """Whether a code file belongs to minigraph or kernels (or is frozen). The path is
    normalised: imported through a ``sys.path`` entry such as ``benchmarks/..`` (what the
    benchmark scripts add), a module's file name keeps the ``..``."""
    return fname.startswith("<frozen") or os.path.normpath(fname).startswith(_PACKAGE_DIRS)


def with_user_line(msg):
    """``msg`` followed by ``" (at file:line)"`` of the user's code, unless already there."""
    line = user_line()
    return msg if line in msg else f"{msg} (at {line})"


class UserLineError:
    """Mixin for exceptions about the user's own mistakes: a single message argument gets
    the user's ``file:line`` appended, so every such error points at the code to fix."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str):
            args = (with_user_line(args[0]),)
        super().__init__(*args)


class GraphError(UserLineError, Exception):
    """An error in how a graph was built; the message names the user's line."""


def where(node_or_var):
    """A short ``" (created at file:line)"`` suffix for error messages."""
    node = node_or_var.owner if isinstance(node_or_var, Variable) else node_or_var
    if node is None or getattr(node, "trace", None) is None:
        return ""
    return f" (created at {node.trace})"


class Tag(dict):
    """Free-form notes on a variable or node, readable as keys or as attributes
    (Theano's ``x.tag.test_value = value``). Setting ``test_value`` on a variable's tag
    checks and converts the value with the variable's type."""

    def __init__(self, variable=None):
        super().__init__()
        object.__setattr__(self, "_variable", variable)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"tag has no {name!r}") from None

    def __setattr__(self, name, value):
        if name == "test_value" and self._variable is not None:
            from .testvalues import filter_test_value  # cycle: testvalues imports this module

            value = filter_test_value(self._variable, value)
        self[name] = value

    def __delattr__(self, name):
        self.pop(name, None)


class Variable:
    """A symbolic value of a given ``type``, produced by ``owner.outputs[index]`` or a leaf.

    Parameters
    ----------
    type : Type
        What values it can hold (e.g. a ``TensorType``).
    owner : Apply or None
        The node computing it; ``None`` for inputs, constants and shared variables.
    index : int or None
        Its position in ``owner.outputs``.
    name : str or None
        A name for printouts and error messages.
    """

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.id = next(_ids)
        self.tag = Tag(self)

    def clone(self):
        """A new leaf variable of the same type and name (no owner)."""
        return self.type.make_variable(name=self.name)

    def __str__(self):
        if self.name is not None:
            return self.name
        if self.owner is not None:
            op = self.owner.op
            suffix = f".{self.index}" if len(self.owner.outputs) > 1 else ""
            return f"{op}{suffix}"
        return f"<{self.type}>"

    def __repr__(self):
        return str(self)

    def describe(self):
        """``name`` if set, else a description like ``"output 0 of Elemwise{add}"``."""
        return self.name or str(self)

    def eval(self, inputs_to_values=None):
        """Compile (and cache) a function of this variable's inputs and evaluate it.

        >>> import minigraph.tensor as T
        >>> x = T.dscalar("x")
        >>> float((x * 2).eval({x: 3.0}))
        6.0
        """
        from minigraph.compile.function import function  # compile/ sits above graph/

        inputs_to_values = inputs_to_values or {}
        for k in inputs_to_values:
            if not isinstance(k, Variable):
                raise GraphError(f"eval: the keys of the dict must be symbolic variables, got "
                                 f"{k!r}")
        keys = sorted(inputs_to_values, key=lambda v: v.id)
        cache = self.tag.setdefault("_eval_cache", {})
        key = tuple(k.id for k in keys)
        if key not in cache:
            cache[key] = function(keys, self, on_unused_input="ignore")
        return cache[key](*[inputs_to_values[k] for k in keys])


class Constant(Variable):
    """A leaf variable holding a fixed value ``data``; equal data means equal constants."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = data

    def signature(self):
        d = self.data
        return (self.type, getattr(d, "shape", ()), getattr(d, "tobytes", lambda: d)())

    def clone(self):
        return type(self)(self.type, self.data, self.name)

    def __str__(self):
        if self.name is not None:
            return self.name
        d = self.data
        if getattr(d, "size", 1) <= 4:
            text = str(d.tolist()) if hasattr(d, "tolist") else str(d)
        else:
            text = f"{type(d).__name__}{getattr(d, 'shape', '')}"
        return text


class Apply:
    """One application of ``op`` to ``inputs``, producing ``outputs``.

    ``trace`` is the user's ``file:line`` that created the node.
    """

    def __init__(self, op, inputs, outputs, trace=None):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, out in enumerate(self.outputs):
            out.owner = self
            out.index = i
        self.trace = trace if trace is not None else user_line()
        self.tag = Tag()
        if _config._values["compute_test_value"] != "off":  # Theano's eager test values
            from .testvalues import compute_test_values  # cycle, as above

            compute_test_values(self)

    @property
    def out(self):
        """The single output (error if there are several)."""
        if len(self.outputs) != 1:
            raise GraphError(f"{self.op} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    def clone_with_new_inputs(self, inputs):
        """Rebuild the node through ``op.make_node`` (types re-inferred), keeping the trace."""
        node = self.op.make_node(*inputs)
        node.trace = self.trace
        return node

    def __str__(self):
        return f"{self.op}({', '.join(map(str, self.inputs))})"

    __repr__ = __str__


def ancestors(outputs, blockers=()):
    """All variables that ``outputs`` depend on (inclusive), stopping at ``blockers``."""
    blockers = set(blockers)
    seen, stack, order = set(), list(outputs), []
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        order.append(v)
        if v.owner is not None and v not in blockers:
            stack.extend(v.owner.inputs)
    return order


def graph_inputs(outputs, blockers=()):
    """The leaves (owner-less variables, or blockers) that ``outputs`` depend on."""
    blockers = set(blockers)
    return [v for v in ancestors(outputs, blockers) if v.owner is None or v in blockers]


def toposort(outputs, blockers=()):
    """Apply nodes needed for ``outputs``, each after the nodes producing its inputs."""
    blockers = set(blockers)
    order, done = [], set()
    for out in outputs:
        stack = [(out, False)]
        while stack:
            v, expanded = stack.pop()
            node = v.owner
            if node is None or v in blockers or node in done:
                continue
            if expanded:
                done.add(node)
                order.append(node)
                continue
            stack.append((v, True))
            for inp in reversed(node.inputs):
                if inp.owner is not None and inp.owner not in done and inp not in blockers:
                    stack.append((inp, False))
    return order


def is_in_ancestors(var, candidates):
    """True when ``var`` depends on any variable in ``candidates``."""
    candidates = set(candidates)
    return any(v in candidates for v in ancestors([var]))


def clone_replace(outputs, replace=None, memo=None):
    """Copy the graph of ``outputs`` with ``replace`` = {old variable: new variable} applied.

    Nodes that depend on nothing replaced are shared, not copied. A ``memo`` dict, when
    given, is filled with every {old variable: new variable} pair the copy made (and the
    replacements), so several copies can share their work.
    """
    replace = dict(replace or {})
    memo = {} if memo is None else memo
    memo.update(replace)
    for node in toposort(outputs, blockers=replace):
        new_inputs = [memo.get(i, i) for i in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new_node = node.clone_with_new_inputs(new_inputs)
        for old, new in zip(node.outputs, new_node.outputs):
            if new.name is None:
                new.name = old.name
            memo[old] = new
    return [memo.get(o, o) for o in outputs]
