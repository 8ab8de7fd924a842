"""Tests of minigraph.printing: ``debugprint`` (variables, lists, functions; to stdout, a
string or a stream) and ``pprint`` (one-line formulas). pydotprint is tested elsewhere."""

import io
import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph import printing

HERE = os.path.basename(__file__)


def _graph():
    m, v = T.dmatrix("m"), T.dvector("v")
    W = theano.shared(np.ones((3, 2)), name="W")
    out = T.tanh(T.dot(m, W) + v) * 2
    return m, v, W, out


def test_debugprint_of_a_variable():
    m, v, W, out = _graph()
    lines = printing.debugprint(out, file="str").splitlines()
    assert lines[0].startswith("mul [id A] float64[?,?]  <- " + HERE + ":")
    assert lines[1].startswith(" |tanh [id B] float64[?,?]")
    assert " | | | |m [input] float64[?,?]" in lines
    assert " | | | |W [shared] float64[?,?]" in lines
    assert any(ln.endswith("2.0 [constant] float64[]") for ln in lines)
    assert any("DimShuffle{x,0} [id E] float64[1,?]" in ln for ln in lines)


def test_debugprint_refers_to_a_repeated_node_by_its_id():
    x = T.dvector("x")
    e = T.exp(x)
    lines = printing.debugprint(e + e, file="str").splitlines()
    assert lines[1].startswith(" |exp [id B]") and lines[3] == " |exp [id B] float64[?]"
    assert len(lines) == 4  # the second exp is not expanded again


def test_debugprint_of_a_list_shares_ids_across_outputs():
    x = T.dvector("x")
    e = T.exp(x)
    text = printing.debugprint([e * 2, e.sum()], file="str")
    assert text.count("exp [id B]") == 2 and "sum{0} [id D]" in text
    assert text.splitlines()[-1] == " |exp [id B] float64[?]"  # printed once, then its id


def test_debugprint_of_a_function_shows_the_rewritten_graph_and_updates():
    x = T.dvector("x")
    acc = theano.shared(0.0, name="acc")
    f = theano.function([x], T.log(T.nnet.softmax(x)), updates={acc: acc + x.sum()})
    text = printing.debugprint(f, file="str")
    assert text.startswith("LogSoftmax [id A]")
    assert "Updates:\n acc <- \n" in text and "acc [shared] float64[]" in text


def test_debugprint_destinations(capsys):
    x = T.dvector("x")
    assert printing.debugprint(x * 2) is None
    assert capsys.readouterr().out.startswith("mul [id A]")
    buf = io.StringIO()
    assert printing.debugprint(x * 2, file=buf) is buf and buf.getvalue().startswith("mul")


def test_debugprint_options():
    x = T.dvector("x")
    y = T.exp(T.exp(x) * 2)
    y.name = "y"
    no_types = printing.debugprint(y, file="str", print_type=False, print_trace=False)
    assert no_types.splitlines()[0] == "exp [id A] 'y'"
    shallow = printing.debugprint(y, file="str", depth=1)
    assert len(shallow.splitlines()) == 2
    with pytest.raises(TypeError, match="expected a variable, a list or a function"):
        printing.debugprint(3.0)


def test_debugprint_shows_inner_graphs():
    from minigraph.graph.basic import Apply
    from minigraph.graph.op import Op

    class Repeat(Op):
        """A toy op with an inner graph, as scan has."""

        def __init__(self):
            self.inner_inputs = [T.dscalar("h")]
            self.inner_outputs = [T.tanh(self.inner_inputs[0])]

        def make_node(self, h0):
            return Apply(self, [h0], [h0.type()])

    h0 = T.dscalar("h0")
    text = printing.debugprint(Repeat()(h0), file="str", print_trace=False)
    lines = text.splitlines()
    assert lines[0] == "Repeat [id A] float64[]" and lines[1] == " |h0 [input] float64[]"
    assert lines[2] == " > inner graph of Repeat [id A]:"
    assert lines[3] == " >  tanh [id A] float64[]" and lines[4] == " >   |h [input] float64[]"


def test_pprint_formulas():
    x, v = T.dscalar("x"), T.dvector("v")
    m, i = T.dmatrix("m"), T.lscalar("i")
    assert printing.pprint(x * 2 + 1) == "((x * 2.0) + 1.0)"
    assert printing.pprint(-T.exp(x) ** 2) == "-(exp(x) ** 2.0)"
    assert printing.pprint(v + x) == "(v + x)"  # broadcasting's padding is not shown
    assert printing.pprint(v[1:3].sum()) == "sum(v[1:3], axis=(0,))"
    assert printing.pprint(m[i:, ::2]) == "m[i:, ::2]"
    assert printing.pprint(m.T) == "m.dimshuffle(1, 0)"
    assert printing.pprint(T.nnet.softmax(m)) == "Softmax(m)"
    assert printing.pprint([x, x * 2]) == "x, (x * 2.0)"


def test_theano_pp_prints_formulas():
    x, y = T.dvectors("x", "y")
    W = theano.shared(np.ones((2, 2)), name="W")
    assert theano.pp is printing.pp is printing.pprint
    assert theano.pp(x * 2 + y) == "((x * 2.0) + y)"
    assert theano.pp(T.tanh(T.dot(W, x)) - y / 3) == "(tanh(dot(W, x)) - (y / 3.0))"
    assert theano.pp(T.constant(np.arange(6.0)) * x) == "(TensorConstant{float64[6]} * x)"
    assert theano.pp(T.nnet.sigmoid(-x)[1:]) == "sigmoid(-x)[1:]"
    assert theano.pp([x + 1, y]) == "(x + 1.0), y"
    f = theano.function([x, y], x * y, mode="FAST_COMPILE")
    assert theano.pp(f) == theano.pp(f.maker.fgraph.outputs[0]) == "(x * y)"


# ---- how fused regions and loops run: the tags after their nodes ---------------------------

@pytest.fixture
def fresh_kernels(monkeypatch, tmp_path):
    """No kernel compiled yet in this process, generated ones kept in ``tmp_path``; the
    fusion policy restored after the test (monkeypatch)."""
    from minigraph.tensor import fused_kernels

    monkeypatch.setattr(fused_kernels, "_KERNELS", {})
    monkeypatch.setenv("MINIGRAPH_CACHE_DIR", str(tmp_path))
    return fused_kernels.POLICY


def _fused_line(f):
    lines = [ln for ln in printing.debugprint(f, file="str").splitlines() if "Fused{" in ln]
    assert len(lines) == 1
    return lines[0]


def test_debugprint_tags_a_region_not_compiled(monkeypatch, fresh_kernels, rng):
    monkeypatch.setattr(fresh_kernels, "compile_after", 1e12)
    monkeypatch.setattr(fresh_kernels, "compile_after_calls", 10 ** 9)
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 2 + x)
    assert "] float64[?] [numpy: not run yet]  <- " + HERE in _fused_line(f)
    xv = rng.normal(size=7)
    np.testing.assert_allclose(f(xv), np.exp(xv) * 2 + xv)
    assert _fused_line(f).endswith("[numpy: not hot yet, 1 call]  <- " + HERE + ":" +
                                   _fused_line(f).rsplit(":", 1)[1])
    f(xv)
    assert "[numpy: not hot yet, 2 calls]" in _fused_line(f)
    monkeypatch.setattr(fresh_kernels, "numba", False)
    assert "[numpy: numba off]" in _fused_line(f)


def test_debugprint_tags_a_compiled_region(monkeypatch, fresh_kernels, rng):
    monkeypatch.setattr(fresh_kernels, "compile_after", 0)  # compiled at the first call
    x = T.fvector("x")
    f = theano.function([x], T.exp(x) * 2 + x)
    xv = rng.normal(size=9).astype("float32")
    np.testing.assert_allclose(f(xv), np.exp(xv) * 2 + xv, rtol=2e-6, atol=1e-6)
    line = _fused_line(f)
    assert line.startswith("Fused{") and " float32[?] [numba]  <- " + HERE in line


@pytest.mark.parametrize("store", [True, False], ids=["stored", "recomputed"])
def test_debugprint_tags_a_scan_and_its_gradient(monkeypatch, store):
    from minigraph.scan import grad as scan_grad

    monkeypatch.setattr(scan_grad, "SAVE_STEP_VALUES", store)
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)) * T.nnet.sigmoid(h),
                        sequences=x, outputs_info=h0, non_sequences=W)
    f = theano.function([x, h0, W], theano.grad((hs ** 2).sum(), W))
    lines = printing.debugprint(f, file="str").splitlines()
    forward = [ln for ln in lines if "|Scan" in ln and "grad_of" not in ln and "<- " in ln]
    backward = [ln for ln in lines if "Scan{grad_of_scan}" in ln and "<- " in ln]
    assert len(forward) == len(backward) == 1
    assert "[loop: not run yet; step regions: " in forward[0]  # compiled once hot
    assert ("; stores 2 step values for the gradient]" in forward[0]) == store
    assert "stores" not in backward[0]
    assert ("; gradient: reads 2 stored values]" in backward[0]) == store
