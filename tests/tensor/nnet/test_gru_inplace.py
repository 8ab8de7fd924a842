"""The fused GRU ops overwrite dying inputs: the sequence forward writes its gates over
``gx`` and the backward writes ``dgx`` over the saved gates, when nothing else reads them;
values equal the graph compiled without the ``inplace`` pass, and user arrays stay intact."""

import numpy as np

import minigraph as theano
import minigraph.tensor as T
from minigraph.tensor.nnet.gru import GRUSequence, GRUSequenceGrad

PLAIN = theano.Mode().excluding("inplace")


def _data(rng, Tn=4, B=3, K=5, H=6):
    return (rng.standard_normal((Tn, B, K)), rng.standard_normal((B, H)),
            0.3 * rng.standard_normal((K, 3 * H)), 0.3 * rng.standard_normal((H, 3 * H)),
            0.1 * rng.standard_normal(3 * H))


def _ops(f, cls):
    return [n.op for n in f._linked.order if isinstance(n.op, cls)]


def _build(mode=None, gx_is_input=False):
    x, h0, Wx, Wh, b = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("Wx"), T.dmatrix("Wh"), \
        T.dvector("b")
    gx = T.dtensor3("gx") if gx_is_input else T.tensordot(x, Wx, axes=1)
    hs = T.nnet.gru_sequence(gx, h0, Wh, b)
    cost = (hs ** 2).sum()
    wrt = [gx, h0, Wh, b] if gx_is_input else [Wx, h0, Wh, b]
    ins = [gx if gx_is_input else x, h0, Wh, b] + ([] if gx_is_input else [Wx])
    return theano.function(ins, [cost] + theano.grad(cost, wrt), mode=mode)


def test_dying_gx_and_saved_gates_are_overwritten_with_the_same_results(rng):
    x, h0, Wx, Wh, b = _data(rng)
    f, plain = _build(), _build(PLAIN)
    assert [op.overwrite_gx for op in _ops(f, GRUSequence)] == [True]
    assert [op.overwrite_saved for op in _ops(f, GRUSequenceGrad)] == [True]
    assert [op.overwrite_gx for op in _ops(plain, GRUSequence)] == [False]
    got, want = f(x, h0, Wh, b, Wx), plain(x, h0, Wh, b, Wx)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-14)


def test_a_gx_the_user_passes_is_never_overwritten(rng):
    x, h0, Wx, Wh, b = _data(rng)
    gx = np.tensordot(x, Wx, axes=1)
    keep = gx.copy()
    f = _build(gx_is_input=True)
    assert [op.overwrite_gx for op in _ops(f, GRUSequence)] == [False]
    assert [op.overwrite_saved for op in _ops(f, GRUSequenceGrad)] == [True]
    cost, dgx, *_ = f(gx, h0, Wh, b)
    np.testing.assert_array_equal(gx, keep)
    assert not np.shares_memory(dgx, gx)
    want = _build(PLAIN, gx_is_input=True)(gx, h0, Wh, b)
    np.testing.assert_allclose(dgx, want[1], rtol=1e-13, atol=1e-14)
