"""Memory plans (kernels/memplan.py): a function call's big arrays in one kept arena, laid out
from the lifetimes of an earlier call."""

import threading

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from kernels import memplan
from kernels.memplan import ARENA, MemoryPlan, planned_call
from kernels.workspace import SHARED, aligned_bytes, fresh_empty

MB = 1 << 20


def _take(plan, nbytes):
    """What ``Workspace.empty`` and ``fresh_empty`` do with a plan's answer."""
    piece = plan.take(nbytes)
    return aligned_bytes(nbytes) if piece is None else piece


def _in_arena(a):
    return ARENA.raw is not None and np.shares_memory(a, ARENA.raw)


def _script(rng, n):
    """A random call: ``n`` requests of 1-6 MB, each dropped at a random later point or
    kept past the call; ``[("take", i, nbytes) | ("drop", i)]``."""
    ops, live = [], []
    for i in range(n):
        ops.append(("take", i, int(rng.integers(1, 7)) * MB + int(rng.integers(0, 4096))))
        live.append(i)
        while live and rng.random() < 0.5:
            ops.append(("drop", live.pop(int(rng.integers(len(live))))))
    return ops, set(i for i in live if rng.random() < 0.5)  # the rest: dropped at the end


def _run(plan, ops, kept, fill):
    """Play a call of `_script`; every array is filled with its own number and checked
    when dropped (a range handed out twice at once would show another number)."""
    held, out = {}, {}
    with planned_call(plan):
        for op in ops:
            if op[0] == "take":
                _, i, nbytes = op
                a = _take(plan, nbytes)
                assert a.shape == (nbytes,) and a.ctypes.data % 4096 == 0
                a[:] = (fill + i) % 251
                held[i] = a
            else:
                a = held.pop(op[1])
                assert (a == (fill + op[1]) % 251).all()
            del a  # dropped now, not when this frame ends
        for i in list(held):
            if i in kept:
                out[i] = held.pop(i)
        assert all((held[i] == (fill + i) % 251).all() for i in held)
        held.clear()
    return out


def test_arrays_alive_at_once_never_share_memory_and_the_arena_fits_the_busiest_moment(rng):
    for trial in range(8):
        ops, kept = _script(rng, int(rng.integers(3, 14)))
        plan = MemoryPlan()
        outs = [_run(plan, ops, kept, fill) for fill in range(4)]
        assert plan.replays == 3  # the first call recorded, the others followed it
        for fill, out in enumerate(outs):  # what outlived its call was never overwritten
            for i, a in out.items():
                assert (a == (fill + i) % 251).all() and not _in_arena(a)
        live, busiest = {}, 0  # bytes of the arrays dropped within the call, alive at once
        for op in ops:
            if op[0] == "take" and op[1] not in kept:
                live[op[1]] = -(-op[2] // 4096) * 4096
            elif op[0] == "drop":
                live.pop(op[1], None)
            busiest = max(busiest, sum(live.values()))
        assert busiest <= plan.size <= 2 * busiest
        ranges = [(s, s + n) for n, s in plan.offsets if s is not None]
        assert all(0 <= s and e <= plan.size for s, e in ranges)


def test_a_planned_range_still_held_is_not_handed_out_and_the_call_plans_again():
    plan = MemoryPlan()

    def call(keep=None):
        with planned_call(plan):
            a = _take(plan, 3 * MB)
            a[:] = 1
            if keep is not None:
                keep.append(a)  # the caller holds a temporary the plan saw die
            del a
            b = _take(plan, 3 * MB)
            b[:] = 2
            total = int(b.sum())
            del b
        return total

    assert call() == 2 * 3 * MB
    assert plan.size == 3 * MB  # a and b share one range
    kept = []
    assert call(kept) == 2 * 3 * MB  # b could not take a's range: fresh memory
    assert (kept[0] == 1).all() and plan.replays == 0  # strayed: planned again, from
    assert plan.offsets == [(3 * MB, None), (3 * MB, 3 * MB)]  # a call where a outlived
    # it; b is placed clear of a's range, which the caller still holds
    assert call() == 2 * 3 * MB and plan.replays == 1
    assert (kept[0] == 1).all()


def test_a_call_of_other_sizes_strays_and_the_next_plan_is_its_own():
    plan = MemoryPlan()
    for n in [2, 2, 5, 5, 5, 2]:
        with planned_call(plan):
            a = plan.take(n * MB)
            a[:] = n
            assert (a == n).all()
            del a
    assert plan.replays == 3 and plan.offsets == [(2 * MB, 0)]


def test_a_failed_call_keeps_the_plan_and_nested_calls_belong_to_the_outer_one():
    plan, inner = MemoryPlan(), MemoryPlan()
    with planned_call(plan):
        with planned_call(inner):  # a call inside a call: the outer plan's
            assert memplan.active() is plan
            plan.take(2 * MB)
    assert memplan.active() is None and plan.size == 2 * MB and inner.offsets == []
    with pytest.raises(RuntimeError):
        with planned_call(plan):
            plan.take(5 * MB)
            raise RuntimeError("a node failed")
    assert memplan.active() is None and plan.offsets == [(2 * MB, 0)]


def _chain():
    x = T.dmatrix("x")
    h = T.tanh(x * 2.0 + 1.0)  # big temporaries, then a big output
    y = T.exp(-h) * h + T.sqr(x)
    return theano.function([x], [y, h.sum()])


def test_functions_give_numpy_results_across_calls_of_changing_sizes(rng):
    f = _chain()
    outs = []
    for rows in [600, 600, 600, 900, 600, 1, 600]:
        xv = rng.standard_normal((rows, 300))  # 1.4 MB at 600 rows
        h = np.tanh(xv * 2.0 + 1.0)
        y, s = f(xv)
        np.testing.assert_allclose(y, np.exp(-h) * h + xv ** 2, rtol=1e-12)
        np.testing.assert_allclose(s, h.sum(), rtol=1e-12)
        outs.append((y, xv))
    for y, xv in outs:  # outputs the caller holds are never written again
        h = np.tanh(xv * 2.0 + 1.0)
        np.testing.assert_allclose(y, np.exp(-h) * h + xv ** 2, rtol=1e-12)


def test_a_scan_trained_with_a_plan_matches_one_without(rng):
    """A compiled-or-interpreted scan and its gradient, SGD on a shared matrix: the weights
    after 4 steps equal those of the same function whose plan is switched off."""
    H, B, T_ = 256, 64, 20  # traces of 1.3 MB and more
    w0 = rng.standard_normal((H, H)) * 0.05
    xv = rng.standard_normal((T_, B, H))

    def train():
        W = theano.shared(w0.copy())
        x = T.dtensor3("x")
        hs, _ = theano.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=x,
                            outputs_info=T.zeros((B, H), "float64"))
        cost = T.sqr(hs).mean()
        return W, theano.function([x], cost, updates={W: W - 0.5 * theano.grad(cost, W)})

    (Wa, fa), (Wb, fb) = train(), train()
    fb._memplan = None  # no plan: every array fresh or from the workspace
    ca = [fa(xv) for _ in range(4)]
    cb = [fb(xv) for _ in range(4)]
    # (each function's loop compiles in the background on its own schedule: interpreted
    # and compiled steps round apart by a few ulps)
    np.testing.assert_allclose(ca, cb, rtol=1e-10)
    np.testing.assert_allclose(Wa.get_value(), Wb.get_value(), rtol=1e-10, atol=1e-15)
    assert fa._memplan.replays >= 2 and fa._memplan.size >= B * H * T_ * 8


def test_calls_from_two_threads_at_once_give_their_own_results(rng):
    f = _chain()
    xs = [rng.standard_normal((700, 300)) for _ in range(2)]
    want = [np.exp(-np.tanh(x * 2.0 + 1.0)) * np.tanh(x * 2.0 + 1.0) + x ** 2 for x in xs]
    errors = []

    def worker(k):
        try:
            for _ in range(15):
                np.testing.assert_allclose(f(xs[k])[0], want[k], rtol=1e-12)
        except AssertionError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)


def test_outside_a_call_the_workspace_and_fresh_arrays_are_as_before():
    assert memplan.active() is None
    a = SHARED.empty((MB // 4,), np.float32)
    assert any(np.shares_memory(a, b) for b in SHARED._blocks) and not _in_arena(a)
    b = fresh_empty((3 * MB,), np.uint8)
    assert b.ctypes.data % (2 << 20) == 0 and not _in_arena(b)


_SINGLE_OPS = {  # name: (graph of x (matrix) and v (vector), NumPy's value)
    "sqr": (lambda x, v: T.sqr(x), lambda x, v: x ** 2),
    "mul": (lambda x, v: x * x[::-1], lambda x, v: x * x[::-1]),
    "maximum, broadcast": (lambda x, v: T.maximum(x, v), lambda x, v: np.maximum(x, v)),
}


@pytest.mark.parametrize("name", sorted(_SINGLE_OPS))
def test_big_elementwise_results_of_single_ops_take_planned_memory(rng, name):
    """A single (unfused) elementwise op with a big result writes it into ``fresh_empty``'s
    memory, so a replayed call serves it from the arena: NumPy's values, broadcasting
    included, and inputs that do not broadcast still get NumPy's error."""
    graph, numpy_value = _SINGLE_OPS[name]
    x, v = T.dmatrix("x"), T.dvector("v")
    node = graph(x, v).owner
    assert type(node.op).__name__ == "Elemwise" and node.op.inplace is None
    run = node.op.make_py_callable(node)
    xv, vv = rng.standard_normal((400, 500)), rng.standard_normal(500)  # 1.6 MB
    # the node's inputs (x, a view of it, v broadcast as a row) as the graph computes them
    args = theano.function([x, v], list(node.inputs), on_unused_input="ignore")(xv, vv)

    plan, seen = MemoryPlan(), []
    for _ in range(3):
        with planned_call(plan):
            r = run(*args)
            np.testing.assert_array_equal(r, numpy_value(xv, vv))
            seen.append(_in_arena(r))
            del r  # dies within the call
    assert seen == [False, True, True]
    if len(node.inputs) == 2:
        with pytest.raises(ValueError):
            run(xv, xv[:3])


def test_big_row_lookups_stay_outside_the_plan(rng):
    """``E[idx]``'s big rows are fresh aligned memory in every call, never an arena range:
    they live through most of a training step, where the arena would keep their size mapped
    (tensor/subtensor.py's ``_take_rows``)."""
    E, idx = T.dmatrix("E"), T.lvector("idx")
    node = E[idx].owner
    run = node.op.make_py_callable(node)
    Ev, iv = rng.standard_normal((50, 300)), rng.integers(-50, 50, 600)  # 1.4 MB of rows
    plan, seen = MemoryPlan(), []
    for _ in range(3):
        with planned_call(plan):
            r = run(Ev, iv)
            np.testing.assert_array_equal(r, Ev[iv])
            seen.append(_in_arena(r))
            del r
    assert seen == [False, False, False]
