"""The rewrite engine: declarative node rewriters, rule sets run to a fixed point, passes.

A *node rewriter* matches one node (indexed by the op class it tracks) and returns the
variables that replace the node's outputs, or ``None``. A :class:`RuleSet` runs its rewriters
over a graph with a worklist until nothing changes. A mode's pipeline is a plain ordered list
of named passes (``RuleSet`` or any object with ``name`` and ``apply(fgraph)``); a pass or a
single rule is switched off by name with ``Mode.excluding``.
"""

import time


class NodeRewriter:
    """One identity, e.g. ``log(softmax(x)) -> log_softmax(x)``.

    ``fn(fgraph, node)`` returns ``None`` (no match), a list of replacement variables (one
    per output of ``node``), or a dict ``{old variable: new variable}``.
    """

    def __init__(self, fn, tracks, name=None):
        self.fn = fn
        self.tracks = tuple(tracks) if tracks else None
        self.name = name or fn.__name__
        self.__doc__ = fn.__doc__

    def __call__(self, fgraph, node):
        return self.fn(fgraph, node)

    def __repr__(self):
        return f"NodeRewriter({self.name})"


def node_rewriter(tracks, name=None):
    """Decorator: ``@node_rewriter([Elemwise])`` turns a function into a :class:`NodeRewriter`."""

    def wrap(fn):
        return NodeRewriter(fn, tracks, name)

    return wrap


class RuleSet:
    """A named group of node rewriters applied to a fixed point (one graph pass).

    ``exclude`` names rewriters to skip. ``max_rounds`` guards against rewrites that undo
    each other.
    """

    def __init__(self, name, rewriters=(), max_rounds=50):
        self.name = name
        self.rewriters = list(rewriters)
        self.max_rounds = max_rounds

    def register(self, rewriter):
        self.rewriters.append(rewriter)
        return rewriter

    def names(self):
        return [r.name for r in self.rewriters]

    def _index(self, exclude):
        by_op, generic = {}, []
        for r in self.rewriters:
            if r.name in exclude:
                continue
            if r.tracks is None:
                generic.append(r)
            else:
                for t in r.tracks:
                    by_op.setdefault(t, []).append(r)
        return by_op, generic

    def apply(self, fgraph, exclude=frozenset(), stats=None):
        by_op, generic = self._index(exclude)
        for _ in range(self.max_rounds):
            changed = False
            for node in fgraph.toposort():
                if not any(fgraph.clients.get(o) for o in node.outputs):
                    continue  # dead: replaced by an earlier rewrite this round
                for r in _candidates(node.op, by_op, generic):
                    if _try(r, fgraph, node, stats):
                        changed = True
                        break
            if not changed:
                break
        fgraph.prune()


def _candidates(op, by_op, generic):
    found = []
    for cls in type(op).__mro__:
        found.extend(by_op.get(cls, ()))
    # a rewriter may also track an op *instance* (e.g. one scalar op of Elemwise)
    found.extend(by_op.get(op, ()) if _hashable(op) else ())
    return found + generic


def _hashable(x):
    try:
        hash(x)
        return True
    except TypeError:
        return False


def _try(rewriter, fgraph, node, stats):
    t0 = time.perf_counter()
    result = rewriter(fgraph, node)
    if stats is not None:
        rec = stats.setdefault(rewriter.name, [0, 0.0])
        rec[1] += time.perf_counter() - t0
    if not result:
        return False
    pairs = result.items() if isinstance(result, dict) else zip(node.outputs, result)
    pairs = [(old, new) for old, new in pairs if new is not None and new is not old]
    if not pairs:
        return False
    for old, new in pairs:
        if new.name is None and old.name is not None:
            new.name = old.name
        fgraph.replace(old, new, reason=rewriter.name)
    if stats is not None:
        stats[rewriter.name][0] += 1
    return True


class GraphPass:
    """A whole-graph pass given as a function ``fn(fgraph)`` (e.g. merge)."""

    def __init__(self, name, fn):
        self.name = name
        self.fn = fn

    def apply(self, fgraph, exclude=frozenset(), stats=None):
        t0 = time.perf_counter()
        n = self.fn(fgraph) or 0
        if stats is not None:
            rec = stats.setdefault(self.name, [0, 0.0])
            rec[0] += n
            rec[1] += time.perf_counter() - t0

    def names(self):
        return [self.name]

    def __repr__(self):
        return f"GraphPass({self.name})"
