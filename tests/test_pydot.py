"""Tests of :mod:`minigraph.pydot`: graphs rendered by Graphviz's ``dot`` and read back.

SVGs are parsed as XML and checked against the graph they draw: one node per op, leaf,
output and update target, the labels the ops print as, update edges, scan clusters. The DOT
text of a small graph is checked exactly; PNG and PDF output is checked by its bytes.
"""

import os
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from collections import Counter, OrderedDict

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import Apply, Constant, toposort
from minigraph.graph.op import Op
from minigraph.graph.type import TensorType
from minigraph.printing import debugprint, pydotprint
from minigraph.pydot import LARGE_GRAPH, repr_svg, to_graphviz

SVG = "{http://www.w3.org/2000/svg}"
HERE = os.path.abspath(__file__)


@pytest.fixture
def rng():
    seed = int(os.environ.get("MINIGRAPH_TEST_SEED") or np.random.SeedSequence().entropy % 2**32)
    print(f"random seed {seed}")
    return np.random.default_rng(seed)


def read_svg(path):
    """``{'node': [...], 'edge': [...], 'cluster': [...]}``; each item a dict with the
    element's title, its class words and its texts (label lines), and its tooltip."""
    out = {"node": [], "edge": [], "cluster": []}
    for g in ET.parse(path).getroot().iter(SVG + "g"):
        words = (g.get("class") or "").split()
        if not words or words[0] not in out:
            continue
        link = next(g.iter(SVG + "a"), None)
        out[words[0]].append(dict(
            title=g.find(SVG + "title").text, cls=words[1:],
            texts=[t.text for t in g.iter(SVG + "text")],
            tooltip=None if link is None else link.get("{http://www.w3.org/1999/xlink}title")))
    return out


def drawn(svg, kind=None):
    """Nodes of the drawing proper (not the legend), optionally of one kind."""
    return [n for n in svg["node"] if "legend" not in n["cls"]
            and (kind is None or kind in n["cls"])]


def logistic_step():
    rng = np.random.default_rng(0)
    x, y = T.dmatrix("x"), T.ivector("y")
    W = theano.shared(rng.normal(size=(4, 3)), name="W")
    b = theano.shared(np.zeros(3), name="b")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, W) + b), y).mean()
    gW, gb = theano.grad(cost, [W, b])
    return theano.function([x, y], cost, updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)],
                           name="train")


def test_dot_source_of_a_small_graph_is_exact():
    x = T.dvector("x")
    y = T.tanh(x) + x
    y.name = "y"
    tr = y.owner.trace
    assert tr == y.owner.inputs[0].owner.trace  # both ops made on the line above
    expected = f"""digraph minigraph {{
\tfontname=Helvetica fontsize=11 label="2 ops" labelloc=t rankdir=TB
\tnode [fontname=Helvetica fontsize=10]
\tedge [color="#555555" fontcolor="#444444" fontname=Helvetica fontsize=8]
\tn0 [label=tanh class=op fillcolor=white shape=box style="rounded,filled" \
tooltip="tanh\\n(float64[?]) -> float64[?]\\ncreated at {tr}"]
\tn1 [label=x class=input fillcolor="#c7e9c0" shape=ellipse style=filled \
tooltip="input x: float64[?]"]
\tn1 -> n0 [label="float64[?]"]
\tn2 [label=add class=op fillcolor=white shape=box style="rounded,filled" \
tooltip="add\\n(float64[?], float64[?]) -> float64[?]\\ncreated at {tr}"]
\tn0 -> n2 [label="0 float64[?]"]
\tn1 -> n2 [label="1 float64[?]"]
\tn3 [label=y class=output fillcolor="#fdd49e" peripheries=2 shape=ellipse style=filled \
tooltip="output 0: float64[?]"]
\tn2 -> n3 [label="y float64[?]"]
}}
"""
    assert pydotprint(y, format="dot", legend=False) == expected
    assert to_graphviz(y, legend=False).source == expected


def test_compiled_function_svg_matches_its_graph(tmp_path):
    f = logistic_step()
    path = pydotprint(f, tmp_path / "train.svg", print_output_file=False, max_label_len=80)
    assert path == str(tmp_path / "train.svg")
    svg = read_svg(path)
    nodes = f.fgraph.toposort()
    op_nodes = [n for n in drawn(svg) if {"op", "fused", "kernel"} & set(n["cls"])]
    assert Counter(n["texts"][0] for n in op_nodes) == Counter(str(n.op) for n in nodes)
    leaves = {v for n in nodes for v in n.inputs if v.owner is None}
    uses = {(v, n) for n in nodes for v in n.inputs if isinstance(v, Constant)}
    assert len(drawn(svg, "constant")) == len(uses)  # a constant is drawn at each use
    assert sorted(n["texts"][0] for n in drawn(svg, "input")) == ["x", "y"]
    assert sorted(n["texts"][0] for n in drawn(svg, "shared")) == ["W", "b"]
    assert [n["texts"] for n in drawn(svg, "output")] == [["output 0"]]
    updated = {n["title"]: n["texts"][0] for n in drawn(svg, "update")}
    assert sorted(updated.values()) == ["W (updated)", "b (updated)"]
    assert len(drawn(svg)) == len(nodes) + len(uses) + len(leaves - {c for c, _ in uses}) + 3
    update_edges = [e for e in svg["edge"] if "update" in e["cls"]]
    assert sorted(updated[e["title"].split("->")[1]] for e in update_edges) == sorted(
        updated.values())
    assert all(e["texts"][0].startswith("update float64") for e in update_edges)
    # every op's tooltip names the line of this file that built it
    assert all(f"created at {HERE}:" in n["tooltip"] for n in op_nodes)


def test_summary_and_stages(tmp_path):
    f = logistic_step()
    after = len(f.fgraph.toposort())
    before = len(toposort(f.original_outputs, blockers=[s.variable for s in f.input_specs]))
    line = f"function 'train': {after} ops after rewriting ({before} before)"
    for stage, n_ops, n_clusters in (("after", after, 0), ("before", before, 0),
                                     ("both", after + before, 2)):
        path = pydotprint(f, tmp_path / f"{stage}.svg", stage=stage, legend=False)
        root = ET.parse(path).getroot()
        title = next(root.iter(SVG + "g")).find(SVG + "text").text
        assert title == line
        svg = read_svg(path)
        assert len([n for n in drawn(svg) if "op" in n["cls"] or "fused" in n["cls"]]) == n_ops
        assert len(svg["cluster"]) == n_clusters
    assert {c["texts"][0] for c in svg["cluster"]} == {"before rewriting",
                                                        "after rewriting (what runs)"}


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_binary_formats_are_valid(tmp_path, fmt):
    path = pydotprint(logistic_step(), tmp_path / "g", format=fmt, print_output_file=False)
    assert path == str(tmp_path / f"g.{fmt}")
    data = open(path, "rb").read()
    if fmt == "pdf":
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        return
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):  # every chunk's CRC must check out
        length, kind = struct.unpack(">I4s", data[pos: pos + 8])
        body = data[pos + 8: pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length: pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert width > 200 and height > 200


class FakeLoop(Op):
    """A toy op with scan's drawing convention (inner graph and grouped outer inputs)."""

    __props__ = ("name",)

    def __init__(self, name, seqs, carries, consts, outputs):
        self.name, self.counts = name, (len(seqs), len(carries), len(consts))
        self.inner_inputs = seqs + carries + consts
        self.inner_outputs = outputs

    def __str__(self):
        return f"FakeLoop{{{self.name}}}"

    def make_node(self, n_steps, *outer):
        outs = [TensorType(v.type.dtype, shape=(None,) + v.type.shape)()
                for v in self.inner_outputs]
        return Apply(self, [T.as_tensor_variable(n_steps)] + list(outer), outs)

    def input_groups(self, node):
        ns, nc, _ = self.counts
        i = node.inputs
        return OrderedDict([("n_steps", i[:1]), ("sequences", i[1:1 + ns]),
                            ("carries", i[1 + ns:1 + ns + nc]), ("consts", i[1 + ns + nc:])])


def fake_loops():
    """An outer FakeLoop whose step runs an inner FakeLoop: two nested clusters."""
    xt, h, w = T.dvector("x_t"), T.dvector("h"), T.dvector("w")
    a, k = T.dvector("a"), T.dvector("k")
    inner = FakeLoop("inner", [], [a], [k], [T.exp(a) * k])
    h_new = T.tanh(h * w + inner(3, h, xt)[-1])
    outer = FakeLoop("outer", [xt], [h], [w], [h_new])
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), theano.shared(np.ones(2), name="W")
    return outer(x.shape[0], x, h0, W)


def test_scan_like_ops_are_drawn_as_nested_clusters(tmp_path):
    svg = read_svg(pydotprint(fake_loops().sum(), tmp_path / "loop.svg", with_ids=True))
    labels = {c["texts"][0] for c in svg["cluster"]}
    assert {"loop: FakeLoop{outer}", "loop: FakeLoop{inner}", "legend"} == labels
    steps = {n["texts"][0]: n["title"] for n in drawn(svg, "step")}
    assert set(steps) == {"seq: x_t", "carry: h", "const: w", "carry: a", "const: k"}
    name = {n["texts"][0]: n["title"] for n in drawn(svg)}
    edges = {e["title"]: e["texts"] for e in svg["edge"]}
    # outer values enter at the step inputs, labelled with their role
    assert edges[f"{name['x']}->{steps['seq: x_t']}"] == ["seq float64[?,?]"]
    assert edges[f"{name['h0']}->{steps['carry: h']}"] == ["carry float64[?]"]
    assert edges[f"{name['W']}->{steps['const: w']}"] == ["const float64[?]"]
    loops = [n for n in drawn(svg, "scan")]
    assert sorted(n["texts"][0].split(" [")[0] for n in loops) == ["FakeLoop{inner}",
                                                                     "FakeLoop{outer}"]
    assert any(t[0].startswith("n_steps") for t in edges.values())
    assert Counter(n["texts"][0].split(" [")[0] for n in drawn(svg, "op"))["tanh"] == 1
    flat = read_svg(pydotprint(fake_loops(), tmp_path / "flat.svg", scan_graphs=False,
                               legend=False))
    assert flat["cluster"] == [] and not drawn(flat, "step")
    assert [n["texts"][0] for n in drawn(flat, "op")].count("FakeLoop{outer}") == 1


def test_real_scan_and_its_gradient_are_clusters(tmp_path):
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    W = theano.shared(np.eye(3), name="W")
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(T.dot(h, W) + x_t), sequences=[x],
                        outputs_info=[h0], non_sequences=[W], name="rnn")
    cost = hs.sum()
    f = theano.function([x, h0], cost, updates=[(W, W - 0.1 * theano.grad(cost, W))])
    svg = read_svg(pydotprint(f, tmp_path / "rnn.svg", print_output_file=False))
    assert {c["texts"][0] for c in svg["cluster"]} == {
        "loop: Scan{rnn}", "loop: Scan{grad_of_rnn}", "legend"}
    assert {"seq: x[t]", "carry: h0[t-1]", "const: W"} <= {
        n["texts"][0] for n in drawn(svg, "step")}
    text = debugprint(hs, file="str")  # the inner graph is printed under the scan node
    assert re.search(r"> inner graph of Scan\{rnn\} \[id \w+\]:\n.*>  tanh", text)
    values = np.random.default_rng(1).normal(size=(5, 3))
    assert np.isfinite(f(values, np.zeros(3)))  # drawing leaves the function usable


def test_scan_carry_with_two_taps_feeds_both_placeholders():
    x = T.dvector("x")
    ys, _ = theano.scan(lambda a, b: a + b, outputs_info=[dict(initial=x, taps=[-1, -2])],
                        n_steps=5, name="fib")
    svg = read_svg(theano.printing.pydotprint(ys, format="svg", print_output_file=False))
    steps = {n["texts"][0]: n["title"] for n in drawn(svg, "step")}
    assert set(steps) == {"carry: x[t-1]", "carry: x[t-2]"}
    into = {ph: [(e["title"].split("->")[0], e["texts"]) for e in svg["edge"]
                 if e["title"].endswith("->" + ph)] for ph in steps.values()}
    (first,), (second,) = into.values()  # one edge each, from the carry's initial window
    assert first == second and first[1] == ["carry float64[?]"]


def test_unmatched_groups_enter_the_loop_node():
    a, b = T.dvector("a"), T.dvector("b")
    op = FakeLoop("odd", [a], [], [b], [a + b])
    op.counts = (1, 0, 2)  # three outer inputs for two placeholders: no way to pair them
    seq, k1, k2 = T.dmatrix("s"), T.dvector("k1"), T.dvector("k2")
    svg = read_svg(pydotprint(op(4, seq, k1, k2), format="svg", print_output_file=False))
    loop = drawn(svg, "scan")[0]["title"]
    name = {n["texts"][0]: n["title"] for n in drawn(svg)}
    edges = {e["title"]: e["texts"] for e in svg["edge"]}
    assert edges[f"{name['s']}->{loop}"] == ["seq float64[?,?]"]
    assert edges[f"{name['k2']}->{loop}"] == ["const float64[?]"]
    assert {n["texts"][0] for n in drawn(svg, "input")} >= {"a", "b"}  # drawn as leaves


def test_fused_and_kernel_ops_are_recognisable():
    class FakeFused(Op):
        fused_names = ["add", "mul", "tanh", "exp", "sigmoid", "true_div", "sub"]

        def make_node(self, x):
            return Apply(self, [x], [x.type()])

    x = T.dvector("x")
    src = to_graphviz(FakeFused()(x), max_label_len=16).source
    assert 'label="FakeFused\\nadd, mul, tanh,\\nexp, sigmoid,\\ntrue_div, sub"' in src
    assert "class=fused" in src
    gx, h0 = T.tensor3("gx"), T.dmatrix("h0")
    Wh, bh = T.dmatrix("W_h"), T.dvector("b_h")
    src = to_graphviz(T.nnet.gru_sequence(gx, h0, Wh, bh)).source
    assert len(re.findall(r"label=\S*GRU\S* class=kernel", src)) == 1


def test_options_change_the_drawing():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    z = T.dot(T.exp(x), y) * x
    src = to_graphviz(z, compact=False, rankdir="LR", show_shapes=False, legend=False).source
    assert "rankdir=LR" in src and "float64" not in src.replace("tooltip=", "\n").split(
        "\n")[0]
    assert src.count("class=var") == 3  # one value node per op result, then the output
    assert not re.search(r"label=\"[^\"]*float64", src)
    z.name = "a_long_name"
    short = to_graphviz(z, max_label_len=8).source
    assert "label=x" in short and 'label="a_lon..."' in short and "a_long" not in short
    assert "legend_" not in to_graphviz(z, legend=False).source


def test_with_ids_matches_debugprint(tmp_path):
    f = logistic_step()
    svg = read_svg(pydotprint(f, tmp_path / "ids.svg", with_ids=True, max_label_len=60))
    drawn_ids = {n["texts"][0] for n in drawn(svg) if "[id " in n["texts"][0]}
    text = re.sub(r"\.\d+ \[id", " [id", debugprint(f, file="str"))  # one line per output
    printed = set(re.findall(r"^[ |]*(\S+ \[id \w+\])", text, re.M))
    assert drawn_ids == printed and len(drawn_ids) == len(f.fgraph.toposort())


def test_bad_arguments_give_clear_errors(tmp_path):
    x = T.dvector("x")
    with pytest.raises(TypeError, match="expected a variable, a list of variables or a "
                                        "compiled function, got int"):
        pydotprint(3)
    with pytest.raises(TypeError, match="got str"):
        pydotprint([x, "y"])
    with pytest.raises(ValueError, match="nothing to draw"):
        pydotprint([])
    with pytest.raises(ValueError, match="format must be one of"):
        pydotprint(x, format="gif")
    with pytest.raises(ValueError, match="rankdir must be one of"):
        pydotprint(x, rankdir="up")
    with pytest.raises(ValueError, match="max_label_len must be an int >= 8"):
        pydotprint(x, max_label_len=2)
    with pytest.raises(ValueError, match="needs a compiled function"):
        pydotprint(x, stage="before")
    with pytest.raises(ValueError, match="stage must be one of"):
        pydotprint(logistic_step(), stage="during")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pydotprint(x, tmp_path / "no" / "such" / "g.svg")


def test_without_dot_the_source_is_written(tmp_path, monkeypatch, capsys):
    x = T.dvector("x")
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot program to be found
    path = pydotprint(T.exp(x), tmp_path / "g.png")
    assert path == str(tmp_path / "g.dot")
    assert open(path).read().startswith("digraph minigraph {")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apt-get install graphviz" in err
    assert "Traceback" not in err
    assert repr_svg(x) is None and x._repr_svg_() is None  # notebooks fall back to text


def test_notebook_display_and_dot_files(tmp_path):
    x = T.dvector("x")
    svg = (T.exp(x) * 2)._repr_svg_()
    assert svg.startswith("<?xml") and "<svg" in svg and ">exp<" in svg
    assert "<svg" in logistic_step()._repr_svg_()
    src = pydotprint(x + 1, tmp_path / "g.dot")  # format from the extension
    assert open(tmp_path / "g.dot").read() == src and src.startswith("digraph")


def test_large_generated_graph_renders(tmp_path, rng):
    # a deep unrolled recurrence with its gradient: long edges from the weights everywhere
    n_in, n_h = 3, 4
    x, h = T.dmatrix("x"), T.dvector("h0")
    W = theano.shared(rng.normal(size=(n_h, n_h)), name="W")
    U = theano.shared(rng.normal(size=(n_in, n_h)), name="U")
    steps = int(rng.integers(12, 16))
    hs = []
    for t in range(steps):
        h = T.tanh(T.dot(h, W) + T.dot(x[t], U)) * rng.uniform(0.5, 1.5)
        hs.append(h)
    cost = T.stack(hs).sum()
    grads = theano.grad(cost, [W, U])
    n_ops = len(toposort([cost] + grads))
    assert n_ops > LARGE_GRAPH
    svg = read_svg(pydotprint([cost] + grads, tmp_path / "big.svg", print_output_file=False))
    ops = [n for n in drawn(svg) if "op" in n["cls"]]
    assert len(ops) == n_ops
    assert len(drawn(svg, "shared")) > 2  # drawn at each use in a large graph
