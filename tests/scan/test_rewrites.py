"""Tests of minigraph.scan.rewrites: each rewrite's effect on the graph, and one value each
against the same function compiled without it."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.mode import FAST_RUN
from minigraph.graph.basic import toposort
from minigraph.scan.op import Scan


def _scans(f):
    return [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)]


def _inner_ops(node):
    return [type(n.op).__name__ for n in toposort(node.op.inner_outputs, node.op.inner_inputs)]


def _inner_ndims(node):
    nodes = toposort(node.op.inner_outputs, node.op.inner_inputs)
    return [o.ndim for n in nodes for o in n.outputs]


def _same_values(inputs, outputs, vals, rewrite):
    """Values with every rewrite equal those without ``rewrite``; returns the function."""
    f = theano.function(inputs, outputs)
    g = theano.function(inputs, outputs, mode=FAST_RUN.excluding(rewrite))
    for a, b in zip(f(*vals), g(*vals)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    return f, g


def test_prune_drops_unused_outputs_and_what_only_they_read(rng):
    x, k, unused_k = T.dvector("x"), T.dscalar("k"), T.dscalar("u")

    def step(x_t, h, k, u):
        return h + x_t * k, h * 2, x_t * u  # (carry, read by y; y; a y nobody reads)

    (h, y, z), _ = theano.scan(step, sequences=x, outputs_info=[T.constant(0.0), None, None],
                               non_sequences=[k, unused_k])
    f, g = _same_values([x, k, unused_k], [y], [rng.normal(size=5), 0.5, 2.0], "scan_prune")
    (node,) = _scans(f)
    assert node.op.n_carries == 1 and node.op.n_ys == 1 and node.op.n_consts == 1
    assert len(_scans(g)[0].outputs) == 3  # excluded by name: all three outputs stay


def test_prune_removes_the_gradient_of_a_sequence_nobody_asked_for(rng):
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)), sequences=x,
                        outputs_info=h0, non_sequences=W)
    gW = theano.grad(hs.sum(), W)
    vals = [rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(3, 3))]
    f, g = _same_values([x, h0, W], [gW], vals, "scan_prune")
    assert _scans(g)[1].op.n_ys == 1  # the gradient of x, computed for nothing
    assert _scans(f)[1].op.n_ys <= 1 and all(len(n.outputs) <= 2 for n in _scans(f))


def test_sum_of_outer_products_becomes_one_product_after_the_loop(rng):
    # a carry without a trace that only adds outer(a_t, b_t): the weight gradient of BPTT
    x = T.dmatrix("x")
    W = T.dmatrix("W")
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)), sequences=x,
                        outputs_info=T.zeros((2,), "float64"), non_sequences=W)
    gW = theano.grad((hs ** 2).sum(), W)
    vals = [rng.normal(size=(6, 2)), rng.normal(size=(2, 2))]
    f, g = _same_values([x, W], [gW], vals, "scan_sum_of_products")
    back_f, back_g = _scans(f)[1], _scans(g)[1]
    assert back_g.op.n_carries == 2  # the adjoint of h and the sum for W
    assert back_f.op.n_carries == 1  # the sum left the loop...
    assert "Dot" in [type(n.op).__name__ for n in f.fgraph.toposort()]  # ...as one product
    # no W-sized (2-d) value is computed per step any more: no rank-one updates
    assert max(_inner_ndims(back_g)) == 2 and max(_inner_ndims(back_f)) == 1


def test_sum_of_products_of_matrices_for_a_batched_loop(rng):
    x, h0, W = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("W")  # (steps, batch, features)
    hs, _ = theano.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)), sequences=x,
                        outputs_info=h0, non_sequences=W)
    grads = theano.grad((hs ** 2).sum(), [W, h0])
    vals = [rng.normal(size=(5, 4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(3, 3))]
    f, _ = _same_values([x, h0, W], grads, vals, "scan_sum_of_products")
    assert _scans(f)[1].op.n_carries == 1


def test_hoist_input_dot_computes_x_times_W_once(rng):
    x, Wx, Wh = T.dmatrix("x"), T.dmatrix("Wx"), T.dmatrix("Wh")
    hs, _ = theano.scan(lambda x_t, h, Wx, Wh: T.tanh(T.dot(x_t, Wx) + T.dot(h, Wh)),
                        sequences=x, outputs_info=T.zeros((3,), "float64"),
                        non_sequences=[Wx, Wh])
    vals = [rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=(3, 3))]
    f, g = _same_values([x, Wx, Wh], [hs], vals, "scan_hoist_input_dot")
    (node,) = _scans(f)
    assert _inner_ops(node).count("Dot") == 1  # only h @ Wh is left in the loop
    assert _inner_ops(_scans(g)[0]).count("Dot") == 2
    assert node.op.n_seqs == 1 and node.op.seq_placeholders()[0].name == "dot(x[t], Wx)"


@pytest.mark.parametrize("batched", [False, True])
def test_every_rewrite_together_keeps_the_training_step_exact(rng, batched):
    shape = (6, 2, 4) if batched else (6, 4)
    x = T.tensor("float64", (None,) * len(shape), name="x")
    h0 = T.tensor("float64", (None,) * (len(shape) - 1), name="h0")
    Wx, Wh, b = T.dmatrix("Wx"), T.dmatrix("Wh"), T.dvector("b")
    hs, _ = theano.scan(lambda x_t, h, Wx, Wh, b: T.nnet.relu(T.dot(x_t, Wx) + T.dot(h, Wh) + b),
                        sequences=x, outputs_info=h0, non_sequences=[Wx, Wh, b])
    grads = theano.grad((hs ** 2).sum(), [Wx, Wh, b, h0])
    vals = [rng.normal(size=shape), rng.normal(size=shape[1:-1] + (3,)),
            rng.normal(size=(4, 3)), rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)]
    _same_values([x, h0, Wx, Wh, b], grads, vals, "scan")


def test_every_rewrite_together_on_a_gru_step(rng):
    H = 3
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    Wx, Wh, bh = T.dmatrix("Wx"), T.dmatrix("Wh"), T.dvector("bh")

    def step(x_t, h, Wx, Wh, bh):  # cuDNN formulation: gates r, z, n
        gx, gh = T.dot(x_t, Wx), T.dot(h, Wh) + bh
        r = T.nnet.sigmoid(gx[:H] + gh[:H])
        z = T.nnet.sigmoid(gx[H:2 * H] + gh[H:2 * H])
        n = T.tanh(gx[2 * H:] + r * gh[2 * H:])
        return (1 - z) * n + z * h

    hs, _ = theano.scan(step, sequences=x, outputs_info=h0, non_sequences=[Wx, Wh, bh])
    grads = theano.grad((hs ** 2).sum(), [Wx, Wh, bh, h0, x])
    vals = [rng.normal(size=(5, 4)), rng.normal(size=H), rng.normal(size=(4, 3 * H)),
            rng.normal(size=(H, 3 * H)), rng.normal(size=3 * H)]
    _same_values([x, h0, Wx, Wh, bh], grads, vals, "scan")


def test_merge_twin_runs_the_forward_loop_once(rng):
    """The user's loop, whose gradient needs a twin storing the step's values, gives way
    to the twin: its trace, its last state and its per-step output come from the twin."""
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    (hs, ys), _ = theano.scan(lambda x_t, h, W: [T.nnet.relu(x_t + T.dot(h, W)),
                                                 T.nnet.sigmoid(h).sum()],
                              sequences=x, outputs_info=[h0, None], non_sequences=W)
    cost = (hs ** 2).sum() + ys.sum()
    outs = [hs, hs[-1], ys] + theano.grad(cost, [x, h0, W])
    vals = [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(3, 3)) * 0.5]
    f, g = _same_values([x, h0, W], outs, vals, "scan_merge_twin")
    assert len(_scans(f)) == 2 and len(_scans(g)) == 3  # forward (twin), backward


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sum_of_products_moves_a_bias_gradient_out_of_the_loop(rng, dtype):
    """``acc + sum(g_t, axis=0)`` where the loop emits ``g_t`` anyway (the gradient of the
    sequence): one reduction after the backward loop, none in it."""
    x, h0 = T.tensor3("x", dtype=dtype), T.matrix("h0", dtype=dtype)
    W, b = T.matrix("W", dtype=dtype), T.vector("b", dtype=dtype)
    hs, _ = theano.scan(lambda x_t, h, W, b: T.tanh(x_t + T.dot(h, W) + b), sequences=x,
                        outputs_info=h0, non_sequences=[W, b])
    grads = theano.grad((hs ** 2).sum(), [x, h0, W, b])
    vals = [rng.normal(size=(4, 3, 5)).astype(dtype), rng.normal(size=(3, 5)).astype(dtype),
            (rng.normal(size=(5, 5)) * 0.5).astype(dtype), rng.normal(size=5).astype(dtype)]
    f = theano.function([x, h0, W, b], grads)
    g = theano.function([x, h0, W, b], grads, mode=FAST_RUN.excluding("scan_sum_of_products"))
    tol = 1e-5 if dtype == "float32" else 1e-10
    for a, c in zip(f(*vals), g(*vals)):
        np.testing.assert_allclose(a, c, rtol=tol, atol=tol)
    backward = _scans(f)[-1]
    assert "Reduce" not in _inner_ops(backward) and "Reduce" in _inner_ops(_scans(g)[-1])


def test_sum_of_products_sums_a_summand_two_carries_share_once(rng):
    """Two biases added at the same point (``+ b1 + b2``, as the lesson-6 RNN's b_x and
    b_h) have one gradient: one sum over the steps after the loop serves both."""
    from minigraph.tensor.reduce import Reduce

    x, h0 = T.dmatrix("x"), T.dvector("h0")
    W, b1, b2 = T.dmatrix("W"), T.dvector("b1"), T.dvector("b2")
    hs, _ = theano.scan(lambda x_t, h, W, b1, b2: T.tanh(x_t + T.dot(h, W) + b1 + b2),
                        sequences=x, outputs_info=h0, non_sequences=[W, b1, b2])
    grads = theano.grad((hs ** 2).sum(), [b1, b2, W])
    vals = [rng.normal(size=(6, 4)), rng.normal(size=4), rng.normal(size=(4, 4)) * 0.5,
            rng.normal(size=4), rng.normal(size=4)]
    f, g = _same_values([x, h0, W, b1, b2], grads, vals, "scan_sum_of_products")
    gb1, gb2, _ = f(*vals)
    np.testing.assert_array_equal(gb1, gb2)
    sums = [n for n in f.fgraph.toposort() if isinstance(n.op, Reduce)
            and n.inputs[0].owner is not None and isinstance(n.inputs[0].owner.op, Scan)]
    assert len(sums) == 1, [str(n.op) for n in sums]
