"""Tests for the ``MRGUniform`` op: the NumPy reference and the compiled loop agree, the
state is copied, shapes and errors; ``guess_n_streams``."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError
from minigraph.sandbox import mrg31k3p as mrg
from minigraph.sandbox import mrg_op
from minigraph.sandbox.mrg_op import MAX_STREAMS, MRGUniform, guess_n_streams, mrg_uniform


@pytest.fixture(params=["numpy", "numba"])
def fill_path(request, monkeypatch):
    """Run the op's callable on the NumPy fill (a cold node) or the Numba loop (a hot one)."""
    numpy_until = 10**9 if request.param == "numpy" else 0
    monkeypatch.setattr(mrg_op, "POLICY", mrg_op.FillPolicy(numpy_until=numpy_until,
                                                            max_rounds=10**9))
    return request.param


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 5), (1,), (0, 4), ()])
def test_reference_and_compiled_loop_agree(dtype, shape, fill_path):
    state = mrg.substreams(np.full(6, 7), 4)
    before = state.copy()
    op = MRGUniform(dtype, len(shape))
    out = [[None], [None]]
    op.perform(None, [state, np.array(shape, dtype=np.int64)], out)
    new, sample = op.make_py_callable(None)(state, np.array(shape, dtype=np.int64))
    np.testing.assert_array_equal(state, before)  # the input state is not touched
    np.testing.assert_array_equal(out[0][0], new)
    np.testing.assert_array_equal(out[1][0], sample)
    assert sample.shape == shape and sample.dtype == dtype
    assert np.all((sample > 0) & (sample < 1))


def test_draws_switch_to_numba_once_hot(monkeypatch):
    monkeypatch.setattr(mrg_op, "POLICY", mrg_op.FillPolicy(numpy_until=10, max_rounds=4))
    used, reference = [], mrg.fill_numpy
    for name in ("fill", "fill_numpy"):
        real = getattr(mrg, name)
        monkeypatch.setattr(mrg, name, lambda *a, real=real, name=name: (used.append(name),
                                                                         real(*a))[1])
    state = mrg.substreams(np.full(6, 7), 2)
    first, second = (MRGUniform("float64", 1).make_py_callable(None) for _ in range(2))
    # the count is the process's: the second node is hot once the first has drawn enough
    for run, n in ((first, 6), (first, 6), (second, 3), (first, 8)):
        new, sample = run(state, np.array([n]))
        np.testing.assert_array_equal(sample, reference(state, n, "float64")[1])
        state = new
    assert used == ["fill_numpy", "fill_numpy", "fill", "fill"]
    monkeypatch.setattr(mrg_op, "POLICY", mrg_op.FillPolicy(numpy_until=100, max_rounds=4))
    first(state, np.array([9]))  # 9 samples from 2 streams: 5 rounds > 4, Numba at once
    first(state, np.array([8]))
    assert used[-2:] == ["fill", "fill_numpy"]


def test_node_types_and_a_compiled_function():
    rstate = theano.shared(mrg.substreams(np.full(6, 3), 2), shape=(None, 6))
    x = T.tensor("float64", (None, 4))
    new, u = mrg_uniform(rstate, x.shape, dtype="float32")
    assert new.type == rstate.type and u.type.shape == (None, 4) and u.dtype == "float32"
    f = theano.function([x], u, updates=[(rstate, new)])
    first = f(np.zeros((3, 4)))
    expect_state, expect = mrg.fill_numpy(mrg.substreams(np.full(6, 3), 2), 12, "float32")
    np.testing.assert_array_equal(first, expect.reshape(3, 4))
    np.testing.assert_array_equal(rstate.get_value(), expect_state)


def test_errors():
    op = MRGUniform("float32", 2)
    state = mrg.substreams(np.full(6, 7), 2)
    with pytest.raises(GraphError, match="int32"):
        op(T.dmatrix(), (3, 5))
    with pytest.raises(GraphError, match="length 2"):
        op(theano.shared(state), (3,))
    with pytest.raises(GraphError, match="float32 or float64"):
        MRGUniform("int32", 1)
    run = op.make_py_callable(None)
    with pytest.raises(ValueError, match="shape"):
        run(state[:, :5], np.array([3, 5]))
    with pytest.raises(ValueError, match="negative size"):
        run(state, np.array([3, -5]))


def test_guess_n_streams():
    assert guess_n_streams((2, 3)) == 6  # small draws: one stream per sample
    assert guess_n_streams((100, 60)) == 1000  # one per six samples
    assert guess_n_streams((10**6,)) == MAX_STREAMS
    assert guess_n_streams((0,)) == 1
    assert guess_n_streams(T.constant(np.array([12, 10]))) == 20
    assert guess_n_streams(T.lvector()) == MAX_STREAMS
