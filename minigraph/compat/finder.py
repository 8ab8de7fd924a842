"""The import hook that makes ``import theano`` (and every ``theano.X.Y``) load minigraph.

`TheanoFinder` sits on ``sys.meta_path``. For ``theano.X.Y`` it builds a `TheanoModule`: a
thin module that reads its names from ``minigraph.X.Y`` (or from the modules
`minigraph.compat.aliases.MODULES` lists for that path). minigraph's own modules are not
touched, so ``minigraph.tensor`` keeps its name and spec while ``theano.tensor`` is a view
of it.

A name the view cannot find raises `MissingName`, an ``AttributeError`` whose message names
the Theano path and the line that used it. Being an ``AttributeError``, it keeps
``hasattr(T, "foo")`` and ``getattr(T, "foo", None)`` working as programs expect; uncaught,
the runner (`minigraph.compat.runner`) turns it into one line and exit code 2. A Theano
module path with no minigraph counterpart raises `MissingModule`, a
``ModuleNotFoundError``, so ``try: import theano.foo / except ImportError:`` still works.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types

from .aliases import ATTRIBUTES, MODULES

_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def ours(fname):
    """Whether a code file is this package's (its path normalised: imported through a
    ``sys.path`` entry such as ``benchmarks/..``, a module's file name keeps the ``..``)."""
    return os.path.normpath(fname).startswith(_HERE)


_IMPORTLIB_FILES = ("<frozen", importlib.__file__.rsplit(os.sep, 1)[0] + os.sep)


def caller_line(frame=None):
    """``file:line`` of the innermost frame outside this package and importlib's machinery.

    Parameters
    ----------
    frame : frame or None
        Where to start looking outwards; the caller's frame when ``None``.

    Examples
    --------
    >>> caller_line()  # doctest: +ELLIPSIS
    '<doctest ...caller_line[0]>:1'
    """
    frame = frame or sys._getframe(1)
    while frame is not None:
        fname = frame.f_code.co_filename
        if not ours(fname) and not fname.startswith(_IMPORTLIB_FILES):
            return f"{short_path(fname)}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


def short_path(fname):
    """``fname`` relative to the working directory when it lies below it, else unchanged."""
    try:
        rel = os.path.relpath(fname)
    except ValueError:  # another drive on Windows
        return fname
    return fname if rel.startswith(os.pardir) else rel


class MissingName(AttributeError):
    """A Theano name (``theano.tensor.foo``) that minigraph does not provide.

    ``theano_name`` is the full Theano path; ``where`` is ``file:line`` of the use.
    """

    def __init__(self, theano_name, where):
        super().__init__(f"{theano_name} is not in minigraph (used at {where})")
        self.theano_name = theano_name
        self.where = where


class MissingModule(ModuleNotFoundError):
    """A Theano module path (``theano.foo.bar``) with no minigraph counterpart."""

    def __init__(self, theano_name, where):
        super().__init__(f"{theano_name} is not in minigraph (used at {where})",
                         name=theano_name)
        self.theano_name = theano_name
        self.where = where


def minigraph_targets(theano_name):
    """The existing minigraph modules that back ``theano_name``, in lookup order.

    Examples
    --------
    >>> [m.__name__ for m in minigraph_targets("theano.tensor")]
    ['minigraph.tensor']
    """
    names = MODULES.get(theano_name) or ["minigraph" + theano_name[len("theano"):]]
    return [importlib.import_module(n) for n in names if _module_exists(n)]


def _module_exists(name):
    parent = name.rpartition(".")[0]
    if parent and not _module_exists(parent):
        return False
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _is_package_path(theano_name):
    """True for a Theano path that only groups aliased modules (``theano.sandbox``)."""
    prefix = theano_name + "."
    return any(key.startswith(prefix) for key in MODULES)


class TheanoModule(types.ModuleType):
    """``theano.X.Y``: its names are read from the minigraph modules in ``__targets__``.

    Names set on it (``theano.tensor.foo = ...``) are set on the first target, so a program
    that patches Theano patches what minigraph's code sees too.
    """

    def __init__(self, name, targets):
        super().__init__(name)
        first = targets[0] if targets else None
        self.__dict__.update(__targets__=list(targets), __path__=[],
                             __doc__=getattr(first, "__doc__", None),
                             __file__=getattr(first, "__file__", None))

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):  # __version__, __all__, ...
            if attr == "__all__":
                return self._public_names()
            for target in self.__targets__:
                if hasattr(target, attr):
                    return getattr(target, attr)
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")
        for target in self.__targets__:
            try:
                value = getattr(target, attr)
            except AttributeError:
                continue
            return self._wrap(attr, value)
        sub = f"{self.__name__}.{attr}"
        if sub in ATTRIBUTES:
            module, _, name = ATTRIBUTES[sub].partition(":")
            return getattr(importlib.import_module(module), name)
        if _is_package_path(sub) or minigraph_targets(sub):
            return importlib.import_module(sub)
        raise MissingName(sub, caller_line(sys._getframe(1)))

    def _wrap(self, attr, value):
        """A minigraph module found as an attribute is seen through its own Theano view."""
        if not isinstance(value, types.ModuleType) or \
                not value.__name__.startswith("minigraph."):
            return value
        sub = f"{self.__name__}.{attr}"
        existing = sys.modules.get(sub)
        if isinstance(existing, TheanoModule):
            return existing
        targets = (minigraph_targets(sub) if sub in MODULES else []) or [value]
        view = TheanoModule(sub, targets)
        sys.modules[sub] = view
        return view

    def __setattr__(self, attr, value):
        # the import system sets each imported submodule's view on its parent: keep it here
        if isinstance(value, TheanoModule):
            if not self._shadowed(attr):
                super().__setattr__(attr, value)
        elif attr.startswith("__") or not self.__targets__:
            super().__setattr__(attr, value)
        else:
            setattr(self.__targets__[0], attr, value)

    def _shadowed(self, attr):
        """True when a target has a non-module ``attr``: ``theano.compile.function`` stays
        the function after ``import theano.compile.function`` loads the module."""
        return any(not isinstance(getattr(t, attr, None), (types.ModuleType, type(None)))
                   for t in self.__targets__)

    def __dir__(self):
        return sorted(set(self._public_names()) | set(self.__dict__))

    def _public_names(self):
        names = []
        for target in self.__targets__:
            names += getattr(target, "__all__", None) or \
                [n for n in vars(target) if not n.startswith("_")]
        return list(dict.fromkeys(names))

    def __repr__(self):
        backing = ", ".join(t.__name__ for t in self.__targets__) or "no module"
        return f"<module {self.__name__!r} (minigraph: {backing})>"


class _Loader(importlib.abc.Loader):
    def __init__(self, targets, where):
        self.targets, self.where = targets, where

    def create_module(self, spec):
        if not self.targets and not _is_package_path(spec.name):
            raise MissingModule(spec.name, self.where)
        return TheanoModule(spec.name, self.targets)

    def exec_module(self, module):
        pass


class TheanoFinder(importlib.abc.MetaPathFinder):
    """Finds ``theano`` and ``theano.*`` and loads them as views of minigraph's modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "theano" and not fullname.startswith("theano."):
            return None
        where = caller_line(sys._getframe(1))
        loader = _Loader(minigraph_targets(fullname), where)
        return importlib.machinery.ModuleSpec(fullname, loader, is_package=True)


def install():
    """Make ``import theano`` load minigraph in this process (idempotent).

    Returns
    -------
    TheanoFinder
        The finder placed first on ``sys.meta_path``.

    Examples
    --------
    >>> from minigraph.compat import install
    >>> _ = install()
    >>> import theano.tensor as T
    >>> T.matrix is __import__("minigraph").tensor.matrix
    True
    """
    for finder in sys.meta_path:
        if isinstance(finder, TheanoFinder):
            return finder
    finder = TheanoFinder()
    sys.meta_path.insert(0, finder)
    return finder


def uninstall():
    """Remove the hook and forget every ``theano`` module it created."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, TheanoFinder)]
    for name in [n for n in sys.modules if n == "theano" or n.startswith("theano.")]:
        del sys.modules[name]
