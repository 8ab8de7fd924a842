"""Tests of minigraph.compile.function: outputs, In, keyword calls, updates (values from
before the call, applied together, atomically), givens, input checks and their messages."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.function import UnusedInputError
from minigraph.graph.basic import GraphError
from minigraph.graph.type import InputTypeError

HERE = os.path.basename(__file__)


def _msg(info):
    return str(info.value)


def test_single_output_list_of_outputs_and_none(rng):
    x = T.dvector("x")
    xv = rng.standard_normal(3)
    one = theano.function([x], x * 2)(xv)
    assert isinstance(one, np.ndarray) and np.array_equal(one, xv * 2)
    lst = theano.function([x], [x * 2])(xv)
    assert isinstance(lst, list) and len(lst) == 1
    two = theano.function([x], (x * 2, x + 1))(xv)
    assert isinstance(two, list) and np.array_equal(two[1], xv + 1)
    assert theano.function([x], [], on_unused_input="ignore")(xv) == []
    assert float(theano.function([], 3.0)()) == 3.0


def test_in_defaults_names_and_keyword_calls():
    x, s = T.dvector("x"), T.dscalar("s")
    f = theano.function([x, theano.In(s, name="scale", value=3.0)], x * s)
    assert f(np.ones(2)).tolist() == [3.0, 3.0]
    assert f(np.ones(2), scale=2.0).tolist() == [2.0, 2.0]
    assert f(x=np.ones(2), scale=0.0).tolist() == [0.0, 0.0]
    assert f(np.ones(2), 5).tolist() == [5.0, 5.0]
    with pytest.raises(InputTypeError, match="In\\(\\) needs a symbolic variable"):
        theano.In(3.0)


def test_param_is_theanos_old_name_for_in():
    x, s = T.fvectors("x", "s")
    f = theano.function([x, theano.Param(s, default=np.float32([2, 3]), name="scale")],
                        x * s)
    np.testing.assert_array_equal(f(np.ones(2, "float32")), [2.0, 3.0])
    np.testing.assert_array_equal(f(np.ones(2, "float32"), scale=[4.0, 5.0]), [4.0, 5.0])
    assert isinstance(theano.Param(x), theano.In) and theano.Param(x).name == "x"
    with pytest.raises(InputTypeError, match="expected dtype float32 \\(strict\\), got float64"):
        theano.function([theano.Param(x, strict=True)], x * 2)(np.ones(2))
    with pytest.raises(InputTypeError, match="needs a symbolic variable"):
        theano.Param(3.0)


def test_theano_dot_is_the_tensor_dot():
    a, b = T.dmatrix("a"), T.dvector("b")
    value = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(theano.dot(a, b).eval({a: value, b: [1.0, -1.0]}),
                                  value @ [1.0, -1.0])


@pytest.mark.parametrize("call, message", [
    (lambda f: f(np.ones(2), 1.0, 2.0), "takes 2 inputs (x, s), got 3"),
    (lambda f: f(), "is missing input(s) x, s (it takes 2: x, s)"),
    (lambda f: f(np.ones(2), w=1.0), "has no input named 'w'; inputs: x, s"),
    (lambda f: f(np.ones(2), 1.0, x=np.ones(2)), "input 'x' given twice"),
    (lambda f: f(np.ones((2, 2)), 1.0), "input 0 (x) of function 'scale': expected a 1-d array "
                                        "(float64[?]), got 2-d with shape (2, 2)"),
    (lambda f: f(np.ones(2), np.ones(2)), "input 1 (s) of function 'scale': expected a 0-d"),
    (lambda f: f(np.ones(2, "complex128"), 1.0), "expected dtype float64, got complex128"),
    (lambda f: f([[1.0], [1.0, 2.0]], 1.0), "input 0 (x) of function 'scale': cannot make an "
                                            "array of it"),
    (lambda f: f("ab", 1.0), "cannot convert str to float64"),
    (lambda f: f(None, 1.0), "cannot convert NoneType to float64"),
])
def test_bad_calls_name_the_input_and_the_callers_line(call, message):
    x, s = T.dvector("x"), T.dscalar("s")
    f = theano.function([x, s], x * s, name="scale")
    with pytest.raises(TypeError) as info:
        call(f)
    assert message in _msg(info) and f"{HERE}:" in _msg(info)


def test_dtype_conversion_rules_on_call():
    f32 = T.fvector("v")
    f = theano.function([f32], f32 * 2)
    assert f([1.0, 2.0]).dtype == np.float32  # Python floats go in
    with pytest.raises(InputTypeError) as info:
        f(np.ones(2))  # float64 -> float32 loses precision
    assert "expected dtype float32, got float64" in _msg(info)
    assert "allow_input_downcast=True" in _msg(info) and f"{HERE}:" in _msg(info)
    g = theano.function([f32], f32 * 2, allow_input_downcast=True)
    assert g(np.ones(2)).dtype == np.float32
    h = theano.function([theano.In(f32, allow_downcast=True)], f32 * 2)
    assert h(np.ones(2)).dtype == np.float32
    k = theano.function([theano.In(f32, strict=True)], f32 * 2)
    with pytest.raises(InputTypeError, match="strict"):
        k([1.0])
    i32 = T.ivector("i")
    assert theano.function([i32], i32)([1, 2]).dtype == np.int32
    with pytest.raises(InputTypeError, match="expected dtype int32, got int64"):
        theano.function([i32], i32)(np.array([1, 2]))


def test_accumulator_returns_its_value_from_before_the_update():
    acc = theano.shared(0.0, name="acc")
    x = T.dscalar("x")
    inc = theano.function([x], acc, updates={acc: acc + x})
    assert float(inc(1.0)) == 0.0 and float(inc(2.0)) == 1.0
    assert float(acc.get_value()) == 3.0


def test_updates_read_old_values_and_apply_together():
    a = theano.shared(np.ones(2), name="a")
    b = theano.shared(np.zeros(2), name="b")
    swap = theano.function([], [], updates=[(a, b), (b, a)])
    swap()
    assert a.get_value().tolist() == [0.0, 0.0] and b.get_value().tolist() == [1.0, 1.0]
    chain = theano.function([], [], updates={a: a + 1, b: a * 10})
    chain()
    assert a.get_value().tolist() == [1.0, 1.0] and b.get_value().tolist() == [0.0, 0.0]


def test_update_values_are_never_shared_between_owners(rng):
    a, b = theano.shared(np.zeros(2), name="a"), theano.shared(np.zeros(2), name="b")
    x = T.dvector("x")
    f = theano.function([x], x * 2, updates={a: x * 2, b: x})
    out = f(rng.standard_normal(2))
    out[0] = 99.0
    assert a.get_value()[0] != 99.0  # the output is a copy, not a's buffer
    assert not np.shares_memory(a.get_value(borrow=True), b.get_value(borrow=True))


def test_outputs_never_alias_inputs_shared_values_or_each_other():
    x = T.dvector("x")
    s = theano.shared(np.zeros(2), name="s")
    xv = np.ones(2)
    assert theano.function([x], x)(xv) is not xv
    assert theano.function([], s)() is not s.get_value(borrow=True)
    a, b = theano.function([x], [x * 2, x * 2])(xv)  # merged into one node: still two arrays
    assert a is not b and np.array_equal(a, b)


def test_default_updates_and_no_default_updates():
    s = theano.shared(0.0, name="s")
    s.default_update = s + 1
    theano.function([], s)()
    assert float(s.get_value()) == 1.0
    theano.function([], s, no_default_updates=True)()
    theano.function([], s, no_default_updates=[s])()
    assert float(s.get_value()) == 1.0
    theano.function([], s, updates={s: s + 10})()  # an explicit update wins
    assert float(s.get_value()) == 11.0


@pytest.mark.parametrize("value, message", [
    (lambda s, x: x, "the new value has type float64[] but the variable is float64[?]"),
    (lambda s, x: s + np.ones(3), "new value has type float64[3] but the variable is float32[?]"
                                  "; cast it with T.cast(value, 'float32')"),
])
def test_update_of_the_wrong_type_is_refused(value, message):
    s = theano.shared(np.zeros(3, "float32"), name="w") if "float32" in message else \
        theano.shared(np.zeros(3), name="w")
    x = T.dscalar("x")
    with pytest.raises(GraphError) as info:
        theano.function([x], [], updates={s: value(s, x)}, on_unused_input="ignore")
    assert message in _msg(info) and "shared variable w" in _msg(info)
    assert f"{HERE}:" in _msg(info)


def test_update_errors_for_non_shared_targets_and_bad_items():
    x = T.dvector("x")
    with pytest.raises(GraphError, match=f"x is not a shared variable.*{HERE}:"):
        theano.function([x], [], updates={x: x + 1})
    s = theano.shared(0.0, name="s")
    with pytest.raises(GraphError, match=f"updated twice.*{HERE}:"):
        theano.function([], [], updates=[(s, s + 1), (s, s + 2)])
    with pytest.raises(GraphError, match=f"updates must be a dict or a list.*{HERE}:"):
        theano.function([], [], updates=[s])
    f32 = theano.shared(np.zeros(2, "float32"))
    theano.function([], [], updates={f32: f32 * 0.1})()  # a Python float keeps float32


def test_failing_call_leaves_every_shared_variable_unchanged():
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        a = theano.shared(np.zeros(3), name="a")
        b = theano.shared(np.zeros(3), name="b")
        idx = T.lvector("idx")
        f = theano.function([idx], a.sum(), updates={a: T.exp(a) + 1, b: b[idx] + 1}, mode=mode)
        f([0, 1, 2])
        before = a.get_value(), b.get_value()
        with pytest.raises(IndexError) as info:
            f([0, 1, 7])  # the update of b fails after a's new value was computed
        assert f"{HERE}:" in _msg(info)
        assert np.array_equal(a.get_value(), before[0]) and np.array_equal(b.get_value(),
                                                                           before[1])


def test_givens_minibatch_idiom(rng):
    data = theano.shared(rng.standard_normal((10, 3)), name="data")
    x, i = T.dmatrix("x"), T.lscalar("i")
    bs = 4
    f = theano.function([i], x.sum(axis=0), givens={x: data[i * bs:(i + 1) * bs]})
    for k in range(3):
        np.testing.assert_allclose(f(k), data.get_value()[k * bs:(k + 1) * bs].sum(axis=0),
                                   rtol=1e-14)
    s = T.dvector("s")
    g = theano.function([s], (data * 2).sum(), givens=[(data, T.stack([s, s]))])
    assert float(g(np.ones(3))) == 12.0


def test_givens_type_mismatch():
    x, v = T.dmatrix("x"), T.dvector("v")
    with pytest.raises(GraphError, match=f"dtype and ndim must match.*{HERE}:"):
        theano.function([v], x.sum(), givens={x: v})
    with pytest.raises(GraphError, match="key 1 is not a symbolic variable"):
        theano.function([v], v, givens={1: v})


def test_unused_inputs():
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.raises(UnusedInputError) as info:
        theano.function([x, y], x * 2)
    assert "input(s) y are not used" in _msg(info) and f"{HERE}:" in _msg(info)
    with pytest.warns(UserWarning, match="input\\(s\\) y are not used"):
        theano.function([x, y], x * 2, on_unused_input="warn")
    f = theano.function([x, y], x * 2, on_unused_input="ignore")
    assert f(np.ones(1), np.ones(5)).tolist() == [2.0]
    with pytest.raises(ValueError, match=f"got 'no'.*{HERE}:"):
        theano.function([x], x, on_unused_input="no")


@pytest.mark.parametrize("inputs, message", [
    (lambda x, s: [x, x], "input x is listed twice"),
    (lambda x, s: [s], "s is a shared variable; shared variables are implicit inputs"),
    (lambda x, s: [T.constant(1.0)], "is a constant; inputs must be symbolic"),
    (lambda x, s: [x * 2], "is computed by mul; inputs must be leaf variables"),
])
def test_bad_input_lists(inputs, message):
    x, s = T.dvector("x"), theano.shared(np.zeros(2), name="s")
    with pytest.raises(GraphError) as info:
        theano.function(inputs(x, s), x + s, on_unused_input="ignore")
    assert message in _msg(info) and f"{HERE}:" in _msg(info)


def test_missing_inputs_and_non_list_inputs():
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.raises(GraphError, match=f"outputs depend on y .* not among the inputs.*{HERE}:"):
        theano.function([x], x + y)
    with pytest.raises(InputTypeError, match=f"inputs must be a list of variables.*{HERE}:"):
        theano.function(x, x)


def test_run_time_errors_name_the_node_and_the_function():
    x = T.dmatrix("x")
    f = theano.function([x], T.dot(x, x), name="square")
    with pytest.raises(ValueError) as info:
        f(np.zeros((2, 3)))
    assert "not aligned" in _msg(info) and f"{HERE}:" in _msg(info)
    assert info.value.node.op is f.fgraph.toposort()[0].op


@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_a_small_classifier_trains_with_updates_and_givens(floatx, rng):
    """The Theano tutorial's loop: shared data, minibatches through givens, SGD updates."""
    old = theano.config.floatX
    theano.config.floatX = floatx
    try:
        X = rng.standard_normal((64, 5)).astype(floatx)
        y = (X @ rng.standard_normal(5) > 0).astype("int32")
        data, labels = theano.shared(X, name="data"), theano.shared(y, name="labels")
        W = theano.shared(np.zeros((5, 2), floatx), name="W")
        b = theano.shared(np.zeros(2, floatx), name="b")
        x, t, i = T.matrix("x"), T.ivector("t"), T.lscalar("i")
        p = T.nnet.softmax(T.dot(x, W) + b)
        cost = T.mean(T.nnet.categorical_crossentropy(p, t))
        gW, gb = T.grad(cost, [W, b])
        train = theano.function([i], cost, updates=[(W, W - 0.5 * gW), (b, b - 0.5 * gb)],
                                givens={x: data[i * 16:(i + 1) * 16],
                                        t: labels[i * 16:(i + 1) * 16]})
        losses = [float(train(k % 4)) for k in range(40)]
    finally:
        theano.config.floatX = old
    assert W.get_value().dtype == np.dtype(floatx)
    assert losses[-1] < 0.5 * losses[0] and np.isfinite(losses).all()


def test_copy_swaps_shared_variables_and_deletes_updates():
    # Theano's tutorial: an accumulator copied onto a new state, then without updates
    state, inc = theano.shared(0, name="state"), T.iscalar("inc")
    acc = theano.function([inc], state, updates=[(state, state + inc)], name="acc")
    acc(10)
    new_state = theano.shared(0, name="new_state")
    new_acc = acc.copy(swap={state: new_state})
    assert int(new_acc(100)) == 0 and int(new_acc(1)) == 100
    assert (int(new_state.get_value()), int(state.get_value())) == (101, 10)
    assert new_acc.name == "acc copy" and acc.copy(name="other").name == "other"
    null_acc = acc.copy(delete_updates=True)
    assert int(null_acc(9000)) == 10 and int(state.get_value()) == 10
    same = acc.copy(share_memory=True)
    same(5)
    assert int(state.get_value()) == 15  # without swap, the copy updates the same state


def test_copy_keeps_inputs_defaults_givens_and_default_updates(rng):
    x, W = T.dvector("x"), theano.shared(np.ones((3, 2)), name="W")
    k, j = T.dscalar("k"), T.dscalar("j")
    srng = T.shared_randomstreams.RandomStreams(seed=3)
    noise = srng.uniform((2,))  # a default update: the generator advances per call
    f = theano.function([x, theano.In(k, value=2.0)], [T.dot(x, W) * j, noise],
                        givens={j: k})
    g = f.copy(swap={W: theano.shared(np.full((3, 2), 2.0), name="W2")})
    xv = rng.normal(size=3)
    out, n1 = g(xv)
    np.testing.assert_allclose(out, xv @ np.full((3, 2), 2.0) * 2.0)
    out, n2 = g(xv, k=1.0)
    np.testing.assert_allclose(out, xv @ np.full((3, 2), 2.0))
    assert not np.array_equal(n1, n2)  # the random stream still advances in the copy
    np.testing.assert_allclose(f(xv)[0], xv @ np.ones((3, 2)) * 2.0)
    with pytest.raises(GraphError, match="same type"):
        f.copy(swap={W: theano.shared(np.ones(3))})
    with pytest.raises(GraphError, match="is not a shared variable of"):
        f.copy(swap={theano.shared(np.ones((3, 2))): W})


def test_numpy_scalar_inputs_of_the_input_dtype():
    # a NumPy scalar of the input's dtype goes in as a 0-d array (the call's fast path),
    # a strict input still refuses it, another dtype still goes through the dtype rules
    s = T.fscalar("s")
    f = theano.function([s], s * 2)
    got = f(np.float32(1.25))
    assert type(got) is np.ndarray and got.dtype == np.float32 and got == np.float32(2.5)
    seen = []
    g = theano.function([s], s, mode=theano.Mode().excluding("fusion"))
    g._run = lambda *values: (seen.extend(values), ((values[0],), ()))[1]
    g(np.float32(3))
    assert type(seen[0]) is np.ndarray and seen[0].shape == () and seen[0].dtype == np.float32
    with pytest.raises(InputTypeError, match="strict"):
        theano.function([theano.In(s, strict=True)], s * 2)(np.float32(1))
    with pytest.raises(InputTypeError, match="expected dtype float32, got float64"):
        f(np.float64(1))
