"""Tests of minigraph.scan.builder: each part of Theano's ``scan`` API against a NumPy loop."""

from collections import OrderedDict

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.scan.op import Scan
from minigraph.tensor.random import copy_generator
from minigraph.tensor.shared_randomstreams import RandomStreams


def _f(inputs, outputs, **kw):
    return theano.function(inputs, outputs, **kw)


def test_cumulative_sum_matches_numpy(rng):
    x = T.dvector("x")
    sums, updates = theano.scan(lambda x_t, acc: acc + x_t, sequences=x,
                                outputs_info=T.constant(0.0, dtype="float64"))
    assert isinstance(updates, OrderedDict) and not updates
    xv = rng.normal(size=7)
    np.testing.assert_allclose(_f([x], sums)(xv), np.cumsum(xv))


def test_argument_order_sequence_taps_then_output_taps_then_non_sequences(rng):
    a, b, w = T.dvector("a"), T.dvector("b"), T.dscalar("w")
    y0 = T.dvector("y0")
    seen = []

    def step(a_m1, a_p1, b_0, y_m2, y_m1, w_):
        seen.append((a_m1.name, a_p1.name, b_0.name, y_m2.name, y_m1.name))
        return 1.0 * a_m1 + 10.0 * a_p1 + 100.0 * b_0 + 0.5 * y_m2 - 0.25 * y_m1 + w_

    ys, _ = theano.scan(step, sequences=[dict(input=a, taps=[-1, 1]), b],
                        outputs_info=dict(initial=y0, taps=[-2, -1]), non_sequences=w)
    assert seen == [("a[t-1]", "a[t+1]", "b[t]", "y0[t-2]", "y0[t-1]")]
    av, bv, y0v, wv = rng.normal(size=9), rng.normal(size=6), rng.normal(size=2), 0.3
    # taps -1..1 on a: steps start at a[1]; len(a) - 2 = 7 steps, b has 6: b wins
    hist = list(y0v)
    for t in range(6):
        hist.append(av[t] + 10 * av[t + 2] + 100 * bv[t] + 0.5 * hist[-2] - 0.25 * hist[-1] + wv)
    np.testing.assert_allclose(_f([a, b, y0, w], ys)(av, bv, y0v, wv), hist[2:])


def test_moving_window_with_sequence_taps(rng):
    x = T.dvector("x")
    out, _ = theano.scan(lambda p, c, n: (p + c + n) / 3, sequences=dict(input=x, taps=[-1, 0, 1]))
    xv = rng.normal(size=10)
    np.testing.assert_allclose(_f([x], out)(xv), np.convolve(xv, np.ones(3) / 3, "valid"))


@pytest.mark.parametrize("taps,expect", [([-2], lambda v: v[:-2]), ([2], lambda v: v[2:]),
                                         ([1, 3], lambda v: v[1:-2] * v[3:])])
def test_taps_all_on_one_side_of_zero_cut_like_theano(rng, taps, expect):
    x = T.dvector("x")
    out, _ = theano.scan(lambda *a: a[0] if len(a) == 1 else a[0] * a[1],
                         sequences=dict(input=x, taps=taps))
    xv = rng.normal(size=8)
    np.testing.assert_allclose(_f([x], out)(xv), expect(xv))


def test_fibonacci_output_taps_and_initial_window_rows():
    f0 = T.dvector("f0")
    fib, _ = theano.scan(lambda a, b: a + b, outputs_info=dict(initial=f0, taps=[-2, -1]),
                         n_steps=8)
    f = _f([f0], fib)
    np.testing.assert_array_equal(f(np.array([0.0, 1.0])), [1, 2, 3, 5, 8, 13, 21, 34])
    # Theano reads the first -min(taps) rows of a longer initial value
    np.testing.assert_array_equal(f(np.array([1.0, 1.0, 99.0]))[:3], [2, 3, 5])


def test_none_outputs_are_per_step_and_not_fed_back(rng):
    x = T.dvector("x")
    (h, twice), _ = theano.scan(lambda x_t, h: (h + x_t, 2 * h), sequences=x,
                                outputs_info=[T.constant(1.0, dtype="float64"), None])
    xv = rng.normal(size=5)
    hs = 1.0 + np.cumsum(xv)
    got_h, got_twice = _f([x], [h, twice])(xv)
    np.testing.assert_allclose(got_h, hs)
    np.testing.assert_allclose(got_twice, 2 * np.concatenate([[1.0], hs[:-1]]))


def test_outputs_info_none_means_every_output_is_per_step(rng):
    x = T.dmatrix("x")
    (s, m), _ = theano.scan(lambda r: (r.sum(), r.max()), sequences=x)
    xv = rng.normal(size=(4, 3))
    got = _f([x], [s, m])(xv)
    np.testing.assert_allclose(got[0], xv.sum(1))
    np.testing.assert_allclose(got[1], xv.max(1))


def test_generation_with_n_steps_static_and_symbolic(rng):
    A, k = T.dmatrix("A"), T.iscalar("k")
    powers, _ = theano.scan(lambda p, A: T.dot(p, A), outputs_info=T.eye(A.shape[0]),
                            non_sequences=A, n_steps=k)
    Av = rng.normal(size=(3, 3))
    got = _f([A, k], powers)(Av, 4)
    assert got.shape == (4, 3, 3)
    np.testing.assert_allclose(got[-1], np.linalg.matrix_power(Av, 4))
    doubling, _ = theano.scan(lambda v: 2 * v, outputs_info=T.constant(1.0, dtype="float64"),
                              n_steps=5)
    np.testing.assert_array_equal(_f([], doubling)(), [2, 4, 8, 16, 32])


def test_shortest_of_sequences_and_n_steps_wins(rng):
    a, b, n = T.dvector("a"), T.dvector("b"), T.lscalar("n")
    out, _ = theano.scan(lambda x, y: x * y, sequences=[a, b], n_steps=n)
    f = _f([a, b, n], out)
    av, bv = rng.normal(size=6), rng.normal(size=4)
    np.testing.assert_allclose(f(av, bv, 10), av[:4] * bv)
    np.testing.assert_allclose(f(av, bv, 2), av[:2] * bv[:2])
    assert f(av, bv, 0).shape == (0,)


def test_go_backwards_iterates_from_the_end_with_taps(rng):
    x = T.dvector("x")
    rev, _ = theano.scan(lambda x_t, acc: acc + x_t, sequences=x, outputs_info=T.constant(0.0),
                         go_backwards=True)
    diffs, _ = theano.scan(lambda p, c: c - p, sequences=dict(input=x, taps=[-1, 0]),
                           go_backwards=True)
    xv = rng.normal(size=6)
    got_rev, got_diffs = _f([x], [rev, diffs])(xv)
    np.testing.assert_allclose(got_rev, np.cumsum(xv[::-1]))
    np.testing.assert_allclose(got_diffs, np.diff(xv)[::-1])


def test_one_output_alone_several_as_a_list_and_return_list():
    x = T.dvector("x")
    one, _ = theano.scan(lambda v: v * 2, sequences=x)
    listed, _ = theano.scan(lambda v: [v * 2], sequences=x)
    two, _ = theano.scan(lambda v: [v, v * 2], sequences=x)
    forced, _ = theano.scan(lambda v: v * 2, sequences=x, return_list=True)
    assert isinstance(one, T.TensorVariable) and isinstance(listed, T.TensorVariable)
    assert isinstance(two, list) and len(two) == 2
    assert isinstance(forced, list) and len(forced) == 1


def test_explicit_implicit_and_shared_consts_give_the_same_values(rng):
    x, W = T.dmatrix("x"), T.dmatrix("W")
    Ws = theano.shared(rng.normal(size=(3, 3)), name="Ws")
    h0 = T.zeros((3,), dtype="float64")

    def body(x_t, h, *w):
        return T.tanh(x_t + T.dot(h, w[0] if w else W))

    explicit, _ = theano.scan(body, sequences=x, outputs_info=h0, non_sequences=W)
    implicit, _ = theano.scan(body, sequences=x, outputs_info=h0)  # W picked up
    shared, _ = theano.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, Ws)), sequences=x,
                            outputs_info=h0)
    strict, _ = theano.scan(body, sequences=x, outputs_info=h0, non_sequences=Ws, strict=True)
    xv = rng.normal(size=(5, 3))
    e, i = _f([x, W], [explicit, implicit])(xv, Ws.get_value())
    s, st = _f([x], [shared, strict])(xv)
    h, ref = np.zeros(3), []
    for t in range(5):
        h = np.tanh(xv[t] + h @ Ws.get_value())
        ref.append(h)
    for got in (e, i, s, st):
        np.testing.assert_allclose(got, ref)
    # the implicit ones became consts of the node
    consts = implicit.owner.inputs[0].owner.op.input_groups(implicit.owner.inputs[0].owner)
    assert W in consts["consts"]


def test_outer_expressions_are_computed_once_outside_the_loop(rng):
    x, W = T.dvector("x"), T.dmatrix("W")
    WT = W.T  # built before scan: a const of the loop, not part of its body
    out, _ = theano.scan(lambda x_t: T.dot(WT, x_t), sequences=T.stack([x, 2 * x]))
    node = out.owner
    assert isinstance(node.op, Scan)
    assert WT in node.op.input_groups(node)["consts"]
    Wv, xv = rng.normal(size=(3, 3)), rng.normal(size=3)
    np.testing.assert_allclose(_f([x, W], out)(xv, Wv), [Wv.T @ xv, 2 * Wv.T @ xv])


def test_shared_counter_updated_once_per_step_and_returned_in_updates():
    x = T.dvector("x")
    counter = theano.shared(np.int64(0), name="counter")
    out, updates = theano.scan(lambda x_t: (x_t * 2, {counter: counter + 1}), sequences=x)
    assert list(updates) == [counter]
    f = _f([x], out, updates=updates)
    np.testing.assert_array_equal(f(np.arange(3.0)), [0, 2, 4])
    assert counter.get_value() == 3
    f(np.arange(5.0))
    assert counter.get_value() == 8


def test_fn_may_return_only_updates_and_read_the_updated_value_each_step():
    total = theano.shared(0.0, name="total")
    x = T.dvector("x")
    _, updates = theano.scan(lambda x_t: {total: total * 2 + x_t}, sequences=x)
    _f([x], [], updates=updates)(np.array([1.0, 2.0, 3.0]))
    assert total.get_value() == ((0 * 2 + 1) * 2 + 2) * 2 + 3
    seen, updates = theano.scan(lambda x_t: (OrderedDict([(total, total + x_t)]), total),
                                sequences=x)  # (updates, outputs) order is accepted too
    # each step reads the value left by the step before
    np.testing.assert_array_equal(_f([x], seen, updates=updates)(np.ones(3)), [11, 12, 13])
    assert total.get_value() == 14


def test_random_draws_inside_the_loop_are_one_stream_advanced_per_call():
    srng = RandomStreams(seed=1234)
    x = T.dvector("x")
    noisy, updates = theano.scan(lambda x_t: x_t + srng.uniform((), dtype="float64"),
                                 sequences=x)
    (rng_var,) = updates
    expect = copy_generator(rng_var.get_value(borrow=True))
    f = _f([x], noisy, updates=updates)
    for _ in range(2):  # every step draws the next number; the next call continues
        np.testing.assert_array_equal(f(np.zeros(4)), [expect.random() for _ in range(4)])
    assert rng_var.get_value(borrow=True).bit_generator.state == expect.bit_generator.state


def test_a_random_stream_made_in_fn_advances_even_when_updates_are_not_passed():
    srng = RandomStreams(seed=77)
    noisy, updates = theano.scan(lambda: srng.uniform((), dtype="float64"), n_steps=3)
    (rng_var,) = updates
    expect = copy_generator(rng_var.get_value(borrow=True))
    f = _f([], noisy)  # updates forgotten: the generator's default update is the loop's
    np.testing.assert_array_equal(f(), [expect.random() for _ in range(3)])
    np.testing.assert_array_equal(f(), [expect.random() for _ in range(3)])


def test_a_random_sample_drawn_outside_fn_is_the_same_at_every_step():
    srng = RandomStreams(seed=5)
    z = srng.normal((), dtype="float64")  # built before scan: computed once per call
    x = T.dvector("x")
    out, updates = theano.scan(lambda x_t: x_t + z, sequences=x)
    assert not updates
    f = _f([x], out)  # z's own default update advances its generator once per call
    first, second = f(np.zeros(3)), f(np.zeros(3))
    assert first[0] == first[1] == first[2] and second[0] != first[0]


def test_nested_scan_matches_numpy(rng):
    M = T.dmatrix("M")
    # inner scan: cumulative sum of each row; outer: over rows, adding the previous result
    def row(r, prev):
        sums, _ = theano.scan(lambda v, acc: acc + v, sequences=r, outputs_info=T.constant(0.0))
        return sums + prev

    out, _ = theano.scan(row, sequences=M, outputs_info=T.zeros((M.shape[1],), "float64"))
    Mv = rng.normal(size=(3, 4))
    np.testing.assert_allclose(_f([M], out)(Mv), np.cumsum(np.cumsum(Mv, axis=1), axis=0))


def test_integer_step_counter_and_sequence_of_indices(rng):
    E = T.dmatrix("E")
    idx = T.lvector("idx")
    (picked, steps), _ = theano.scan(lambda i, k, E: (E[i] * k, k + 1), sequences=idx,
                                     outputs_info=[None, T.constant(1, dtype="int64")],
                                     non_sequences=E)
    Ev, iv = rng.normal(size=(5, 2)), rng.integers(0, 5, size=4)
    got, ks = _f([E, idx], [picked, steps])(Ev, iv)
    np.testing.assert_allclose(got, Ev[iv] * np.arange(1, 5)[:, None])
    np.testing.assert_array_equal(ks, [2, 3, 4, 5])


def test_jacobian_and_hessian_use_scan(rng):
    v = T.dvector("v")
    J = theano.gradient.jacobian(T.tanh(v) * v.sum(), v)
    H = theano.gradient.hessian((v ** 3).sum() + v[0] * v[1], v)
    vv = rng.normal(size=3)
    gotJ, gotH = _f([v], [J, H])(vv)
    th = np.tanh(vv)
    np.testing.assert_allclose(gotJ, np.diag((1 - th ** 2) * vv.sum()) + th[:, None])
    expectH = np.diag(6 * vv)
    expectH[0, 1] = expectH[1, 0] = 1
    np.testing.assert_allclose(gotH, expectH)
    assert any(isinstance(n.op, Scan) for n in theano.function([v], J).fgraph.toposort())


def test_debugprint_shows_the_inner_graph_under_the_node():
    x = T.dvector("x")
    out, _ = theano.scan(lambda x_t, h: T.tanh(h + x_t), sequences=x,
                         outputs_info=T.constant(0.0), name="rnn")
    text = theano.printing.debugprint(out, file="str")
    assert "Scan{rnn}" in text and "inner graph of Scan{rnn}" in text
    assert "tanh" in text.split("inner graph")[1]
    assert "x[t]" in text


def test_mode_and_name_reach_the_op():
    out, _ = theano.scan(lambda: T.constant(1.0), n_steps=2, name="ones", mode="FAST_COMPILE")
    assert out.owner.op.name == "ones" and out.owner.op.mode == "FAST_COMPILE"
    np.testing.assert_array_equal(out.eval(), [1.0, 1.0])
