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

This module is the public side: options checked, the graph(s) of an object chosen, files
rendered and written (with a DOT-source fallback when ``dot`` is missing). The drawing
itself (nodes, edges, clusters, ``STYLES``) lives in :mod:`minigraph.pydot_draw`.
"""

import os
import sys
import tempfile

from minigraph.graph.basic import Variable

from minigraph.pydot_draw import STYLES, _Drawer, _esc, _legend, _View  # noqa: F401 (re-export)

FORMATS = ("svg", "png", "pdf", "dot")
STAGES = ("after", "before", "both")
RANKDIRS = ("TB", "LR", "BT", "RL")
#: above this many ops, edge labels are placed after layout and shared variables are drawn
#: once per use, which keeps dot's layout time near linear (3x512 char-RNN training step)
LARGE_GRAPH = 100
INSTALL_HINT = "install Graphviz (apt-get install graphviz, brew install graphviz or " \
               "conda install graphviz)"


def _views(obj, stage):
    """The graph(s) to draw for ``obj`` and the summary line."""
    from minigraph.compile.function import Function  # cycle: function.py imports this module

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
        import graphviz  # on first drawing: `import minigraph` does not load it
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
    import graphviz  # on first drawing: `import minigraph` does not load it

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
