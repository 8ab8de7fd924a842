"""Looking at graphs: ``debugprint`` (an indented tree), ``pprint`` (a one-line formula),
and ``pydotprint`` (a graphviz picture, in :mod:`minigraph.pydot`).

Every node line shows an id, the op, the output type and the user's line that created it;
a node met again is printed once and then referred to by its id. A fused elementwise region
and a scan loop also show how they run, e.g. ``[numba]``, ``[compiling]``,
``[numpy: not hot yet, 3 calls]`` (see :func:`minigraph.compile.profiling.compile_state`).
"""

import io
import os
import sys

from minigraph.compile.function import Function
from minigraph.compile.profiling import compile_state
from minigraph.graph.basic import Constant, Variable
from minigraph.pydot import pydotprint as _pydotprint


def _targets(obj):
    if isinstance(obj, Function):
        return list(obj.outputs), obj
    if isinstance(obj, Variable):
        return [obj], None
    if isinstance(obj, (list, tuple)):
        out = []
        for o in obj:
            out.extend(_targets(o)[0])
        return out, None
    raise TypeError(f"debugprint: expected a variable, a list or a function, got "
                    f"{type(obj).__name__}")


def debugprint(obj, file=None, ids="CHAR", print_type=True, depth=-1, print_trace=True,
               stop_on_name=False):
    """Print the graph of ``obj`` (variable, list, or compiled function) as a tree.

    Parameters
    ----------
    file : None, 'str', or a writable stream
        ``None`` prints to stdout; ``'str'`` returns the text.
    depth : int
        Stop after this many levels (-1: no limit).

    >>> import minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> print(debugprint(T.exp(x) + 1, file="str", print_trace=False).splitlines()[0])
    add [id A] float64[?]
    """
    outputs, fn = _targets(obj)
    ids_map = {}
    buf = io.StringIO()
    for out in outputs:
        _print(out, buf, "", ids_map, print_type, depth, print_trace, stop_on_name, set())
    if fn is not None and fn._update_targets:
        buf.write("Updates:\n")
        n_out = len(fn.outputs)
        for target, value in zip(fn._update_targets, fn.fgraph.outputs[n_out:]):
            buf.write(f" {target.describe()} <- \n")
            _print(value, buf, "  ", ids_map, print_type, depth, print_trace, stop_on_name,
                   set())
    text = buf.getvalue()
    if file == "str":
        return text
    (file or sys.stdout).write(text)
    return file


def _ident(node, ids_map):
    if node not in ids_map:
        n = len(ids_map)
        letters = ""
        while True:
            letters = chr(ord("A") + n % 26) + letters
            n = n // 26 - 1
            if n < 0:
                break
        ids_map[node] = letters
    return ids_map[node]


def _print(var, buf, indent, ids_map, print_type, depth, print_trace, stop_on_name, done):
    typ = f" {var.type.short()}" if print_type and hasattr(var.type, "short") else ""
    node = var.owner
    if node is None:
        kind = "constant" if isinstance(var, Constant) else (
            "shared" if hasattr(var, "container") else "input")
        buf.write(f"{indent}{var} [{kind}]{typ}\n")
        return
    seen = node in ids_map
    ident = _ident(node, ids_map)
    out_idx = f".{var.index}" if len(node.outputs) > 1 else ""
    name = f" '{var.name}'" if var.name else ""
    trace = f"  <- {_short(node.trace)}" if print_trace and not seen else ""
    state = None if seen else compile_state(node)
    tag = f" [{state}]" if state else ""
    buf.write(f"{indent}{node.op}{out_idx} [id {ident}]{name}{typ}{tag}{trace}\n")
    if seen or depth == 0 or (stop_on_name and var.name):
        return
    for inp in node.inputs:
        _print(inp, buf, indent + " |", ids_map, print_type, depth - 1, print_trace,
               stop_on_name, done)
    inner = getattr(node.op, "inner_outputs", None)
    if inner:
        buf.write(f"{indent} > inner graph of {node.op} [id {ident}]:\n")
        for o in inner:
            _print(o, buf, indent + " >  ", {}, print_type, depth - 1, print_trace,
                   stop_on_name, set())


def _short(trace):
    if trace is None:
        return "?"
    path, _, line = trace.rpartition(":")
    return f"{os.path.basename(path)}:{line}"


_INFIX = {"add": "+", "sub": "-", "mul": "*", "true_div": "/", "pow": "**", "int_div": "//",
          "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "neq": "!="}


def pprint(expr):
    """A one-line formula for ``expr`` (a variable, a list, or a compiled function).

    Also available as ``theano.pp``. Named variables print by name, small constants by
    value, larger ones as ``TensorConstant{float64[5]}``; infix operators are bracketed,
    everything else prints as ``op(args)``.

    >>> import minigraph.tensor as T
    >>> x, y = T.dvectors("x", "y")
    >>> pprint(x * 2 + y)
    '((x * 2.0) + y)'
    >>> pprint(T.tanh(T.dot(T.dmatrix("W"), x)).sum())
    'sum(tanh(dot(W, x)), axis=(0,))'
    """
    if isinstance(expr, Function):
        expr = expr.outputs
    if isinstance(expr, (list, tuple)):
        return ", ".join(pprint(e) for e in expr)
    return _pp(expr)


pp = pprint  # Theano's short name: theano.pp(expr)


def _pp(v):
    node = v.owner
    if node is None:
        if isinstance(v, Constant) and v.name is None and getattr(v.data, "size", 1) > 4:
            return f"TensorConstant{{{v.type.short()}}}"
        return str(v)
    op = node.op
    name = getattr(getattr(op, "scalar_op", None), "name", None)
    args = [_pp(i) for i in node.inputs]
    if name in _INFIX and len(args) == 2:
        return f"({args[0]} {_INFIX[name]} {args[1]})"
    if name == "neg":
        return f"-{args[0]}"
    kind = type(op).__name__
    if kind == "DimShuffle":
        n_pad = op.new_order.index(0) if 0 in op.new_order else len(op.new_order)
        if op.new_order == ("x",) * n_pad + tuple(range(op.input_ndim)):
            return args[0]  # the left-padding that broadcasting inserts: not the user's
        return f"{args[0]}.dimshuffle{op.new_order}"
    if kind in ("Subtensor", "AdvancedSubtensor"):
        return f"{args[0]}[{_pp_index(op.entries, iter(args[1:]))}]"
    if kind == "Reduce":
        return f"{op.kind}({args[0]}, axis={op.axis})"
    label = name or ("dot" if kind == "Dot" else str(op))
    return f"{label}({', '.join(args)})"


def _pp_index(entries, args):
    def part(p):
        return "" if p is None else (next(args) if p == "in" else str(p))

    out = []
    for e in entries:
        if isinstance(e, tuple):
            text = ":".join(part(p) for p in e[1:])
            out.append(text[:-1] if text.endswith(":") else text)
        elif e == "newaxis":
            out.append("None")
        elif e in ("in", "array"):
            out.append(next(args))
        else:
            out.append(str(e))
    return ", ".join(out)


def pydotprint(obj, outfile=None, format=None, **kwargs):
    """Draw ``obj`` with graphviz; see :func:`minigraph.pydot.pydotprint`."""
    return _pydotprint(obj, outfile=outfile, format=format, **kwargs)
