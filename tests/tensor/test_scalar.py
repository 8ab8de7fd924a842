"""Tests of the scalar-op table (minigraph.tensor.scalar), one row at a time.

For every row: the compiled elementwise op agrees with the row's NumPy function, the result
has the dtype the row's rule promises, and the Numba code template (what fusion compiles)
computes the same scalar as NumPy. Gradients of every row are checked in
``tests/test_gradient.py``.
"""

import math

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.compile.function import function
from minigraph.tensor.elemwise import Elemwise
from minigraph.tensor.scalar import CODE_NAMESPACE, SCALAR_OPS, cast_op

POSITIVE = {"sqrt", "log", "log1p", "pow", "true_div", "int_div", "mod", "log2", "log10"}
BOOLEAN = {"and_", "or_", "xor", "invert"}
UNIT = {"arcsin", "arccos", "arctanh"}


def _inputs(name, nin, rng, shape=(3, 4)):
    """Values in the row's domain (positive where needed, bools for logic)."""
    if name in BOOLEAN:
        return [rng.random(shape) > 0.5 for _ in range(nin)]
    if name == "switch":
        return [rng.random(shape) > 0.5, rng.standard_normal(shape), rng.standard_normal(shape)]
    if name == "clip":
        return [rng.standard_normal(shape) * 2, np.full(shape, -0.5), np.full(shape, 0.7)]
    if name in POSITIVE:
        return [rng.random(shape) + 0.5 for _ in range(nin)]
    if name in UNIT:  # open interval (-1, 1)
        return [rng.random(shape) * 1.8 - 0.9]
    if name == "arccosh":
        return [rng.random(shape) + 1.5]
    vals = [rng.standard_normal(shape) * 2 for _ in range(nin)]
    if name in ("round", "floor", "ceil"):
        vals[0].flat[:2] = [2.5, -1.5]  # ties: round half to even, as NumPy
    return vals


@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
def test_row_agrees_with_numpy_and_its_dtype_rule(name, rng):
    row = SCALAR_OPS[name]
    vals = _inputs(name, row.nin, rng)
    xs = [T.tensor(str(v.dtype), (None, None), name=f"x{i}") for i, v in enumerate(vals)]
    out = Elemwise(row)(*xs)
    assert out.dtype == row.out_dtype([x.dtype for x in xs])
    got = function(xs, out, mode="FAST_COMPILE")(*vals)
    want = np.asarray(row.np_fn(*vals)).astype(out.dtype)
    assert got.dtype == np.dtype(out.dtype) and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
def test_code_template_computes_what_numpy_does(name, rng):
    row = SCALAR_OPS[name]
    vals = _inputs(name, row.nin, rng, shape=(6,))
    expr = row.code.format(*[f"a{i}" for i in range(row.nin)])
    fn = eval(f"lambda {', '.join(f'a{i}' for i in range(row.nin))}: {expr}", CODE_NAMESPACE)
    want = row.np_fn(*vals)
    for k in range(6):
        args = [v[k].item() for v in vals]
        assert fn(*args) == pytest.approx(float(want[k]), rel=1e-12, abs=1e-12), (expr, args)


@pytest.mark.parametrize("dtype", ["float32", "int32", "int8", "bool", "float64"])
def test_cast_rows(dtype, rng):
    vals = rng.standard_normal(5) * 3
    x = T.dvector("x")
    got = T.cast(x, dtype).eval({x: vals})
    assert got.dtype == np.dtype(dtype) and np.array_equal(got, vals.astype(dtype))
    op = cast_op(dtype)
    assert op is cast_op(np.dtype(dtype)) and op.params == dtype and op.name == f"cast_{dtype}"
    fn = eval(f"lambda a: {op.code.format('a')}", CODE_NAMESPACE)
    assert fn(vals[0]) == vals[:1].astype(dtype)[0]


def test_rows_compare_by_name():
    assert SCALAR_OPS["add"] == SCALAR_OPS["add"] != SCALAR_OPS["sub"]
    assert hash(SCALAR_OPS["exp"]) == hash(SCALAR_OPS["exp"]) and str(SCALAR_OPS["exp"]) == "exp"
    assert CODE_NAMESPACE["math"] is math


@pytest.mark.parametrize("name, dtypes, expected", [
    ("add", ["int32", "int32"], "int32"),
    ("add", ["int8", "float32"], "float32"),
    ("add", ["int32", "float32"], "float64"),
    ("true_div", ["int32", "int32"], "float64"),
    ("true_div", ["int8", "int16"], "float32"),
    ("exp", ["int8"], "float32"),
    ("exp", ["int64"], "float64"),
    ("sqr", ["int32"], "int32"),
    ("lt", ["float32", "float64"], "bool"),
    ("switch", ["bool", "float32", "int8"], "float32"),
    ("second", ["float64", "int32"], "int32"),
])
def test_dtype_rules(name, dtypes, expected):
    assert SCALAR_OPS[name].out_dtype(dtypes) == expected


@pytest.mark.parametrize("xshape, yshape", [
    ((3, 4), (3, 4)), ((3, 4), (1, 1)), ((3, 4), ()), ((3, 4), (1,)), ((), ()), ((5,), (1,)),
    ((3, 4), (4,)), ((3, 1), (1, 4)), ((1,), (1, 1)), ((2, 3), (1, 3)),
])
def test_second_is_numpy_broadcast_copy(xshape, yshape, rng):
    # the fast paths of scalar._second (equal shapes, one-element y) and the general one:
    # y broadcast to both shapes, y's dtype, a fresh C-ordered array, NaN kept
    fill = SCALAR_OPS["second"].np_fn
    x = rng.standard_normal(xshape)
    y = rng.standard_normal(yshape).astype("float32")
    if y.size:
        y.flat[0] = np.nan
    if len(yshape) == 2 and yshape[0] > 1:
        y = np.asfortranarray(y)
    want = np.broadcast_to(y, np.broadcast_shapes(xshape, yshape)).copy()
    got = fill(x, y)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.flags.c_contiguous and got.flags.owndata
    assert not np.shares_memory(got, y)
    np.testing.assert_array_equal(got, want)
