"""Drawing one graph into a ``graphviz`` graph: the nodes, edges and clusters of a picture.

:mod:`minigraph.pydot` is the public side (``pydotprint``, ``to_graphviz``, ``repr_svg``): it
checks the options, decides which graph(s) of an object to draw, and renders and writes
files. This module only draws: given a :class:`_View` (outputs, updates, leaf inputs) and a
``graphviz.Digraph`` or cluster, :class:`_Drawer` emits a node per op and leaf, edges
labelled with dtype and static shape, and a cluster holding a scan's inner graph with its
sequences, carries and consts entering at the border. ``STYLES`` is the one table of how
each kind of node looks; :func:`_legend` draws the kinds used. Kept apart so the look of a
picture can change without touching file and format handling, and the reverse.
"""

from minigraph.graph.basic import Constant, toposort

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


def _esc(*lines):
    """DOT text for ``lines``: backslashes escaped, never read as an HTML label."""
    import graphviz  # on first drawing: `import minigraph` does not load it

    return graphviz.nohtml("\\n".join(str(s).replace("\\", "\\\\") for s in lines))


def _trunc(text, n):
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def _type_text(var):
    t = var.type
    return t.short() if hasattr(t, "short") else str(t)


def _debug_ids(roots):
    """``{apply: 'A'}`` in the order :func:`minigraph.printing.debugprint` gives its ids."""
    from minigraph.printing import _ident  # cycle: printing imports pydot, which imports us

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
