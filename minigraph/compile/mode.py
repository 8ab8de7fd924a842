"""Compilation modes: each is a plain, ordered list of named passes.

``FAST_RUN`` runs every rewrite; ``FAST_COMPILE`` only merges duplicates; ``DEBUG`` runs
``FAST_COMPILE`` plus checks after every node. ``mode.excluding("constant_folding")``
switches a pass (or a single named rewrite inside a rule set) off; ``mode.including`` puts
a known pass back. The pass list is written out here, top to bottom, in the order it runs.
"""


def _passes():
    """All known passes by name, in pipeline order (imported here, not by side effect)."""
    from minigraph.graph.passes import CONSTANT_FOLDING, MERGE
    from minigraph.tensor.rewriting import CANONICALIZE, GEMM, SPECIALIZE, STABILIZE

    return ([MERGE, CANONICALIZE, CONSTANT_FOLDING, STABILIZE, SPECIALIZE, GEMM]
            + _optional_passes())


def _optional_passes():
    """Passes from packages that may not be importable in a stripped install."""
    out = []
    try:
        from minigraph.scan.rewrites import SCAN_PASSES
        out.extend(SCAN_PASSES)
    except ImportError:
        pass
    try:
        from minigraph.tensor.fusion import FUSION_PASSES
        out.extend(FUSION_PASSES)
    except ImportError:
        pass
    return out


class Mode:
    """A named pipeline of passes, with an exclusion set of pass or rewrite names.

    Parameters
    ----------
    name : str
    passes : list of str, optional
        Names of the passes to run, in order (default: all known passes).
    exclude : iterable of str
        Pass names or individual rewrite names to skip.
    check : {None, 'nan', 'debug'}
        Extra per-node checks at run time.
    """

    def __init__(self, name="FAST_RUN", passes=None, exclude=(), check=None,
                 nan_is_error=True, inf_is_error=True, big_is_error=False):
        self.name = name
        self.pass_names = list(passes) if passes is not None else None
        self.exclude = frozenset(exclude)
        self.check = check
        self.nan_is_error, self.inf_is_error, self.big_is_error = (
            nan_is_error, inf_is_error, big_is_error)

    def pipeline(self):
        """The pass objects this mode runs, in order."""
        known = _passes()
        if self.pass_names is not None:
            by_name = {p.name: p for p in known}
            unknown = [n for n in self.pass_names if n not in by_name]
            if unknown:
                raise ValueError(f"unknown passes {unknown}; known: {list(by_name)}")
            known = [by_name[n] for n in self.pass_names]
        return [p for p in known if p.name not in self.exclude]

    def _copy(self, **changes):
        kw = dict(name=self.name, passes=self.pass_names, exclude=self.exclude,
                  check=self.check, nan_is_error=self.nan_is_error,
                  inf_is_error=self.inf_is_error, big_is_error=self.big_is_error)
        kw.update(changes)
        new = type(self).__new__(type(self))
        Mode.__init__(new, **kw)
        return new

    def excluding(self, *names):
        """A copy of this mode without the passes or rewrites named."""
        return self._copy(exclude=self.exclude | set(names))

    def including(self, *names):
        """A copy of this mode with the named passes back in."""
        return self._copy(exclude=self.exclude - set(names))

    def __repr__(self):
        ex = f", excluding {sorted(self.exclude)}" if self.exclude else ""
        return f"Mode({self.name}{ex})"


FAST_RUN = Mode("FAST_RUN")
FAST_COMPILE = Mode("FAST_COMPILE", passes=["merge"])
DEBUG = Mode("DEBUG", passes=["merge"], check="debug")
_MODES = {"FAST_RUN": FAST_RUN, "FAST_COMPILE": FAST_COMPILE, "DEBUG": DEBUG,
          "DebugMode": DEBUG}


def get_mode(mode):
    """``None`` (config.mode), a mode name, or a :class:`Mode` -> a :class:`Mode`."""
    from minigraph.config import config

    if mode is None:
        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str) and mode in _MODES:
        return _MODES[mode]
    from minigraph.graph.basic import with_user_line

    raise ValueError(with_user_line(f"unknown mode {mode!r}; use one of {sorted(_MODES)} "
                                    f"or a Mode"))


def get_default_mode():
    """The mode ``function`` uses when none is given (from ``config.mode``), as Theano's
    ``theano.compile.mode.get_default_mode``."""
    return get_mode(None)
