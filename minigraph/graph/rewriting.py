"""The rewrite engine: pattern rules, rule sets run to a fixed point, passes.

A *rule* is a pattern and a replacement function: ``P("log", P("sigmoid", "x"))`` matches
``log(sigmoid(x))`` and captures ``x``; the function builds what replaces the matched node's
output from the captures (:func:`rule`). Rules that need more than a pattern can say (a walk
over a product's factors, say) are plain functions of a node (:func:`node_rewriter`). Either
kind is indexed by the op its pattern starts with, so a :class:`RuleSet` tries a rule only on
nodes it can match; a rule set runs its rules over a graph with a worklist until nothing
changes. A mode's pipeline is a plain ordered list of named passes (``RuleSet`` or any object
with ``name`` and ``apply(fgraph)``); a pass or a single rule is switched off by name with
``Mode.excluding``. ``docs/rewrites.md`` walks through adding a rule.

How an op is named in a pattern
-------------------------------
A pattern names its op by class (``P(Dot, "x", "w")``: any instance), by instance (equality,
so ``__props__`` count), or by a string, which is compared with the op's ``pattern_key``
attribute. This module knows nothing of tensors: ``tensor.Elemwise`` sets ``pattern_key`` to
its scalar op's name, which is how ``P("log", ...)`` finds ``log`` among all the Elemwise
nodes (and why an ``Elemwise`` that works in place, whose key is ``None``, is never matched).
"""

import inspect
import time


class P:
    """A pattern: a variable computed by ``op`` from inputs that match ``args``.

    Parameters
    ----------
    op : str, type, Op or tuple of these
        A string matches ``op.pattern_key`` (for ``Elemwise``, the scalar op's name); a class
        matches its instances; an op instance matches equal ops; a tuple matches any of them.
    *args : P, Where or str
        One pattern per input, in order; none: any inputs. A string captures the input under
        that name; a name used twice must be the same variable both times.
    name : str, optional
        Capture the matched variable itself under this name.
    commute : bool
        Also try the two inputs of a binary op the other way round (``add``, ``mul``).

    Examples
    --------
    >>> pattern = P("mul", "x", P("true_div", "y", "x"), commute=True)
    >>> pattern
    mul(x, true_div(y, x))
    """

    def __init__(self, op, *args, name=None, commute=False):
        self.ops = op if isinstance(op, tuple) else (op,)
        self.args = args or None
        self.name = name
        self.commute = commute

    def keys(self):
        """What a rule set indexes this pattern by: pattern keys, classes or op instances."""
        return self.ops

    def match(self, var, captures=None):
        """The captures (a new dict) of the first way ``var`` matches, else ``None``."""
        return next(self.matches(var, captures), None)

    def matches(self, var, captures=None):
        """Every way ``var`` matches (a commuted op may match twice), as capture dicts."""
        node = var.owner
        if node is None or not any(_op_is(node.op, o) for o in self.ops):
            return
        captures = dict(captures or {})
        if self.name is not None and not _bind(captures, self.name, var):
            return
        if self.args is None:
            yield captures
        elif len(self.args) == len(node.inputs):
            yield from _match_all(self.args, node.inputs, captures)
            if self.commute and len(node.inputs) == 2:
                yield from _match_all(self.args, node.inputs[::-1], captures)

    def __repr__(self):
        op = "|".join(o if isinstance(o, str) else getattr(o, "__name__", str(o))
                      for o in self.ops)
        args = "" if self.args is None else "(" + ", ".join(map(str, self.args)) + ")"
        return op + args + (f" as {self.name}" if self.name else "")


class Where:
    """A pattern leaf: any variable for which ``test(var)`` is true (e.g. a constant 1).

    >>> Where(lambda v: v.name == "w", "w")
    w?
    """

    def __init__(self, test, name=None):
        self.test = test
        self.name = name

    def __repr__(self):
        return (self.name or getattr(self.test, "__name__", "where")) + "?"


def is_op(var, op):
    """Whether ``var`` is computed by ``op``, named as in a pattern (key, class or instance).

    >>> from minigraph.graph.basic import Variable
    >>> is_op(Variable(None, name="leaf"), "add")
    False
    """
    ops = op if isinstance(op, tuple) else (op,)
    return var.owner is not None and any(_op_is(var.owner.op, o) for o in ops)


def _op_is(op, want):
    if isinstance(want, str):
        return getattr(op, "pattern_key", None) == want
    if isinstance(want, type):
        return isinstance(op, want)
    return op == want


def _bind(captures, name, var):
    if name in captures:
        return captures[name] is var
    captures[name] = var
    return True


def _match_all(patterns, inputs, captures):
    if not patterns:
        yield captures
        return
    for found in _match_one(patterns[0], inputs[0], captures):
        yield from _match_all(patterns[1:], inputs[1:], found)


def _match_one(pattern, var, captures):
    if isinstance(pattern, P):
        yield from pattern.matches(var, captures)
        return
    if isinstance(pattern, Where):
        if not pattern.test(var):
            return
        name = pattern.name
    else:
        name = pattern
    found = dict(captures)
    if name is None or _bind(found, name, var):
        yield found


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
    """Decorator: ``@node_rewriter([Scan])`` turns a function into a :class:`NodeRewriter`.

    ``tracks`` lists what the rewriter is tried on: op classes, op instances or pattern keys
    (``["mul"]``: every Elemwise multiplication); ``None``: every node.
    """

    def wrap(fn):
        return NodeRewriter(fn, tracks, name)

    return wrap


class PatternRewriter(NodeRewriter):
    """A rule: ``patterns`` that may match a node's output, and a replacement ``fn``.

    Each match (of each pattern, in order) is offered to ``fn`` until it returns a
    replacement. ``fn`` receives the captures by name (and the ``fgraph`` or the ``node`` if
    it has a parameter so named) and returns the replacement of the node's output, a list
    (one per output), or ``None`` (no rewrite). ``fit(new, old)`` adapts a replacement to the old
    variable's type, or returns ``None`` when it cannot (the rule then does not fire).
    """

    def __init__(self, patterns, fn, name=None, fit=None):
        keys = []
        for p in patterns:
            keys.extend(k for k in p.keys() if k not in keys)
        super().__init__(self._rewrite, keys, name or fn.__name__)
        self.patterns = tuple(patterns)
        self.replace_fn = fn
        self.fit = fit
        self.__doc__ = fn.__doc__
        params = inspect.signature(fn).parameters
        self._wants = [k for k in ("fgraph", "node") if k in params]

    def _rewrite(self, fgraph, node):
        context = {"fgraph": fgraph, "node": node}
        for pattern in self.patterns:
            for captures in pattern.matches(node.outputs[0]):
                captures.update((k, context[k]) for k in self._wants)
                new = self._fitted(self.replace_fn(**captures), node)
                if new is not None:
                    return new
        return None

    def _fitted(self, new, node):
        if new is None or isinstance(new, dict):
            return new
        if not isinstance(new, (list, tuple)):
            new = [new]
        if self.fit is None:
            return new
        fitted = [n if n is None else self.fit(n, o) for n, o in zip(new, node.outputs)]
        if any(f is None and n is not None for f, n in zip(fitted, new)):
            return None  # a replacement that cannot take the old type: no rewrite
        return fitted


def rule(*patterns, name=None, fit=None):
    """Decorator: a pattern rule (:class:`PatternRewriter`) named after the function.

    Examples
    --------
    >>> @rule(P("neg", P("neg", "x")))
    ... def double_neg(x):  # -(-x) -> x
    ...     return x
    >>> double_neg.name, double_neg.tracks
    ('double_neg', ('neg',))
    """

    def wrap(fn):
        return PatternRewriter(patterns, fn, name, fit)

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
    # a rewriter may also track an op *instance*, or the op's pattern key (a scalar op's name)
    found.extend(by_op.get(op, ()) if _hashable(op) else ())
    key = getattr(op, "pattern_key", None)
    if key is not None:
        found.extend(by_op.get(key, ()))
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
