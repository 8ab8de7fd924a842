"""Tests of minigraph.scan.gru_rewrite: each GRU rewrite alone and together, on the forms of
the cell people write, checking the graph's structure and the values and gradients against
the same graph compiled without the rewrite (and a finite-difference check)."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.mode import FAST_RUN
from minigraph.gradient import verify_grad
from minigraph.graph.basic import toposort
from minigraph.scan.op import Carry, Scan, make_scan
from minigraph.tensor.nnet.gru import GRUSequence, GRUSequenceGrad

H, D, B, STEPS = 3, 4, 2, 5
PLAIN = FAST_RUN.excluding("scan_gru")
BLENDS = {
    "(1-z)*n + z*h": lambda z, n, h: (1 - z) * n + z * h,
    "h*z + (1-z)*n": lambda z, n, h: h * z + (1 - z) * n,
    "n + z*(h-n)": lambda z, n, h: n + z * (h - n),
}


def _gates(gx, gh):
    """r, z and the n gate's input term of the cuDNN cell from (B, 3H) gate matrices."""
    r = T.nnet.sigmoid(gx[:, :H] + gh[:, :H])
    z = T.nnet.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    return r, z, T.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])


def concatenated(blend):
    """(a): gx = x_t W_x + b_x and gh = h W_h + b_h, sliced per gate."""
    def step(x_t, h, W_x, W_h, b_x, b_h):
        r, z, n = _gates(T.dot(x_t, W_x) + b_x, T.dot(h, W_h) + b_h)
        return BLENDS[blend](z, n, h)
    return step, [(D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,)], D


def precomputed(blend):
    """(a) with gx_t computed outside the loop and given as the sequence."""
    def step(gx_t, h, W_h, b_h):
        r, z, n = _gates(gx_t, T.dot(h, W_h) + b_h)
        return BLENDS[blend](z, n, h)
    return step, [(H, 3 * H), (3 * H,)], 3 * H


def separate(blend):
    """(b): three input and three recurrent matrices, biases b_r, b_z, b_xn, b_hn."""
    def step(x_t, h, Wxr, Wxz, Wxn, Whr, Whz, Whn, br, bz, bxn, bhn):
        r = T.nnet.sigmoid(T.dot(x_t, Wxr) + T.dot(h, Whr) + br)
        z = T.nnet.sigmoid(T.dot(x_t, Wxz) + T.dot(h, Whz) + bz)
        n = T.tanh(T.dot(x_t, Wxn) + bxn + r * (T.dot(h, Whn) + bhn))
        return BLENDS[blend](z, n, h)
    return step, [(D, H)] * 3 + [(H, H)] * 3 + [(H,)] * 4, D


def _problem(form, blend, rng, dtype="float64", **scan_kw):
    """Symbolic inputs, the loop's states ``hs`` and values for the inputs."""
    step, shapes, width = form(blend)
    x = T.tensor(dtype, (None, None, None), name="x")
    h0 = T.tensor(dtype, (None, None), name="h0")
    params = [T.tensor(dtype, (None,) * len(s), name=f"p{i}") for i, s in enumerate(shapes)]
    hs, _ = theano.scan(step, sequences=x, outputs_info=h0, non_sequences=params, **scan_kw)
    vals = [rng.normal(size=(STEPS, B, width)), rng.normal(size=(B, H))]
    vals += [rng.normal(size=s) * 0.5 for s in shapes]
    return [x, h0] + params, hs, [v.astype(dtype) for v in vals]


def _ops(f):
    return [type(n.op).__name__ for n in f.fgraph.toposort()]


def _inner_ops(node):
    return [type(n.op).__name__ for n in toposort(node.op.inner_outputs, node.op.inner_inputs)]


def _check_same(inputs, outputs, vals, mode, ref=PLAIN, rtol=1e-10, atol=1e-12):
    f = theano.function(inputs, outputs, mode=mode)
    g = theano.function(inputs, outputs, mode=ref)
    for a, b in zip(f(*vals), g(*vals)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return f


FORMS = [concatenated, precomputed, separate]


@pytest.mark.parametrize("blend", list(BLENDS))
@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_cell_becomes_one_gru_step_in_the_loop(rng, form, blend):
    inputs, hs, vals = _problem(form, blend, rng)
    grads = theano.grad((hs ** 2).sum(), inputs)
    f = _check_same(inputs, [hs] + grads, vals, FAST_RUN.excluding("scan_gru_sequence"))
    forward = [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)][0]
    assert _inner_ops(forward).count("GRUStep") == 1
    gate_math = {"sigmoid", "tanh", "mul", "sub"}  # all inside the fused step now
    assert not gate_math & {str(n.op) for n in toposort(forward.op.inner_outputs)}
    if form is separate:  # weights joined once before the loop, one input product (hoisted)
        assert "Join" not in _inner_ops(forward) and _inner_ops(forward).count("Dot") <= 1


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_forward_and_backward_loops_become_the_fused_sequence_ops(rng, form):
    inputs, hs, vals = _problem(form, "(1-z)*n + z*h", rng)
    grads = theano.grad((hs ** 2).sum() + hs[-1].sum(), inputs)
    f = _check_same(inputs, [hs] + grads, vals, FAST_RUN)
    ops = _ops(f)
    assert "Scan" not in ops and ops.count("GRUSequence") == 1 and ops.count(
        "GRUSequenceGrad") == 1
    # neither the trace with h0 in front nor the zero-padded gradient buffers are built: the
    # one IncSubtensor left (into zeros: ZerosIncSubtensor) is the gradient of hs[-1]
    nodes = f.fgraph.toposort()
    assert not [n for n in nodes if type(n.op).__name__ == "Join" and n.outputs[0].ndim == 3]
    assert ops.count("IncSubtensor") + ops.count("ZerosIncSubtensor") == 1


@pytest.mark.parametrize("scan_kw", [dict(go_backwards=True), dict(n_steps=3)],
                         ids=["go_backwards", "n_steps < len(x)"])
def test_loops_over_part_of_a_sequence_or_backwards(rng, scan_kw):
    inputs, hs, vals = _problem(concatenated, "(1-z)*n + z*h", rng, **scan_kw)
    grads = theano.grad((hs ** 2).sum(), inputs)
    f = _check_same(inputs, [hs] + grads, vals, FAST_RUN)
    assert "Scan" not in _ops(f) and "GRUSequenceGrad" in _ops(f)


def test_one_variable_in_two_const_slots_keeps_the_backward_loop_exact(rng):
    # (scan's builder gives each outer variable one slot; make_scan allows two.) The
    # backward loop sums W's gradient per slot, so mapping slots by variable would count it
    # twice: that loop stays, the forward loop is still fused.
    gx_t, h, W1, W2, b = T.dmatrix("gx[t]"), T.dmatrix("h"), T.dmatrix("W1"), T.dmatrix("W2"), \
        T.dvector("b")
    r, z, _ = _gates(gx_t, T.dot(h, W1) + b)
    n = T.tanh(gx_t[:, 2 * H:] + r * (T.dot(h, W2) + b)[:, 2 * H:])
    gx, h0, W, bias = T.dtensor3("gx"), T.dmatrix("h0"), T.dmatrix("W"), T.dvector("bias")
    carry = Carry([h], (-1,), h0, (1 - z) * n + z * h, True, "h")
    (trace,), _ = make_scan(gx.shape[0], [(gx_t, gx)], [carry], [],
                            [(W1, W), (W2, W), (b, bias)])
    inputs = [gx, h0, W, bias]
    vals = [rng.normal(size=(STEPS, B, 3 * H)), rng.normal(size=(B, H)),
            rng.normal(size=(H, 3 * H)), rng.normal(size=3 * H)]
    hs = trace[1:]
    f = _check_same(inputs, [hs] + theano.grad((hs ** 2).sum(), inputs), vals, FAST_RUN)
    assert "GRUSequence" in _ops(f) and "GRUSequenceGrad" not in _ops(f)


def test_a_loop_of_gru_step_becomes_gru_sequence_alone(rng):
    x, h0, W, b = T.dtensor3("gx"), T.dmatrix("h0"), T.dmatrix("W"), T.dvector("b")
    hs, _ = theano.scan(lambda g, h, W, b: T.nnet.gru_step(g, h, W, b), sequences=x,
                        outputs_info=h0, non_sequences=[W, b])
    inputs = [x, h0, W, b]
    vals = [rng.normal(size=(STEPS, B, 3 * H)), rng.normal(size=(B, H)),
            rng.normal(size=(H, 3 * H)), rng.normal(size=3 * H)]
    grads = theano.grad((hs ** 2).sum(), inputs)
    mode = FAST_RUN.excluding("scan_gru_cell")
    f = _check_same(inputs, [hs] + grads, vals, mode, ref=FAST_RUN.excluding(
        "scan_gru_sequence"))
    assert [type(n.op) for n in f.fgraph.toposort() if type(n.op) in (
        GRUSequence, GRUSequenceGrad, Scan)] == [GRUSequence, GRUSequenceGrad]
    g = theano.function(inputs, hs, mode=FAST_RUN.excluding("scan_gru_sequence"))
    assert any(isinstance(n.op, Scan) and _inner_ops(n) == ["GRUStep"]
               for n in g.fgraph.toposort())


@pytest.mark.parametrize("name", ["scan_gru", "scan_gru_cell"])
def test_switched_off_by_name_the_plain_loop_stays(rng, name):
    inputs, hs, vals = _problem(concatenated, "(1-z)*n + z*h", rng)
    f = theano.function(inputs, hs, mode=FAST_RUN.excluding(name))
    (node,) = [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)]
    assert "GRUStep" not in _inner_ops(node) and "GRUSequence" not in _ops(f)


def test_the_loops_own_mode_can_switch_it_off(rng):
    inputs, hs, vals = _problem(concatenated, "(1-z)*n + z*h", rng,
                                mode=FAST_RUN.excluding("scan_gru_cell"))
    assert "Scan" in _ops(theano.function(inputs, hs))


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_gradients_of_the_fused_graph_match_finite_differences(rng, form):
    step, shapes, width = form("n + z*(h-n)")
    vals = [rng.normal(size=(3, B, width)), rng.normal(size=(B, H))]
    vals += [rng.normal(size=s) * 0.5 for s in shapes]

    def loop(x, h0, *params):
        hs, _ = theano.scan(step, sequences=x, outputs_info=h0, non_sequences=list(params))
        return hs

    inputs = [T.tensor("float64", (None,) * v.ndim) for v in vals]
    f = theano.function(inputs, theano.grad(loop(*inputs).sum(), inputs))
    assert "Scan" not in _ops(f) and "GRUSequenceGrad" in _ops(f)
    verify_grad(loop, vals, rng=rng, mode=FAST_RUN)


def test_two_gradients_of_one_loop_are_both_fused(rng):
    inputs, hs, vals = _problem(precomputed, "(1-z)*n + z*h", rng)
    W = inputs[2]
    outs = [theano.grad(hs.sum(), W), theano.grad((hs ** 2).sum(), [inputs[0], inputs[1]])]
    f = _check_same(inputs, [outs[0]] + outs[1], vals, FAST_RUN)
    assert "Scan" not in _ops(f) and _ops(f).count("GRUSequenceGrad") == 2


def test_float32_loop_equals_the_fused_op_written_directly(rng):
    inputs, hs, vals = _problem(precomputed, "(1-z)*n + z*h", rng, dtype="float32")
    gx, h0, W, b = inputs
    direct = T.nnet.gru_sequence(gx, h0, W, b)
    wrt = [gx, h0, W, b]
    outs = [hs] + theano.grad((hs ** 2).sum(), wrt)
    want = [direct] + theano.grad((direct ** 2).sum(), wrt)
    got = theano.function(inputs, outs)(*vals)
    for a, b_ in zip(got, theano.function(inputs, want)(*vals)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b_, rtol=1e-6, atol=1e-6)


def test_truncated_gradient_keeps_the_backward_loop(rng):
    inputs, hs, vals = _problem(concatenated, "(1-z)*n + z*h", rng, truncate_gradient=2)
    grads = theano.grad((hs ** 2).sum(), inputs)
    f = _check_same(inputs, [hs] + grads, vals, FAST_RUN)
    assert "GRUSequence" in _ops(f) and "GRUSequenceGrad" not in _ops(f)
    assert any(isinstance(n.op, Scan) for n in f.fgraph.toposort())


def _cho_step(x_t, h, W_x, W_h, W_hn):
    # Cho's original cell: the reset gate scales h before its product (two GEMMs a step)
    gx, gh = T.dot(x_t, W_x), T.dot(h, W_h)
    r = T.nnet.sigmoid(gx[:, :H] + gh[:, :H])
    z = T.nnet.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = T.tanh(gx[:, 2 * H:] + T.dot(r * h, W_hn))
    return (1 - z) * n + z * h


def _unbatched_step(x_t, h, W_x, W_h):
    gx, gh = T.dot(x_t, W_x), T.dot(h, W_h)
    r, z = T.nnet.sigmoid(gx[:H] + gh[:H]), T.nnet.sigmoid(gx[H:2 * H] + gh[H:2 * H])
    return (1 - z) * T.tanh(gx[2 * H:] + r * gh[2 * H:]) + z * h


def _two_carries_step(x_t, h, c, W_x, W_h):
    r, z, n = _gates(T.dot(x_t, W_x), T.dot(h, W_h))
    return (1 - z) * n + z * h, c + 1


@pytest.mark.parametrize("case", ["cho", "unbatched", "two carries", "no input", "identity"])
def test_what_is_not_a_cudnn_gru_stays_a_loop(rng, case):
    x, h0, W_x, W_h = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W_x"), T.dmatrix("W_h")
    vals = [rng.normal(size=(STEPS, B, D)), rng.normal(size=(B, H)),
            rng.normal(size=(D, 3 * H)), rng.normal(size=(H, 3 * H))]
    inputs = [x, h0, W_x, W_h]
    if case == "cho":
        inputs.append(T.dmatrix("W_hn"))
        vals.append(rng.normal(size=(H, H)))
        hs, _ = theano.scan(_cho_step, sequences=x, outputs_info=h0, non_sequences=inputs[2:])
    elif case == "unbatched":  # h of shape (H,): gru_step needs a batch axis
        inputs[0], inputs[1] = T.dmatrix("x"), T.dvector("h0")
        vals[0], vals[1] = vals[0][:, 0], vals[1][0]
        hs, _ = theano.scan(_unbatched_step, sequences=inputs[0], outputs_info=inputs[1],
                            non_sequences=[W_x, W_h])
    elif case == "two carries":
        (hs, _c), _ = theano.scan(_two_carries_step, sequences=x,
                                  outputs_info=[h0, T.constant(0.0)], non_sequences=[W_x, W_h])
    elif case == "identity":  # the carry's new value is a placeholder: no node to match
        hs, _ = theano.scan(lambda x_t, h: h, sequences=x, outputs_info=h0)
        inputs, vals = [x, h0], vals[:2]
    else:  # the gates read no sequence: nothing to give gru_step as gx
        hs, _ = theano.scan(lambda h, W_h: _blend_without_input(h, W_h), outputs_info=h0,
                            non_sequences=[W_h], n_steps=STEPS)
        inputs, vals = [h0, W_h], [vals[1], vals[3]]
    f = _check_same(inputs, [hs] + theano.grad(hs.sum(), inputs), vals, FAST_RUN)
    assert "GRUSequence" not in _ops(f)
    for node in f.fgraph.toposort():
        if isinstance(node.op, Scan):
            assert "GRUStep" not in _inner_ops(node)


def _blend_without_input(h, W_h):
    gh = T.dot(h, W_h)
    r, z = T.nnet.sigmoid(gh[:, :H]), T.nnet.sigmoid(gh[:, H:2 * H])
    n = T.tanh(r * gh[:, 2 * H:])
    return (1 - z) * n + z * h


def test_a_recognised_loop_of_zero_steps_fails_clearly(rng):
    # the fused kernels need T >= 1, where the plain loop would return no states
    inputs, hs, vals = _problem(precomputed, "(1-z)*n + z*h", rng)
    f = theano.function(inputs, hs)
    assert "GRUSequence" in _ops(f)
    with pytest.raises(ValueError, match="T must be at least 1"):
        f(vals[0][:0], *vals[1:])
