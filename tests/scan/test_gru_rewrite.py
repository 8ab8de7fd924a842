"""Tests of minigraph.scan.gru_rewrite: a scan over ``gru_step`` becomes the fused sequence ops,
forward and BPTT, checked against the same graph compiled without the pass and by finite
differences; a GRU written in plain ops is not matched, stays a general loop, and equals the
fused ops written directly."""

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


# plain-op forms: (step, parameter shapes, sequence width, the fused op's (gx, W_h, b_h))
def concatenated(blend):
    """gx = x_t W_x + b_x and gh = h W_h + b_h, sliced per gate."""
    def step(x_t, h, W_x, W_h, b_x, b_h):
        r, z, n = _gates(T.dot(x_t, W_x) + b_x, T.dot(h, W_h) + b_h)
        return BLENDS[blend](z, n, h)

    def fused(x, W_x, W_h, b_x, b_h):
        return T.dot(x, W_x) + b_x, W_h, b_h
    return step, [(D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,)], D, fused


def precomputed(blend):
    """gx_t computed outside the loop and given as the sequence."""
    def step(gx_t, h, W_h, b_h):
        r, z, n = _gates(gx_t, T.dot(h, W_h) + b_h)
        return BLENDS[blend](z, n, h)
    return step, [(H, 3 * H), (3 * H,)], 3 * H, lambda gx, W_h, b_h: (gx, W_h, b_h)


def separate(blend):
    """Three input and three recurrent matrices, biases b_r, b_z, b_xn, b_hn."""
    def step(x_t, h, Wxr, Wxz, Wxn, Whr, Whz, Whn, br, bz, bxn, bhn):
        r = T.nnet.sigmoid(T.dot(x_t, Wxr) + T.dot(h, Whr) + br)
        z = T.nnet.sigmoid(T.dot(x_t, Wxz) + T.dot(h, Whz) + bz)
        n = T.tanh(T.dot(x_t, Wxn) + bxn + r * (T.dot(h, Whn) + bhn))
        return BLENDS[blend](z, n, h)

    def fused(x, Wxr, Wxz, Wxn, Whr, Whz, Whn, br, bz, bxn, bhn):
        gx = T.concatenate([T.dot(x, Wxr) + br, T.dot(x, Wxz) + bz, T.dot(x, Wxn) + bxn], 2)
        return gx, T.concatenate([Whr, Whz, Whn], 1), \
            T.concatenate([T.zeros_like(br), T.zeros_like(bz), bhn])
    return step, [(D, H)] * 3 + [(H, H)] * 3 + [(H,)] * 4, D, fused


def fused_step(gx_t, h, W_h, b_h):
    return T.nnet.gru_step(gx_t, h, W_h, b_h)


FUSED = (fused_step, [(H, 3 * H), (3 * H,)], 3 * H)


def _problem(rng, step=fused_step, shapes=FUSED[1], width=FUSED[2], dtype="float64",
             **scan_kw):
    """Symbolic inputs, the loop's states ``hs`` and values for the inputs."""
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


@pytest.mark.parametrize("blend", list(BLENDS))
@pytest.mark.parametrize("form", [concatenated, precomputed, separate],
                         ids=lambda f: f.__name__)
def test_a_gru_in_plain_ops_is_a_general_loop_equal_to_the_fused_ops(rng, form, blend):
    step, shapes, width, fused = form(blend)
    inputs, hs, vals = _problem(rng, step, shapes, width)
    gx, W_h, b_h = fused(inputs[0], *inputs[2:])
    direct = T.nnet.gru_sequence(gx, inputs[1], W_h, b_h)
    loss = (hs ** 2).sum() + hs[-1].sum()
    f = theano.function(inputs, [hs] + theano.grad(loss, inputs))
    want = theano.function(inputs, [direct] + theano.grad(
        (direct ** 2).sum() + direct[-1].sum(), inputs))
    for a, b in zip(f(*vals), want(*vals)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    ops = _ops(f)
    assert "GRUSequence" not in ops and "GRUSequenceGrad" not in ops and "Scan" in ops
    assert all("GRUStep" not in _inner_ops(n) for n in f.fgraph.toposort()
               if isinstance(n.op, Scan))


def test_forward_and_backward_loops_become_the_fused_sequence_ops(rng):
    inputs, hs, vals = _problem(rng)
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
    g = theano.function(inputs, hs, mode=PLAIN)  # without the pass: a loop of gru_step
    assert any(isinstance(n.op, Scan) and _inner_ops(n) == ["GRUStep"]
               for n in g.fgraph.toposort())


@pytest.mark.parametrize("scan_kw", [dict(go_backwards=True), dict(n_steps=3)],
                         ids=["go_backwards", "n_steps < len(x)"])
def test_loops_over_part_of_a_sequence_or_backwards(rng, scan_kw):
    inputs, hs, vals = _problem(rng, **scan_kw)
    grads = theano.grad((hs ** 2).sum(), inputs)
    f = _check_same(inputs, [hs] + grads, vals, FAST_RUN)
    assert "Scan" not in _ops(f) and "GRUSequenceGrad" in _ops(f)


def test_one_variable_in_two_const_slots_keeps_the_backward_loop_exact(rng):
    # (scan's builder gives each outer variable one slot; make_scan allows two.) The
    # backward loop sums W's gradient per slot, so mapping slots by variable would count it
    # twice: that loop stays, the forward loop is still fused.
    gx_t, h, W1, W2, b = T.dmatrix("gx[t]"), T.dmatrix("h"), T.dmatrix("W1"), T.dmatrix("W2"), \
        T.dvector("b")
    gx, h0, W, bias = T.dtensor3("gx"), T.dmatrix("h0"), T.dmatrix("W"), T.dvector("bias")
    carry = Carry([h], (-1,), h0, T.nnet.gru_step(gx_t, h, 0.5 * W1 + 0.5 * W2, b), True, "h")
    (trace,), _ = make_scan(gx.shape[0], [(gx_t, gx)], [carry], [],
                            [(W1, W), (W2, W), (b, bias)])
    inputs = [gx, h0, W, bias]
    vals = [rng.normal(size=(STEPS, B, 3 * H)), rng.normal(size=(B, H)),
            rng.normal(size=(H, 3 * H)), rng.normal(size=3 * H)]
    hs = trace[1:]
    f = _check_same(inputs, [hs] + theano.grad((hs ** 2).sum(), inputs), vals, FAST_RUN)
    assert "GRUSequence" in _ops(f) and "GRUSequenceGrad" not in _ops(f)


@pytest.mark.parametrize("name", ["scan_gru", "scan_gru_sequence"])
def test_switched_off_by_name_the_loop_stays(rng, name):
    inputs, hs, vals = _problem(rng)
    f = _check_same(inputs, [hs], vals, FAST_RUN.excluding(name), ref=FAST_RUN)
    (node,) = [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)]
    assert _inner_ops(node) == ["GRUStep"] and "GRUSequence" not in _ops(f)


def test_the_loops_own_mode_can_switch_it_off(rng):
    inputs, hs, vals = _problem(rng, mode=FAST_RUN.excluding("scan_gru_sequence"))
    assert "Scan" in _ops(theano.function(inputs, hs))


def test_gradients_of_the_fused_graph_match_finite_differences(rng):
    vals = [rng.normal(size=(3, B, 3 * H)), rng.normal(size=(B, H)),
            rng.normal(size=(H, 3 * H)) * 0.5, rng.normal(size=3 * H) * 0.5]

    def loop(x, h0, W, b):
        hs, _ = theano.scan(fused_step, sequences=x, outputs_info=h0, non_sequences=[W, b])
        return hs

    inputs = [T.tensor("float64", (None,) * v.ndim) for v in vals]
    f = theano.function(inputs, theano.grad(loop(*inputs).sum(), inputs))
    assert "Scan" not in _ops(f) and "GRUSequenceGrad" in _ops(f)
    verify_grad(loop, vals, rng=rng, mode=FAST_RUN)


def test_two_gradients_of_one_loop_are_both_fused(rng):
    inputs, hs, vals = _problem(rng)
    W = inputs[2]
    outs = [theano.grad(hs.sum(), W), theano.grad((hs ** 2).sum(), [inputs[0], inputs[1]])]
    f = _check_same(inputs, [outs[0]] + outs[1], vals, FAST_RUN)
    assert "Scan" not in _ops(f) and _ops(f).count("GRUSequenceGrad") == 2


def test_float32_loop_equals_the_fused_op_written_directly(rng):
    inputs, hs, vals = _problem(rng, dtype="float32")
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
    inputs, hs, vals = _problem(rng, truncate_gradient=2)
    grads = theano.grad((hs ** 2).sum(), inputs)
    f = _check_same(inputs, [hs] + grads, vals, FAST_RUN)
    assert "GRUSequence" in _ops(f) and "GRUSequenceGrad" not in _ops(f)
    assert any(isinstance(n.op, Scan) for n in f.fgraph.toposort())


@pytest.mark.parametrize("case", ["two carries", "input reads h", "identity"])
def test_what_is_not_a_loop_of_gru_step_stays_a_loop(rng, case):
    x, h0, W, b = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W"), T.dvector("b")
    vals = [rng.normal(size=(STEPS, B, 3 * H)), rng.normal(size=(B, H)),
            rng.normal(size=(H, 3 * H)) * 0.5, rng.normal(size=3 * H) * 0.5]
    inputs = [x, h0, W, b]
    if case == "two carries":
        (hs, _c), _ = theano.scan(lambda g, h, c, W, b: [fused_step(g, h, W, b), c + 1],
                                  sequences=x, outputs_info=[h0, T.constant(0.0)],
                                  non_sequences=[W, b])
    elif case == "input reads h":  # no gx over all steps to give gru_sequence
        hs, _ = theano.scan(lambda g, h, W, b: fused_step(g + T.tile(h, (1, 3)), h, W, b),
                            sequences=x, outputs_info=h0, non_sequences=[W, b])
    else:  # the carry's new value is a placeholder: no node to match
        hs, _ = theano.scan(lambda x_t, h: h, sequences=x, outputs_info=h0)
        inputs, vals = [x, h0], vals[:2]
    f = _check_same(inputs, [hs] + theano.grad(hs.sum(), inputs), vals, FAST_RUN)
    assert "GRUSequence" not in _ops(f)


def test_a_fused_loop_of_zero_steps_fails_clearly(rng):
    # the fused kernels need T >= 1, where the plain loop would return no states
    inputs, hs, vals = _problem(rng)
    f = theano.function(inputs, hs)
    assert "GRUSequence" in _ops(f)
    with pytest.raises(ValueError, match="T must be at least 1"):
        f(vals[0][:0], *vals[1:])
