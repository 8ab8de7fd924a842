"""``FunctionGraph``: a private copy of a graph between given inputs and outputs.

Compilation clones the user's graph into a ``FunctionGraph`` so that rewrites may replace
variables freely without touching what the user holds. It keeps, for every variable, its
*clients* (the nodes reading it), which rewrites need to know whether a value dies.
"""

from .basic import Constant, GraphError, ancestors, toposort


class FunctionGraph:
    """A graph from ``inputs`` to ``outputs``; leaves that are not inputs must be constants
    or shared variables (both are owner-less variables kept as they are).

    Parameters
    ----------
    inputs, outputs : list of Variable
    clone : bool
        Copy the nodes between inputs and outputs (default) so rewrites do not modify the
        caller's graph. ``self.memo`` maps original variables to their copies.
    """

    def __init__(self, inputs, outputs, clone=True):
        self.memo = {}
        if clone:
            inputs, outputs = self._clone(inputs, outputs)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.history = []  # (rewrite name, node) for profiling and printouts
        self._rebuild_clients()

    def _clone(self, inputs, outputs):
        memo = {i: i for i in inputs}
        for node in toposort(outputs, blockers=inputs):
            new_inputs = [memo.get(v, v) for v in node.inputs]
            new_outputs = [o.type.make_variable(name=o.name) for o in node.outputs]
            cls = type(node)
            new_node = cls.__new__(cls)
            new_node.__dict__.update(node.__dict__)
            new_node.inputs, new_node.outputs = new_inputs, new_outputs
            new_node.tag = dict(node.tag)
            for i, (old, new) in enumerate(zip(node.outputs, new_outputs)):
                new.owner, new.index, new.tag = new_node, i, dict(old.tag)
                new.tag.pop("_eval_cache", None)
                memo[old] = new
        self.memo = memo
        return inputs, [memo.get(o, o) for o in outputs]

    def _rebuild_clients(self):
        self.clients = {}
        for v in ancestors(self.outputs, blockers=self.inputs):
            self.clients.setdefault(v, [])
        for node in self.toposort():
            for i, v in enumerate(node.inputs):
                self.clients.setdefault(v, []).append((node, i))
            for o in node.outputs:
                self.clients.setdefault(o, [])
        for i, o in enumerate(self.outputs):
            self.clients.setdefault(o, []).append(("output", i))

    def toposort(self):
        """The schedule: a topological order in which ops marked ``schedule_early`` run right
        after their inputs exist: cheap readers of metadata (``Shape``), so they don't keep a
        big array alive until the backward pass asks for its shape, and ops that turn a big
        array into a small one (a weight gradient), so the big one dies early."""
        order = toposort(self.outputs, blockers=self.inputs)
        if not any(getattr(n.op, "schedule_early", False) for n in order):
            return order
        index = {n: k for k, n in enumerate(order)}
        after = {}  # a node (None: the start) -> early nodes that become ready right after it
        for n in order:
            if getattr(n.op, "schedule_early", False):
                owners = [i.owner for i in n.inputs if i.owner in index]
                last = max(owners, key=index.__getitem__, default=None)
                after.setdefault(last, []).append(n)
        out = []

        def emit(n):  # n, then the early nodes waiting for it (which may wait for each other)
            out.append(n)
            for m in after.get(n, ()):
                emit(m)

        for m in after.get(None, ()):
            emit(m)
        for n in order:
            if not getattr(n.op, "schedule_early", False):
                emit(n)
        return out

    @property
    def apply_nodes(self):
        return self.toposort()

    def variables(self):
        return ancestors(self.outputs, blockers=self.inputs)

    def replace(self, old, new, reason=None):
        """Make every client of ``old`` read ``new`` instead (types must be compatible)."""
        if old is new:
            return
        if old.type != new.type and not _compatible(old.type, new.type):
            raise GraphError(
                f"rewrite {reason or '?'} replaced {old} of type {old.type} by {new} "
                f"of an incompatible type {new.type}"
            )
        moved = self.clients.pop(old, [])
        self._register(new)
        for client, i in moved:
            if client == "output":
                self.outputs[i] = new
            else:
                client.inputs[i] = new
        self.clients[new].extend(moved)
        self.clients.setdefault(old, [])
        if reason is not None:
            self.history.append((reason, old))

    def _register(self, var):
        """Add the nodes of a replacement's new subgraph to ``clients``."""
        new_nodes, stack, seen = [], [var], set()
        while stack:
            v = stack.pop()
            if v in self.clients or v in seen:
                continue
            seen.add(v)
            if v.owner is not None and v not in self.inputs and v.owner not in new_nodes:
                new_nodes.append(v.owner)
                stack.extend(v.owner.inputs)
        self.clients.setdefault(var, [])
        for node in new_nodes:
            for o in node.outputs:
                self.clients.setdefault(o, [])
            for i, inp in enumerate(node.inputs):
                self.clients.setdefault(inp, []).append((node, i))

    def prune(self):
        """Forget nodes no longer reachable from the outputs (exact client lists again)."""
        self._rebuild_clients()

    def replace_all(self, pairs, reason=None):
        for old, new in pairs:
            self.replace(old, new, reason)

    def constants(self):
        return [v for v in self.variables() if isinstance(v, Constant)]

    def __str__(self):
        return f"FunctionGraph({len(self.toposort())} nodes, outputs={self.outputs})"


def _compatible(a, b):
    """A replacement may refine a static shape but not change dtype or rank."""
    return (
        getattr(a, "dtype", None) == getattr(b, "dtype", None)
        and getattr(a, "ndim", None) == getattr(b, "ndim", None)
    )
