"""The linker: turns a rewritten ``FunctionGraph`` into one straight-line Python function.

Nodes are scheduled once, at compile time, and emitted as lines of generated code
(``v7 = f7(v3, v5)``), each calling the callable its op supplies; values live in local
variables that are deleted after their last use, so intermediates are freed as early as
possible. Per-call overhead is one Python call per node and nothing else: no graph walking.
The generated source is kept (``fn.source``) for debugging and for mapping a failing line
back to its node and the user's line.
"""

import itertools
import time

import numpy as np

from minigraph.graph.basic import Constant

_counter = itertools.count()


class LinkedFunction:
    """What the linker produces: ``run(*inputs) -> (outputs, update_values)``."""

    def __init__(self, run, source, line_to_node, order, profile=None, filename=None):
        self.filename = filename
        self.run = run
        self.source = source
        self.line_to_node = line_to_node
        self.order = order
        self.profile = profile


def link(fgraph, n_outputs, profile=False, node_check=None, name=None):
    """Compile ``fgraph`` (inputs = function inputs; outputs = results then update values).

    Parameters
    ----------
    profile : bool
        Emit timing code around each node (``LinkedFunction.profile`` holds the totals).
    node_check : callable, optional
        ``node_check(node, values)`` is called after each node (NanGuardMode, DEBUG mode).
    """
    order = fgraph.toposort()
    names, env = {}, {}
    for i, v in enumerate(fgraph.inputs):
        names[v] = f"i{i}"
    lines, line_to_node = [], {}
    leaves = [v for v in fgraph.variables() if v.owner is None and v not in names]
    for k, v in enumerate(leaves):
        if isinstance(v, Constant):
            names[v] = f"k{k}"
            env[f"k{k}"] = v.data
        elif hasattr(v, "container"):
            names[v] = f"s{k}"
            env[f"c{k}"] = v.container
            lines.append(f"    s{k} = c{k}.value")
        else:
            raise RuntimeError(f"unbound leaf {v} in the graph")  # fgraph construction bug
    last_use = _last_uses(order, fgraph.outputs)
    prof = np.zeros(len(order)) if profile else None
    if profile:
        env["_pc"], env["_prof"] = time.perf_counter, prof
    for n, node in enumerate(order):
        env[f"f{n}"] = node.op.make_py_callable(node)
        for j, out in enumerate(node.outputs):
            names[out] = f"v{n}_{j}"
        args = ", ".join(names[i] for i in node.inputs)
        outs = ", ".join(names[o] for o in node.outputs)
        if len(node.outputs) > 1:
            outs += ","
        if profile:
            lines.append("    _t = _pc()")
        line_to_node[len(lines) + 2] = n  # +2: the def line, and 1-based numbering
        lines.append(f"    {outs} = f{n}({args})")
        if profile:
            lines.append(f"    _prof[{n}] += _pc() - _t")
        if node_check is not None:
            env[f"node{n}"] = node
            env["_check"] = node_check
            lines.append(f"    _check(node{n}, ({outs}{',' if len(node.outputs) == 1 else ''}))")
        dead = [names[v] for v in last_use.get(n, ()) if v in names and names[v][0] == "v"]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    outs = [names[o] for o in fgraph.outputs]
    res, upd = outs[:n_outputs], outs[n_outputs:]
    lines.append(f"    return ({', '.join(res)}{',' if len(res) == 1 else ''}), "
                 f"({', '.join(upd)}{',' if len(upd) == 1 else ''})")
    args = ", ".join(f"i{i}" for i in range(len(fgraph.inputs)))
    filename = f"<minigraph function {name or next(_counter)}>"
    source = f"def _fn({args}):\n" + "\n".join(lines) + "\n"
    exec(compile(source, filename, "exec"), env)
    run = env["_fn"]
    run.__qualname__ = run.__name__ = f"minigraph_function_{name}" if name else "minigraph_fn"
    return LinkedFunction(run, source, line_to_node, order, prof, filename)


def _last_uses(order, outputs):
    """{node index: variables whose last reader is that node} (outputs never die)."""
    keep = set(outputs)
    last = {}
    for n, node in enumerate(order):
        for v in node.inputs:
            last[v] = n
    dying = {}
    for v, n in last.items():
        if v not in keep:
            dying.setdefault(n, []).append(v)
    # outputs of a node nobody reads die right after it
    for n, node in enumerate(order):
        for o in node.outputs:
            if o not in last and o not in keep:
                dying.setdefault(n, []).append(o)
    return dying


def failing_node(linked, tb):
    """The node whose generated line raised, from a traceback (or None)."""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == linked.filename:
            n = linked.line_to_node.get(tb.tb_lineno)
            return None if n is None else linked.order[n]
        tb = tb.tb_next
    return None
