"""Drawing graphs with Graphviz: :func:`pydotprint`, :func:`to_graphviz` and notebook display.

A graph is turned into a ``graphviz.Digraph`` (the Python package writes the DOT text) and
rendered by Graphviz's ``dot`` program. Each kind of leaf (input, shared parameter,
constant), every output and every updated shared variable has its own shape and colour,
listed in a small legend; op nodes carry ``str(op)`` (plus the scalar ops of a fused
elementwise op) and, in SVG, a tooltip with the user's source line. Edges carry dtype and
static shape. An op with an inner graph (scan: ``inner_inputs``, ``inner_outputs``,
``input_groups(node)``) is drawn as a cluster holding that graph, its sequences, carries
and constants entering at the border. A compiled function is drawn as it runs (after
rewriting), before rewriting, or both side by side, with a node-count summary line.
"""

import os
import sys
import tempfile

from minigraph.graph.basic import Constant, Variable, toposort

FORMATS = ("svg", "png", "pdf", "dot")
STAGES = ("after", "before", "both")
RANKDIRS = ("TB", "LR", "BT", "RL")
#: above this many ops, edge labels are placed after layout and shared variables are drawn
#: once per use, which keeps dot's layout time near linear (3x512 char-RNN training step)
LARGE_GRAPH = 100
INSTALL_HINT = "install Graphviz (apt-get install graphviz, brew install graphviz or " \
               "conda install graphviz)"

_F, _RF = "filled", "rounded,filled"
#: kind -> (legend text, Graphviz node attributes); one place decides how things look
STYLES = {
    "input": ("input", dict(shape="ellipse", style=_F, fillcolor="#c7e9c0")),
    "shared": ("shared (parameter)", dict(shape="cylinder", style=_F, fillcolor="#c6dbef")),
    "constant": ("constant", dict(shape="box", style=_F, fillcolor="#eeeeee", fontsize="9",
                                  height="0.25")),
    "output": ("output", dict(shape="ellipse", style=_F, fillcolor="#fdd49e", peripheries="2")),
    "update": ("updated shared", dict(shape="cylinder", style="filled,bold", fillcolor="#fcbba1",
                                      color="#cb181d")),
    "op": ("op", dict(shape="box", style=_RF, fillcolor="white")),
    "fused": ("fused elementwise", dict(shape="box", style=_RF, fillcolor="#fff7bc")),
    "kernel": ("fused kernel (GRU)", dict(shape="box", style=_RF + ",bold", fillcolor="#fc9272",
                                          penwidth="2")),
    "scan": ("scan", dict(shape="box", style=_RF + ",bold", fillcolor="#fee391")),
    "step": ("scan step input", dict(shape="ellipse", style="filled,dashed", fillcolor="#e5f5e0")),
    "var": ("intermediate value", dict(shape="ellipse", fontsize="9", height="0.25")),
}
_GROUP_TAGS = {"sequences": "seq", "carries": "carry", "consts": "const"}
_UPDATE_EDGE = dict(color="#cb181d", fontcolor="#cb181d", style="dashed", penwidth="1.5")


class _View:
    """One graph to draw: ``outputs``, ``updates`` (target, value) pairs, leaf ``inputs``."""

    def __init__(self, outputs, updates=(), inputs=(), title=None):
        self.outputs, self.updates = list(outputs), list(updates)
        self.inputs, self.title = list(inputs), title

    def roots(self):
        return self.outputs + [v for _, v in self.updates]

    def n_nodes(self):
        return len(toposort(self.roots(), blockers=self.inputs))


def _views(obj, stage):
    """The graph(s) to draw for ``obj`` and the summary line."""
    from minigraph.compile.function import Function

    if stage not in STAGES:
        raise ValueError(f"pydotprint: stage must be one of {STAGES}, got {stage!r}")
    if isinstance(obj, Function):
        n = len(obj.outputs)
        fg = obj.fgraph
        after = _View(fg.outputs[:n], zip(obj._update_targets, fg.outputs[n:]), fg.inputs,
                      "after rewriting (what runs)")
        orig = getattr(obj, "original_outputs", None)
        if orig is None and stage != "after":
            raise ValueError("pydotprint: this function has no record of its graph before "
                             "rewriting (it was not made by minigraph.function)")
        before = _View(orig[:n], zip(obj._update_targets, orig[n:]),
                       [s.variable for s in obj.input_specs], "before rewriting") if orig else None
        what = f"function {obj.name!r}" if obj.name else "function"
        summary = f"{what}: {after.n_nodes()} ops after rewriting" + (
            f" ({before.n_nodes()} before)" if before else "")
        views = {"after": [after], "before": [before], "both": [before, after]}[stage]
        return views, summary
    if stage != "after":
        raise ValueError(f"pydotprint: stage={stage!r} needs a compiled function; a graph of "
                         f"variables has not been rewritten")
    outputs = _as_variables(obj)
    view = _View(outputs)
    return [view], f"{view.n_nodes()} ops"


def _as_variables(obj):
    if isinstance(obj, Variable):
        return [obj]
    if isinstance(obj, (list, tuple)):
        if not obj:
            raise ValueError("pydotprint: nothing to draw (an empty list)")
        bad = [o for o in obj if not isinstance(o, Variable)]
        if not bad:
            return list(obj)
        obj = bad[0]
    raise TypeError(f"pydotprint: expected a variable, a list of variables or a compiled "
                    f"function, got {type(obj).__name__}")


def _esc(*lines):
    """DOT text for ``lines``: backslashes escaped, never read as an HTML label."""
    import graphviz

    return graphviz.nohtml("\\n".join(str(s).replace("\\", "\\\\") for s in lines))


def _trunc(text, n):
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def _type_text(var):
    t = var.type
    return t.short() if hasattr(t, "short") else str(t)


def _debug_ids(roots):
    """``{apply: 'A'}`` in the order :func:`minigraph.printing.debugprint` gives its ids."""
    from minigraph.printing import _ident

    ids, stack = {}, list(reversed(roots))
    while stack:
        node = stack.pop().owner
        if node is None or node in ids:
            continue
        _ident(node, ids)
        stack.extend(reversed(node.inputs))
    return ids


def _leaf_kind(var):
    if isinstance(var, Constant):
        return "constant"
    return "shared" if hasattr(var, "container") else "input"


def _op_kind(op):
    if getattr(op, "fused_names", None):
        return "fused"
    return "kernel" if "gru" in type(op).__name__.lower() else "op"


def _op_label(op, n):
    text = str(op)
    lines = [_trunc(text, n)]
    names = list(getattr(op, "fused_names", None) or ())
    if len(lines[0]) == len(text) and ",".join(names) in text:
        names = []  # the op's own name already lists them all
    line = ""
    for name in names:  # wrap the scalar ops of a fused op at the label width
        if line and len(line) + len(name) + 2 > n:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {name}" if line else name
    if line:
        lines.append(line)
    return lines[:1] + lines[1:5] + (["..."] if len(lines) > 5 else [])


class _Drawer:
    """Emits the nodes and edges of one drawing; node names are ``n0, n1, ...`` in order."""

    def __init__(self, compact, with_ids, show_shapes, scan_graphs, max_label_len, large):
        self.compact, self.with_ids, self.show_shapes = compact, with_ids, show_shapes
        self.scan_graphs, self.n = scan_graphs, max_label_len
        self.names, self.made, self.kinds = {}, set(), set()
        # Edge labels are nodes of their own to dot and long edges chains of virtual nodes;
        # a large graph gets labels placed after layout and one parameter node per use.
        self.label_key = "xlabel" if large else "label"
        self.per_use = ("constant", "shared") if large else ("constant",)

    def _name(self, scope, obj):
        key = (scope, id(obj))
        if key not in self.names:
            self.names[key] = (f"n{len(self.names)}", obj)  # keep obj alive: ids stay unique
        return self.names[key][0]

    def _node(self, g, name, kind, label, tooltip):
        self.made.add(name)
        self.kinds.add(kind)
        g.node(name, label=label, tooltip=_esc(*tooltip), **{"class": kind}, **STYLES[kind][1])

    def draw(self, g, view, scope=""):
        """Draw ``view``'s nodes and edges into ``g`` (a graph or a cluster)."""
        ids = _debug_ids(view.roots()) if self.with_ids else {}
        blockers = set(view.inputs)
        self._graph(g, view.roots(), blockers, scope, ids)
        for i, out in enumerate(view.outputs):
            name = self._name(f"{scope}/out{i}", out)
            text = _trunc(out.name or f"output {i}", self.n)
            self._node(g, name, "output", _esc(text), [f"output {i}: {_type_text(out)}"])
            self._edge(g, out, name, scope, blockers, None)
        for target, value in view.updates:
            name = self._name(scope + "/update", target)
            text = _trunc(f"{target.describe()} (updated)", self.n)
            self._node(g, name, "update", _esc(text),
                       [f"new value of shared variable {target.describe()}"])
            self._edge(g, value, name, scope, blockers, None, prefix="update",
                       attrs=dict(_UPDATE_EDGE, **{"class": "update"}))

    def _graph(self, g, roots, blockers, scope, ids):
        for node in toposort(roots, blockers=blockers):
            if self.scan_graphs and getattr(node.op, "inner_outputs", None) is not None:
                self._scan(g, node, blockers, scope, ids)
            else:
                self._apply(g, node, blockers, scope, ids)

    def _apply_label(self, node, ids):
        lines = _op_label(node.op, self.n)
        if node in ids:
            lines[0] += f" [id {ids[node]}]"
        return lines

    def _apply_tooltip(self, node):
        types = ", ".join(_type_text(v) for v in node.inputs)
        outs = ", ".join(_type_text(v) for v in node.outputs)
        return [str(node.op), f"({types}) -> {outs}", f"created at {node.trace}"]

    def _apply(self, g, node, blockers, scope, ids):
        name = self._name(scope, node)
        self._node(g, name, _op_kind(node.op), _esc(*self._apply_label(node, ids)),
                   self._apply_tooltip(node))
        many = len(node.inputs) > 1
        for i, inp in enumerate(node.inputs):
            self._edge(g, inp, name, scope, blockers, i if many else None)

    def _edge(self, g, var, dst, scope, blockers, pos, prefix=None, attrs=None):
        """An edge carrying ``var`` into node ``dst``; labelled with position and type."""
        src, text = self._source(g, var, dst, scope, blockers)
        parts = [p for p in (prefix, None if pos is None else str(pos), text) if p]
        if self.show_shapes:
            parts.append(_type_text(var))
        label = {self.label_key: _esc(" ".join(parts))} if parts else {}
        g.edge(src, dst, **label, **(attrs or {}))

    def _source(self, g, var, dst, scope, blockers):
        """The node an edge carrying ``var`` starts from, and text to put on the edge."""
        node = var.owner
        if node is None or var in blockers:
            return self._leaf(g, var, dst, scope), None
        src = self._name(scope, node)
        idx = f"out {var.index}" if len(node.outputs) > 1 else None
        text = " ".join(p for p in (idx, var.name and _trunc(var.name, self.n)) if p) or None
        if self.compact:
            return src, text
        name = self._name(scope + "/var", var)
        if name not in self.made:
            self._node(g, name, "var", _esc(_trunc(var.name or "", self.n)),
                       [f"{var.describe()}: {_type_text(var)}"])
            label = " ".join(p for p in (idx, _type_text(var) if self.show_shapes else "") if p)
            g.edge(src, name, **({self.label_key: _esc(label)} if label else {}))
        return name, None

    def _leaf(self, g, var, dst, scope):
        kind = _leaf_kind(var)
        name = self._name(f"{scope}>{dst}" if kind in self.per_use else scope, var)
        if name in self.made:
            return name
        if kind == "constant":
            text, tip = str(var), [f"constant {var}: {_type_text(var)}"]
        elif kind == "shared":
            text = var.describe()
            tip = [f"shared variable {text}: {_type_text(var)}",
                   f"created at {getattr(var, 'trace', '?')}"]
        else:
            text = var.name or "input"
            tip = [f"input {var.describe()}: {_type_text(var)}"]
        self._node(g, name, kind, _esc(_trunc(text, self.n)), tip)
        return name

    def _scan(self, g, node, blockers, scope, ids):
        """A cluster with the inner graph; outer values enter at its step inputs."""
        op, name = node.op, self._name(scope, node)
        inner_scope = f"{scope}/{name}"
        ports = _ports(op, node)
        with g.subgraph(name=f"cluster_{name}") as c:
            c.attr(label=_esc(_trunc(f"loop: {op}", self.n)), style="rounded,filled",
                   fillcolor="#fffbea", color="#d9a400", fontcolor="#7f5f00",
                   tooltip=_esc(*self._apply_tooltip(node)))
            for tag, outer, inner in ports:
                for ph in inner:
                    label = _trunc(f"{tag}: {ph.name or '?'}", self.n)
                    self._node(c, self._name(inner_scope, ph), "step", _esc(label),
                               [f"{tag} step input: {_type_text(ph)}"])
            inner_ids = _debug_ids(op.inner_outputs) if self.with_ids else {}
            self._graph(c, op.inner_outputs, set(op.inner_inputs), inner_scope, inner_ids)
            self._node(c, name, "scan", _esc(*self._apply_label(node, ids)),
                       self._apply_tooltip(node))
            for k, out in enumerate(op.inner_outputs):
                self._edge(c, out, name, inner_scope, set(op.inner_inputs), None,
                           prefix=f"step out {k}")
        for tag, outer, inner in ports:
            for dst in [self._name(inner_scope, ph) for ph in inner] or [name]:
                self._edge(g, outer, dst, scope, blockers, None, prefix=tag)


def _ports(op, node):
    """``(tag, outer input, [inner placeholders])`` for every outer input of a scan.

    The inner placeholders follow the groups' order (sequences, carries, consts), one each,
    or as many per carry as ``op.carry_placeholders()`` says (one per tap). Where neither
    fits, the outer inputs enter the scan node itself (an empty list).
    """
    groups = op.input_groups(node)
    fed = [(_GROUP_TAGS.get(k, k), v) for k, vs in groups.items() if k != "n_steps" for v in vs]
    per = [[ph] for ph in op.inner_inputs]
    if len(per) != len(fed) and hasattr(op, "carry_placeholders"):
        carries = [list(c) for c in op.carry_placeholders()]
        n_seq = len(groups.get("sequences", ()))
        per = per[:n_seq] + carries + per[n_seq + sum(map(len, carries)):]
    if len(per) != len(fed):
        per = [[] for _ in fed]
    n_steps = [("n_steps", v, []) for v in groups.get("n_steps", [])]
    return n_steps + [(tag, v, phs) for (tag, v), phs in zip(fed, per)]


def _legend(g, kinds):
    with g.subgraph(name="cluster_legend") as c:
        c.attr(label="legend", fontsize="10", style="rounded", color="#999999")
        names = [k for k in STYLES if k in kinds]
        for k in names:
            attrs = dict(STYLES[k][1], fontsize="9", height="0.25", **{"class": "legend"})
            c.node(f"legend_{k}", label=STYLES[k][0], **attrs)
        for a, b in zip(names, names[1:]):  # a column of samples, in STYLES order
            c.edge(f"legend_{a}", f"legend_{b}", style="invis")


def to_graphviz(obj, compact=True, with_ids=False, show_shapes=True, scan_graphs=True,
                max_label_len=40, rankdir="TB", stage="after", legend=True):
    """Build the ``graphviz.Digraph`` of ``obj`` (see :func:`pydotprint` for the options).

    Examples
    --------
    >>> import minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> g = to_graphviz(T.tanh(x), legend=False)
    >>> "tanh" in g.source
    True
    """
    try:
        import graphviz
    except ImportError:  # pragma: no cover - graphviz is a declared dependency
        raise ImportError("pydotprint needs the graphviz Python package: pip install graphviz")
    if rankdir not in RANKDIRS:
        raise ValueError(f"pydotprint: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if not isinstance(max_label_len, int) or max_label_len < 8:
        raise ValueError(f"pydotprint: max_label_len must be an int >= 8, got {max_label_len!r}")
    views, summary = _views(obj, stage)
    g = graphviz.Digraph("minigraph")
    g.attr(rankdir=rankdir, label=_esc(summary), labelloc="t", fontname="Helvetica",
           fontsize="11")
    g.attr("node", fontname="Helvetica", fontsize="10")
    g.attr("edge", fontname="Helvetica", fontsize="8", color="#555555", fontcolor="#444444")
    large = sum(v.n_nodes() for v in views) > LARGE_GRAPH
    drawer = _Drawer(compact, with_ids, show_shapes, scan_graphs, max_label_len, large)
    if len(views) == 1:
        drawer.draw(g, views[0])
    for k, view in enumerate(views if len(views) > 1 else ()):
        with g.subgraph(name=f"cluster_stage{k}") as c:
            c.attr(label=_esc(view.title), style="dashed", color="#999999")
            drawer.draw(c, view, scope=f"stage{k}")
    if legend:
        _legend(g, drawer.kinds)
    return g


def _outfile(outfile, fmt):
    if outfile is None:
        return os.path.join(tempfile.gettempdir(), f"minigraph.pydotprint.{fmt}")
    outfile = os.fspath(outfile)
    return outfile if os.path.splitext(outfile)[1] else f"{outfile}.{fmt}"


def _format(outfile, format):
    if format is None:
        ext = os.path.splitext(os.fspath(outfile))[1].lstrip(".").lower() if outfile else ""
        format = ext if ext in FORMATS else "svg"
    if format not in FORMATS:
        raise ValueError(f"pydotprint: format must be one of {FORMATS}, got {format!r}")
    return format


def pydotprint(obj, outfile=None, format=None, compact=True, with_ids=False, show_shapes=True,
               scan_graphs=True, max_label_len=40, rankdir="TB", stage="after", legend=True,
               print_output_file=True):
    """Draw a graph with Graphviz and write it to ``outfile``.

    Parameters
    ----------
    obj : Variable, list of Variable, or Function
        What to draw; a compiled function is drawn with its outputs and updates.
    outfile : str or path, optional
        Where to write (default: ``minigraph.pydotprint.<format>`` in the temp folder).
    format : {'svg', 'png', 'pdf', 'dot'}, optional
        Taken from ``outfile``'s extension when not given, else ``'svg'``.
    compact : bool
        Draw intermediate values as edges (``False``: as small nodes of their own).
    with_ids : bool
        Add debugprint's ``[id A]`` to op labels.
    show_shapes : bool
        Label edges with dtype and static shape (``float32[?,512]``).
    scan_graphs : bool
        Draw a scan's inner graph in a cluster (``False``: the scan is one node).
    max_label_len : int
        Longer labels are cut with ``...``.
    rankdir : {'TB', 'LR', 'BT', 'RL'}
        Direction of the flow from inputs to outputs.
    stage : {'after', 'before', 'both'}
        For a compiled function: the rewritten graph (what runs), the graph as written,
        or both side by side. The title gives both node counts.
    legend : bool
        Add a legend of the node kinds present.
    print_output_file : bool
        Print where the file was written.

    Returns
    -------
    str
        The path written, or the DOT source when ``format='dot'`` (also written to
        ``outfile`` when one is given). When Graphviz's ``dot`` program is missing, the DOT
        source is written next to ``outfile`` (``.dot``), a one-line message says how to
        install Graphviz, and that path is returned.

    Examples
    --------
    >>> import minigraph.tensor as T
    >>> x = T.dvector("x")
    >>> src = pydotprint(T.exp(x) + 1, format="dot", legend=False)
    >>> src.startswith("digraph minigraph {")
    True
    """
    format = _format(outfile, format)
    g = to_graphviz(obj, compact=compact, with_ids=with_ids, show_shapes=show_shapes,
                    scan_graphs=scan_graphs, max_label_len=max_label_len, rankdir=rankdir,
                    stage=stage, legend=legend)
    if format == "dot":
        if outfile is not None:
            _write(_outfile(outfile, "dot"), g.source.encode())
        return g.source
    path = _outfile(outfile, format)
    data = _render(g, format)
    if data is None:
        path = os.path.splitext(path)[0] + ".dot"
        _write(path, g.source.encode())
        print(f"pydotprint: Graphviz's dot program was not found, so the graph was written as "
              f"DOT source to {path}; to render {format}, {INSTALL_HINT}", file=sys.stderr)
        return path
    _write(path, data)
    if print_output_file:
        print(f"The output file is available at {path}")
    return path


def _render(g, format, quiet=False):
    """Rendered bytes, or ``None`` when the ``dot`` program cannot be found."""
    import graphviz

    try:
        return g.pipe(format=format, quiet=quiet)
    except graphviz.ExecutableNotFound:
        return None
    except graphviz.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"pydotprint: dot failed to render {format}: "
                           f"{err[-1] if err else e}") from None


def _write(path, data):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"pydotprint: cannot write {path}: folder {folder} does not "
                                f"exist")
    with open(path, "wb") as f:
        f.write(data)


def repr_svg(obj, **options):
    """SVG text of ``obj``'s graph for notebooks, or ``None`` (text fallback) without dot.

    ``TensorVariable._repr_svg_`` and ``Function._repr_svg_`` call this.
    """
    try:
        data = _render(to_graphviz(obj, **options), "svg", quiet=True)
    except RuntimeError:
        return None
    return None if data is None else data.decode("utf-8")
