"""Compilation modes: the compiler pipeline, written out as one ordered list of named passes.

:data:`PIPELINE` below is every pass ``function()`` can run, top to bottom in the order it
runs them. ``FAST_RUN`` runs all of them; ``FAST_COMPILE`` only merges duplicates; ``DEBUG``
runs ``FAST_COMPILE`` with checks after every node and compares each call against
``FAST_RUN``. A mode is a value: ``mode.excluding("fusion")``, ``mode.including("fusion")``
and ``mode.register(my_pass, before="fusion")`` return new modes and leave the original as it
was. Every pass module is imported here, at the top, so a broken one is an import error, not
a pass silently missing from the pipeline. See ``docs/architecture.md`` for the life of a
graph through these passes.
"""

from minigraph.config import config
from minigraph.graph.basic import with_user_line
from minigraph.graph.passes import CONSTANT_FOLDING, MERGE
from minigraph.scan.gru_rewrite import GRU_PASS
from minigraph.scan.rewrites import SCAN
from minigraph.tensor.fusion import FUSION
from minigraph.tensor.inplace import INPLACE, REUSE_BUFFERS
from minigraph.tensor.rewriting import CANONICALIZE, GEMM, SPECIALIZE, STABILIZE, USELESS

#: Every pass, in the order FAST_RUN runs them.
PIPELINE = (
    MERGE,             # one copy of each duplicate constant and node
    CANONICALIZE,      # x * 1 -> x, x + 0 -> x, --x -> x
    CONSTANT_FOLDING,  # nodes of constants computed once, at compile time
    STABILIZE,         # log(softmax(x)) -> log_softmax(x), and other precision fixes
    SPECIALIZE,        # x ** 2 -> sqr(x)
    GRU_PASS,          # a scan whose body is a GRU cell -> the fused GRU kernels; reads the
                       # loop bodies as written, so it comes before the other scan rewrites
    SCAN,              # prune unused loop outputs, hoist loop-invariant work out of loops
    USELESS,           # no zeros filled and copied for inc_subtensor, no sum of a sum
    GEMM,              # dot(x, W) + b -> one DotAdd node, W - lr * dot(x, g) -> one Gemm; after
                       # SCAN (whose hoisting makes a weight gradient's product) and USELESS
                       # (which drops the zeros that gradient was added to)
    FUSION,            # chains of elementwise ops -> one compiled loop each
    INPLACE,           # an elementwise node overwrites an input that dies there; reads the
                       # final schedule, so only REUSE_BUFFERS (which adds no node) may follow
    REUSE_BUFFERS,     # fused kernels' short-lived results come from the shared workspace
)

#: Theano's linker names; minigraph has one linker (``compile/linker.py``), which serves all
LINKERS = ("py", "c", "c|py", "c|py_nogc", "cvm", "cvm_nogc", "vm", "vm_nogc")

#: Theano's optimizer names -> the names of the passes they run (None: all of PIPELINE)
OPTIMIZERS = {"fast_run": None, "default": None, "fast_compile": ("merge",),
              "merge": ("merge",), "None": (), None: ()}


_UNSET = object()  # Theano's optimizer=None means "no passes", so None cannot mean "not given"


class Mode:
    """A named pipeline of passes, with an exclusion set of pass or rewrite names.

    Parameters
    ----------
    name : str
    passes : list of str or pass objects, optional
        The passes to run, in order: names from :data:`PIPELINE`, or pass objects (anything
        with ``name`` and ``apply(fgraph, exclude, stats)``). Default: all of PIPELINE.
    exclude : iterable of str
        Pass names or individual rewrite names to skip.
    check : {None, 'nan', 'debug'}
        Extra per-node checks at run time.
    linker, optimizer : str, optional
        Theano's ``Mode(linker='cvm', optimizer='fast_run')``: every linker name in
        :data:`LINKERS` means minigraph's one linker; an optimizer name from
        :data:`OPTIMIZERS` chooses the passes. ``Mode('cvm', 'fast_run')`` works positionally
        too: a first argument that is a linker name is read as Theano's.
    reference : Mode, optional
        With ``check='debug'``: the mode whose graph each call is compared against
        (default FAST_RUN); see :func:`minigraph.compile.debugmode.DebugMode`.

    Examples
    --------
    >>> [p.name for p in Mode("mine", passes=["merge", "fusion"]).pipeline()]
    ['merge', 'fusion']
    >>> [p.name for p in Mode(linker="cvm", optimizer="fast_compile").pipeline()]
    ['merge']
    """

    def __init__(self, name="FAST_RUN", passes=None, exclude=(), check=None,
                 nan_is_error=True, inf_is_error=True, big_is_error=False, *, linker=None,
                 optimizer=_UNSET, reference=None):
        if isinstance(name, str) and name in LINKERS and linker is None:
            # Theano's positional Mode(linker, optimizer)
            linker, name = name, "Mode"
            if isinstance(passes, str) or passes is None:
                optimizer, passes = passes if passes is not None else "fast_run", None
        if linker is not None and linker not in LINKERS:
            raise ValueError(with_user_line(f"Mode: unknown linker {linker!r}; Theano's "
                                            f"names {list(LINKERS)} all mean minigraph's "
                                            f"linker"))
        if optimizer is not _UNSET or linker is not None:
            passes = _optimizer_passes("fast_run" if optimizer is _UNSET else optimizer)
        self.name = name
        self.passes = PIPELINE if passes is None else tuple(_as_pass(p) for p in passes)
        self.exclude = frozenset(exclude)
        self.check = check
        self.reference = reference
        self.nan_is_error, self.inf_is_error, self.big_is_error = (
            nan_is_error, inf_is_error, big_is_error)

    def pipeline(self):
        """The pass objects this mode runs, in order."""
        return [p for p in self.passes if p.name not in self.exclude]

    def _copy(self, **changes):
        kw = dict(name=self.name, passes=self.passes, exclude=self.exclude,
                  check=self.check, nan_is_error=self.nan_is_error,
                  inf_is_error=self.inf_is_error, big_is_error=self.big_is_error,
                  reference=self.reference)
        kw.update(changes)
        new = type(self).__new__(type(self))
        Mode.__init__(new, **kw)
        return new

    def excluding(self, *names):
        """A copy of this mode without the passes or rewrites named.

        Examples
        --------
        >>> "fusion" in [p.name for p in FAST_RUN.excluding("fusion").pipeline()]
        False
        """
        return self._copy(exclude=self.exclude | set(names))

    def including(self, *names):
        """A copy of this mode with the named passes (back) in.

        A name excluded earlier is allowed again; a pass of :data:`PIPELINE` this mode does
        not run is added at its place in the pipeline; ``'fast_run'`` adds them all (Theano's
        ``mode.including('fast_run')``).

        Examples
        --------
        >>> [p.name for p in FAST_COMPILE.including("canonicalize").pipeline()]
        ['merge', 'canonicalize']
        """
        wanted = set()
        for n in names:
            group = OPTIMIZERS[n.lower()] if n.lower() in OPTIMIZERS else (n,)
            wanted.update(_pass_names() if group is None else group)
        have = {p.name for p in self.passes}
        added = [p for p in PIPELINE if p.name in wanted and p.name not in have]
        passes = list(self.passes)
        for p in added:  # each after the last pass that precedes it in PIPELINE
            order = _pass_names()
            before = [i for i, q in enumerate(passes)
                      if q.name in order and order.index(q.name) < order.index(p.name)]
            passes.insert(before[-1] + 1 if before else 0, p)
        return self._copy(passes=passes, exclude=self.exclude - wanted)

    def register(self, pass_, before=None, after=None):
        """A copy of this mode that also runs ``pass_`` (a pass object).

        Parameters
        ----------
        pass_ : RuleSet, GraphPass or any object with ``name`` and ``apply``
        before, after : str, optional
            Name of the pass to put it before or after. By default it goes before
            ``fusion`` (after every algebraic rewrite), or last when this mode has no fusion.
            Passes after ``inplace`` must not change the graph's nodes.

        Examples
        --------
        >>> from minigraph.graph.rewriting import RuleSet
        >>> mode = FAST_COMPILE.register(RuleSet("mine", []), after="merge")
        >>> [p.name for p in mode.pipeline()]
        ['merge', 'mine']
        """
        pass_ = _as_pass(pass_)
        names = [p.name for p in self.passes]
        if before is not None and after is not None:
            raise ValueError(with_user_line("Mode.register: give before= or after=, not both"))
        anchor = before if before is not None else after
        if anchor is not None and anchor not in names:
            raise ValueError(with_user_line(f"Mode.register: this mode has no pass {anchor!r}; "
                                            f"its passes: {names}"))
        if after is not None:
            at = names.index(after) + 1
        elif before is not None:
            at = names.index(before)
        else:
            at = names.index("fusion") if "fusion" in names else len(names)
        return self._copy(passes=[*self.passes[:at], pass_, *self.passes[at:]])

    def __repr__(self):
        ex = f", excluding {sorted(self.exclude)}" if self.exclude else ""
        return f"Mode({self.name}{ex})"


def _pass_names():
    return [p.name for p in PIPELINE]


def _as_pass(p):
    """A pass object for a name of PIPELINE, or ``p`` itself when it is a pass object."""
    if isinstance(p, str):
        for known in PIPELINE:
            if known.name == p:
                return known
        raise ValueError(with_user_line(f"unknown passes [{p!r}]; known: {_pass_names()}"))
    if not (isinstance(getattr(p, "name", None), str) and callable(getattr(p, "apply", None))):
        raise TypeError(with_user_line(f"a pass needs a name and an apply(fgraph, exclude, "
                                       f"stats) method (a RuleSet or GraphPass), got {p!r}"))
    return p


def _optimizer_passes(optimizer):
    key = optimizer.lower() if isinstance(optimizer, str) and optimizer != "None" else optimizer
    if key not in OPTIMIZERS:
        names = [k for k in OPTIMIZERS if k is not None]
        raise ValueError(with_user_line(f"Mode: unknown optimizer {optimizer!r}; use one of "
                                        f"{names} or None"))
    return OPTIMIZERS[key]


FAST_RUN = Mode("FAST_RUN")
FAST_COMPILE = Mode("FAST_COMPILE", passes=["merge"])
DEBUG = Mode("DEBUG", passes=["merge"], check="debug")
_MODES = {"FAST_RUN": FAST_RUN, "FAST_COMPILE": FAST_COMPILE, "DEBUG": DEBUG,
          "DebugMode": DEBUG}


def get_mode(mode):
    """``None`` (``config.mode``), a mode name, or a :class:`Mode` -> a :class:`Mode`.

    With ``None``, the passes named in ``config.optimizer_excluding`` (Theano's flag, names
    separated by ``:``) are left out.

    Examples
    --------
    >>> get_mode("FAST_COMPILE") is FAST_COMPILE
    True
    """
    if mode is None:
        mode = get_mode(config.mode)
        skip = [n for n in config.optimizer_excluding.split(":") if n]
        return mode.excluding(*skip) if skip else mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str) and mode in _MODES:
        return _MODES[mode]
    raise ValueError(with_user_line(f"unknown mode {mode!r}; use one of {sorted(_MODES)} "
                                    f"or a Mode"))


def get_default_mode():
    """The mode ``function`` uses when none is given (from ``config.mode``), as Theano's
    ``theano.compile.mode.get_default_mode``."""
    return get_mode(None)
