"""Tests of minigraph.tensor.math: the user-facing elementwise functions against NumPy."""

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.graph.basic import GraphError


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "sqrt": np.sqrt, "sqr": np.square,
    "abs": np.abs, "abs_": np.abs, "sgn": np.sign, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "sigmoid": _sigmoid, "softplus": lambda x: np.log1p(np.exp(x)),
    "floor": np.floor, "ceil": np.ceil, "round": np.round, "expm1": np.expm1,
    "neg": np.negative,
}
BINARY = {
    "maximum": np.maximum, "minimum": np.minimum, "eq": np.equal, "neq": np.not_equal,
    "gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal,
    "pow": np.power, "add": np.add, "sub": np.subtract, "mul": np.multiply,
    "true_div": np.true_divide, "int_div": np.floor_divide, "mod": np.mod,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_functions(name, rng):
    x = T.dmatrix("x")
    xv = rng.random((3, 4)) * 3 + 0.1
    xv[0, 0] = 2.5  # a tie for round
    got = getattr(T, name)(x).eval({x: xv})
    np.testing.assert_allclose(got, UNARY[name](xv), rtol=1e-14)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_functions_with_broadcasting(name, rng):
    x, y = T.dmatrix("x"), T.dvector("y")
    xv, yv = rng.random((3, 4)) + 0.5, rng.random(4) + 0.5
    xv[0] = yv  # some equal entries for the comparisons
    got = getattr(T, name)(x, y).eval({x: xv, y: yv})
    want = BINARY[name](xv, yv)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_nnet_activations(rng):
    x = T.dvector("x")
    xv = rng.standard_normal(8) * 3
    f = theano.function([x], [T.nnet.sigmoid(x), T.nnet.softplus(x), T.nnet.relu(x),
                              T.nnet.relu(x, alpha=0.1), T.nnet.elu(x)])
    sig, sp, relu, leaky, elu = f(xv)
    np.testing.assert_allclose(sig, _sigmoid(xv), rtol=1e-14)
    np.testing.assert_allclose(sp, np.log1p(np.exp(xv)), rtol=1e-13)
    assert np.array_equal(relu, np.maximum(xv, 0))
    np.testing.assert_allclose(leaky, np.where(xv > 0, xv, 0.1 * xv), rtol=1e-15)
    np.testing.assert_allclose(elu, np.where(xv > 0, xv, np.expm1(xv)), rtol=1e-15)


def test_activations_stay_finite_for_large_inputs():
    x = T.dvector("x")
    big = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    sig, sp = theano.function([x], [T.nnet.sigmoid(x), T.nnet.softplus(x)])(big)
    assert np.all(np.isfinite(sig)) and sig[0] == 0.0 and sig[-1] == 1.0
    assert np.all(np.isfinite(sp)) and sp[-1] == 1000.0 and sp[0] == 0.0


def test_switch_where_clip_and_logic(rng):
    x, y = T.dvector("x"), T.dvector("y")
    xv, yv = rng.standard_normal(6), rng.standard_normal(6)
    f = theano.function([x, y], [T.switch(x > y, x, y), T.where(x > 0, x, 0.0),
                                 T.clip(x, -0.5, 0.5), T.and_(x > 0, y > 0), T.or_(x > 0, y > 0),
                                 T.xor(x > 0, y > 0)])
    got = f(xv, yv)
    want = [np.where(xv > yv, xv, yv), np.where(xv > 0, xv, 0), np.clip(xv, -0.5, 0.5),
            (xv > 0) & (yv > 0), (xv > 0) | (yv > 0), (xv > 0) ^ (yv > 0)]
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


def test_cast_zeros_like_ones_like(rng):
    x = T.dmatrix("x")
    xv = rng.standard_normal((2, 3)) * 10
    f = theano.function([x], [T.cast(x, "int32"), T.cast(x, "floatX"), T.zeros_like(x),
                              T.ones_like(x, dtype="int8"), T.fill(x, 2.0)])
    c, fx, z, o, fl = f(xv)
    assert c.dtype == np.int32 and np.array_equal(c, xv.astype("int32"))
    assert fx.dtype == np.dtype(theano.config.floatX)
    assert z.shape == (2, 3) and not z.any() and o.dtype == np.int8 and o.sum() == 6
    assert np.array_equal(fl, np.full((2, 3), 2.0))
    assert T.cast(x, "float64") is x  # no-op cast adds no node


def test_round_modes():
    with pytest.raises(ValueError, match="half_to_even"):
        T.round(T.dvector(), mode="half_away_from_zero")


def test_pow_with_integer_and_float_exponents(rng):
    x = T.dvector("x")
    xv = rng.random(4) + 0.5
    f = theano.function([x], [x ** 2, x ** 0.5, 2 ** x, x ** -1])
    for g, w in zip(f(xv), [xv ** 2, xv ** 0.5, 2 ** xv, 1 / xv]):
        np.testing.assert_allclose(g, w, rtol=1e-14)


# ---- Theano names added for issue 15: erf, erfc, log2, log10, inv, isnan, isinf, ... ----
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_new_unary_functions_match_numpy(dtype, rng):
    import math

    x = T.vector("x", dtype=dtype)
    xv = (rng.standard_normal(7) * 2).astype(dtype)
    pos = np.abs(xv) + 0.25
    erf = np.vectorize(math.erf)(xv.astype("float64"))
    cases = [(T.erf(x), xv, erf), (T.erfc(x), xv, 1 - erf), (T.log2(x), pos, np.log2(pos)),
             (T.log10(x), pos, np.log10(pos)), (T.inv(x), xv, 1 / xv)]
    tol = 1e-6 if dtype == "float32" else 1e-14
    for out, val, want in cases:
        got = out.eval({x: val})
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    for name, out in [("erf", T.erf), ("erfc", T.erfc), ("inv", T.inv)]:
        theano.gradient.verify_grad(out, [xv.astype("float64")], rng=rng)
    for out in (T.log2, T.log10):
        theano.gradient.verify_grad(out, [pos.astype("float64")], rng=rng)


def test_isnan_isinf_and_integer_inputs():
    x, i = T.dvector("x"), T.ivector("i")
    xv = np.array([1.0, np.nan, np.inf, -np.inf, 0.0])
    assert np.array_equal(T.isnan(x).eval({x: xv}), np.isnan(xv))
    assert np.array_equal(T.isinf(x).eval({x: xv}), np.isinf(xv))
    iv = np.array([1, -3, 0], "int32")
    assert not T.isnan(i).eval({i: iv}).any() and not T.isinf(i).eval({i: iv}).any()
    assert T.inv(i).dtype == "float64"
    np.testing.assert_array_equal(T.inv(i).eval({i: np.array([2, -4], "int32")}), [0.5, -0.25])


def test_iround_largest_smallest(rng):
    x, y, z = T.dvectors("x", "y", "z")
    vals = [rng.standard_normal(5) * 3 for _ in range(3)]
    vals[0][:2] = [2.5, -1.5]
    r = T.iround(x)
    assert r.dtype == "int64"
    np.testing.assert_array_equal(r.eval({x: vals[0]}), np.round(vals[0]).astype("int64"))
    given = dict(zip((x, y, z), vals))
    np.testing.assert_array_equal(T.largest(x, y, z).eval(given), np.maximum.reduce(vals))
    np.testing.assert_array_equal(T.smallest(x, y, z).eval(given), np.minimum.reduce(vals))
    assert T.largest(x) is x
    theano.gradient.verify_grad(lambda a, b: T.largest(a, b, 0.1), vals[:2], rng=rng)
    with pytest.raises(GraphError, match="at least one"):
        T.smallest()


TRIG = [("tan", np.tan, (-1, 1)), ("arcsin", np.arcsin, (-0.9, 0.9)),
        ("arccos", np.arccos, (-0.9, 0.9)), ("arctan", np.arctan, (-3, 3)),
        ("sinh", np.sinh, (-3, 3)), ("cosh", np.cosh, (-3, 3)), ("arcsinh", np.arcsinh, (-3, 3)),
        ("arccosh", np.arccosh, (1.2, 4)), ("arctanh", np.arctanh, (-0.9, 0.9)),
        ("exp2", np.exp2, (-3, 3)), ("deg2rad", np.deg2rad, (-400, 400)),
        ("rad2deg", np.rad2deg, (-7, 7)), ("trunc", np.trunc, (-5, 5))]


@pytest.mark.parametrize("name,ref,domain", TRIG, ids=[t[0] for t in TRIG])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_trig_hyperbolic_and_friends_match_numpy(name, ref, domain, dtype, rng):
    lo, hi = domain
    xv = (rng.random(7) * (hi - lo) + lo).astype(dtype)
    x = T.vector("x", dtype=dtype)
    got = getattr(T, name)(x).eval({x: xv})
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, ref(xv), rtol=1e-6 if dtype == "float32" else 1e-14)
    if name != "trunc":
        theano.gradient.verify_grad(getattr(T, name), [xv.astype("float64")], rng=rng)


def test_arctan2_power_isclose_allclose(rng):
    y, x = T.dvectors("y", "x")
    yv, xv = rng.standard_normal(6), rng.standard_normal(6)
    np.testing.assert_allclose(T.arctan2(y, x).eval({y: yv, x: xv}), np.arctan2(yv, xv),
                               rtol=1e-14)
    theano.gradient.verify_grad(T.arctan2, [yv, xv], rng=rng)
    assert T.power is T.pow
    a = np.array([1.0, np.inf, -np.inf, np.nan, np.nan, 0.0, 1e-9, 1.0])
    b = np.array([1 + 1e-6, np.inf, np.inf, np.nan, 1.0, 0.0, 0.0, 1.1])
    for equal_nan in (False, True):
        got = T.isclose(y, x, equal_nan=equal_nan).eval({y: a, x: b})
        np.testing.assert_array_equal(got, np.isclose(a, b, equal_nan=equal_nan))
        got = T.isclose(y, x, rtol=0.2, atol=0.0).eval({y: a, x: b})
        np.testing.assert_array_equal(got, np.isclose(a, b, rtol=0.2, atol=0.0))
    assert not T.allclose(y, x).eval({y: a, x: b})
    assert T.allclose(y, x).eval({y: xv, x: xv + 1e-10})


def test_xlogx_and_xlogy0(rng):
    x, y = T.dvectors("x", "y")
    xv = np.array([0.0, 0.5, 2.0])
    yv = np.array([0.0, 3.0, 0.25])
    np.testing.assert_allclose(T.xlogx.xlogx(x).eval({x: xv}), [0.0, 0.5 * np.log(0.5),
                                                               2 * np.log(2.0)], rtol=1e-15)
    np.testing.assert_allclose(T.xlogx.xlogy0(x, y).eval({x: xv, y: yv}),
                               [0.0, 0.5 * np.log(3.0), 2 * np.log(0.25)], rtol=1e-15)
    g = theano.grad(T.xlogx.xlogx(x).sum(), x).eval({x: xv})
    assert np.isfinite(g[1:]).all() and np.allclose(g[1:], np.log(xv[1:]) + 1)
    pos = rng.random(4) + 0.2
    theano.gradient.verify_grad(T.xlogx.xlogx, [pos], rng=rng)
    theano.gradient.verify_grad(T.xlogx.xlogy0, [pos, pos + 1], rng=rng)
