"""``python -m minigraph.compat PROGRAM.py [args]``: run a Theano program on minigraph.

The program runs as ``__main__`` with its own ``sys.argv`` and its folder first on
``sys.path``, exactly as ``python PROGRAM.py args`` would run it, after `install` has mapped
``theano`` to minigraph. Three outcomes:

- it finishes (or calls ``sys.exit``): its exit status is the runner's;
- it uses a Theano name minigraph lacks, and does not catch the error: one line,
  ``minigraph.compat: theano.tensor.foo is not in minigraph (used at prog.py:12)``, exit 2;
  the same for an attribute the program's own line asks of a minigraph object
  (``x.nonzero_values()`` on a variable: ``TensorVariable.nonzero_values``);
- it raises anything else: Python's usual traceback, starting at the program's own frame, exit 1.
"""

import os
import re
import runpy
import sys
import traceback
from types import ModuleType

from .finder import MissingModule, MissingName, install, ours, short_path

USAGE = ("usage: python -m minigraph.compat PROGRAM.py [args...]\n"
         "       python -m minigraph.compat -m MODULE [args...]\n"
         "Runs a Theano program with `theano` mapped to minigraph.")
EXIT_MISSING = 2
EXIT_USAGE = 2  # as argparse
_RUNPY = os.path.dirname(runpy.__file__) + os.sep + "runpy.py"
_CANNOT_IMPORT = re.compile(r"cannot import name '([^']+)' from '(theano(?:\.[\w.]+)?)'")


def run_path(path, args=()):
    """Run the program file ``path`` as ``__main__`` with ``sys.argv = [path, *args]``.

    Exceptions propagate; `main` is the entry point that reports them.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> prog = pathlib.Path(tempfile.mkdtemp()) / "p.py"
    >>> _ = prog.write_text("import sys, theano; RESULT = sys.argv[1:]")
    >>> run_path(str(prog), ["a", "b"])["RESULT"]
    ['a', 'b']
    """
    install()
    sys.argv[:] = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    return runpy.run_path(path, run_name="__main__")


def run_module(module, args=()):
    """Run ``module`` as ``python -m module args`` would, with ``theano`` mapped."""
    install()
    sys.argv[:] = [module, *args]
    sys.path.insert(0, os.getcwd())
    return runpy.run_module(module, run_name="__main__", alter_sys=True)


def missing_message(exc):
    """The one-line report for an exception meaning "a Theano name is missing", else ``None``.

    Examples
    --------
    >>> missing_message(ImportError("cannot import name 'foo' from 'theano.tensor'",
    ...                             name="theano.tensor"))
    'theano.tensor.foo is not in minigraph (used at <unknown>)'
    >>> missing_message(AttributeError("x")) is None
    True
    """
    if isinstance(exc, (MissingName, MissingModule)):
        return str(exc)
    if type(exc) is AttributeError and _minigraph_object(getattr(exc, "obj", None)):
        where = _program_line(exc)
        if where == _innermost_line(exc):  # raised at the program's own line, not inside
            kind = type(exc.obj).__name__
            return f"{kind}.{exc.name} is not in minigraph (used at {where})"
        return None
    name = getattr(exc, "name", None) or ""
    if not (name == "theano" or name.startswith("theano.")):
        return None
    if isinstance(exc, ModuleNotFoundError):
        return f"{name} is not in minigraph (used at {_program_line(exc)})"
    match = _CANNOT_IMPORT.search(str(exc)) if type(exc) is ImportError else None
    if match:
        return f"{match[2]}.{match[1]} is not in minigraph (used at {_program_line(exc)})"
    return None


def _program_line(exc):
    """``file:line`` of the innermost traceback frame that is not import machinery."""
    where = "<unknown>"
    tb = exc.__traceback__
    while tb is not None:
        fname = tb.tb_frame.f_code.co_filename
        if not ours(fname) and not fname.startswith("<frozen") and fname != _RUNPY:
            where = f"{short_path(fname)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _minigraph_object(obj):
    """True for an instance of one of minigraph's own classes (a variable, a function...)."""
    module = type(obj).__module__ or ""
    return obj is not None and not isinstance(obj, (type, ModuleType)) and \
        module.startswith("minigraph.") and not module.startswith("minigraph.compat")


def _innermost_line(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return None if tb is None else f"{short_path(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"


def _program_traceback(exc):
    """The traceback of ``exc`` without the runner's and runpy's frames in front."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        fname = tb.tb_frame.f_code.co_filename
        if not ours(fname) and not fname.startswith("<frozen") and fname != _RUNPY:
            break
        tb = tb.tb_next
    return tb


def main(argv=None):
    """Entry point of ``python -m minigraph.compat`` and ``minigraph-theano``.

    Parameters
    ----------
    argv : list of str or None
        ``[PROGRAM.py, args...]`` or ``["-m", MODULE, args...]``; ``sys.argv[1:]`` if None.

    Returns
    -------
    int
        The exit status: 0, 1 for the program's own error, 2 for a missing Theano name.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv == ["-m"]:
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else EXIT_USAGE
    try:
        if argv[0] == "-m":
            run_module(argv[1], argv[2:])
        else:
            run_path(argv[0], argv[1:])
    except Exception as exc:  # noqa: BLE001 - reported below as the program's own error
        message = missing_message(exc)
        if message is not None:
            print(f"minigraph.compat: {message}", file=sys.stderr)
            return EXIT_MISSING
        traceback.print_exception(type(exc), exc, _program_traceback(exc))
        return 1
    return 0
