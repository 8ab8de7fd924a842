"""Every differentiable op, checked by ``verify_grad`` against finite differences.

One table row per case: a function of float tensors and a maker of its input values. The
rows cover every scalar-table row with a gradient, every reduction, shape op, indexing op,
linear-algebra op and nnet op; ``test_table_covers_every_differentiable_op`` fails when an
op (or a scalar row) with a gradient is added without a row here. Each row runs in
FAST_COMPILE (the gradient as ``grad`` builds it) and FAST_RUN (after the rewrites).
"""

import importlib
import inspect

import numpy as np
import pytest

import minigraph.tensor as T
from minigraph.gradient import verify_grad
from minigraph.graph.basic import ancestors
from minigraph.graph.op import Op
from minigraph.tensor import nnet
from minigraph.tensor.blas import DotAdd, Gemm
from minigraph.tensor.elemwise import Elemwise
from minigraph.tensor.nnet import basic as nnet_basic
from minigraph.tensor.scalar import SCALAR_OPS, _g_none, cast_op
from minigraph.tensor.shape import MakeVector


def n(*shape):
    return lambda r: r.standard_normal(shape)


def pos(*shape):
    return lambda r: r.random(shape) + 0.5


def ints(*values):
    return np.array(values, "int32")


def row(name):
    return lambda *xs: Elemwise(SCALAR_OPS[name])(*xs)


MASK = np.array([[True, False, True], [False, True, True]])
Y = ints(2, 0, 1)
ONE_HOT = np.eye(3)[Y]

# scalar-table rows: (name, input makers); binary rows broadcast a (2, 3) with a (3,)
SCALAR_CASES = {
    "add": [n(2, 3), n(3)], "sub": [n(2, 3), n(3)], "mul": [n(2, 3), n(3)],
    "true_div": [n(2, 3), pos(3)], "int_div": [n(2, 3), pos(3)], "mod": [n(2, 3), pos(3)],
    "pow": [pos(2, 3), n(3)], "maximum": [n(2, 3), n(3)], "minimum": [n(2, 3), n(3)],
    "neg": [n(4)], "abs": [n(4)], "sgn": [n(4)], "sqr": [n(4)], "sqrt": [pos(4)],
    "exp": [n(4)], "log": [pos(4)], "log1p": [pos(4)], "expm1": [n(4)], "sin": [n(4)],
    "cos": [n(4)], "tanh": [n(4)], "sigmoid": [n(4)], "softplus": [n(4)], "floor": [n(4)],
    "ceil": [n(4)], "round": [n(4)], "clip": [n(2, 3), lambda r: -r.random(3), pos(3)],
    "second": [n(2, 3), n(3)], "identity": [n(4)],
    "log2": [pos(4)], "log10": [pos(4)], "erf": [n(4)], "erfc": [n(4)],
    "exp2": [n(4)], "tan": [lambda r: r.random(4) * 2 - 1], "arctan": [n(4)],
    "arcsin": [lambda r: r.random(4) * 1.6 - 0.8], "arccos": [lambda r: r.random(4) * 1.6 - 0.8],
    "arctanh": [lambda r: r.random(4) * 1.6 - 0.8], "arccosh": [lambda r: r.random(4) + 1.5],
    "arctan2": [n(2, 3), pos(3)], "sinh": [n(4)], "cosh": [n(4)], "arcsinh": [n(4)],
}

CASES = [(f"scalar:{name}", row(name), makers) for name, makers in SCALAR_CASES.items()]
CASES += [
    ("scalar:switch", lambda a, b: T.switch(MASK, a, b), [n(2, 3), n(3)]),
    ("scalar:cast", lambda a: Elemwise(cast_op("float64"))(a) * 2,
     [lambda r: r.standard_normal(4).astype("float32")]),
    ("scalar:clip_scalar_bounds", lambda a: T.clip(a, -0.3, 0.4), [n(5)]),
    ("relu", lambda a: T.nnet.relu(a), [n(5)]),
    ("relu_leaky", lambda a: T.nnet.relu(a, 0.1), [n(5)]),
    ("elu", lambda a: nnet.elu(a), [n(5)]),
    # reductions
    ("sum", lambda a: T.sum(a), [n(2, 3)]),
    ("sum_axis", lambda a: a.sum(axis=1), [n(2, 3)]),
    ("sum_keepdims", lambda a: T.sum(a, axis=(0, 2), keepdims=True), [n(2, 2, 3)]),
    ("prod", lambda a: T.prod(a, axis=0), [n(3, 2)]),
    ("prod_with_zero", lambda a: T.prod(a * MASK, axis=1), [n(2, 3)]),
    ("max", lambda a: T.max(a, axis=-1), [n(2, 3)]),
    ("min", lambda a: a.min(keepdims=True), [n(2, 3)]),
    ("mean", lambda a: T.mean(a, axis=0), [n(3, 2)]),
    ("var", lambda a: T.var(a, axis=1, ddof=1), [n(2, 3)]),
    ("std", lambda a: T.std(a), [n(2, 3)]),
    ("norm", lambda a: a.norm(2), [n(4)]),
    # shape ops
    ("reshape", lambda a: T.reshape(a, (3, 2)) * np.arange(6.0).reshape(3, 2), [n(2, 3)]),
    ("reshape_symbolic", lambda a: a.reshape((a.shape[1], -1)), [n(2, 3)]),
    ("flatten", lambda a: T.flatten(a, 2), [n(2, 2, 2)]),
    ("transpose", lambda a: T.transpose(a, (2, 0, 1)), [n(2, 3, 2)]),
    ("dimshuffle", lambda a: a.dimshuffle(1, "x", 0), [n(2, 3)]),
    ("dimshuffle_drop", lambda a: T.addbroadcast(a, 0).dimshuffle(1), [n(1, 3)]),
    ("specify_shape", lambda a: T.specify_shape(a, (2, None)) * 3, [n(2, 3)]),
    ("concatenate", lambda a, b: T.concatenate([a, b, a], axis=1), [n(2, 3), n(2, 1)]),
    ("stack", lambda a, b: T.stack([a, b], axis=1), [n(2, 3), n(2, 3)]),
    ("make_vector", lambda a, b: MakeVector("float64")(a, b) * [1.0, 3.0], [n(), n()]),
    ("alloc", lambda a: T.alloc(a, 2, 3), [n(3)]),
    ("alloc_scalar", lambda a: T.alloc(a, 2, 3), [n()]),
    ("zeros_like_plus", lambda a: T.zeros_like(a) + T.ones_like(a) * a, [n(3)]),
    # indexing
    ("subtensor", lambda a: a[1:, ::2], [n(3, 4)]),
    ("subtensor_symbolic", lambda a: a[a.shape[0] - 2:, 1], [n(3, 4)]),
    ("subtensor_int", lambda a: a[-1], [n(3, 4)]),
    ("advanced_repeated", lambda a: a[ints(0, 2, 2, 0)], [n(3, 2)]),
    ("advanced_rows_cols", lambda a: a[T.arange(3), Y], [n(3, 3)]),
    ("advanced_with_slice", lambda a: a[ints(1, 1), 1:], [n(3, 3)]),
    ("inc_subtensor", lambda a, b: T.inc_subtensor(a[1:3], b), [n(4, 2), n(2)]),
    ("set_subtensor", lambda a, b: T.set_subtensor(a[:, 0], b), [n(3, 2), n(3)]),
    ("inc_advanced", lambda a, b: T.inc_subtensor(a[ints(0, 0, 2)], b), [n(3, 2), n(3, 2)]),
    ("set_advanced", lambda a, b: T.set_subtensor(a[ints(2, 0)], b), [n(3, 2), n(2)]),
    # linear algebra
    ("dot_mm", lambda a, b: T.dot(a, b), [n(2, 3), n(3, 2)]),
    ("dot_mv", lambda a, b: T.dot(a, b), [n(2, 3), n(3)]),
    ("dot_vm", lambda a, b: T.dot(a, b), [n(3), n(3, 2)]),
    ("dot_vv", lambda a, b: T.dot(a, b), [n(3), n(3)]),
    ("dot_3d", lambda a, b: T.dot(a, b), [n(2, 2, 3), n(3, 2)]),
    ("matmul_operator", lambda a, b: a @ b, [n(2, 3), n(3, 2)]),
    ("tensordot", lambda a, b: T.tensordot(a, b, axes=[[1, 2], [1, 0]]),
     [n(2, 3, 2), n(2, 3, 2)]),
    ("batched_dot", lambda a, b: T.batched_dot(a, b), [n(2, 2, 3), n(2, 3, 2)]),
    ("outer", lambda a, b: T.outer(a, b), [n(3), n(2)]),
    ("dot_add", lambda a, w, b: DotAdd()(a, w, b), [n(2, 3), n(3, 2), n(2)]),
    ("gemm", lambda z, a, x, y, b: Gemm()(z, a, x, y, b), [n(2, 4), n(), n(2, 3), n(3, 4), n()]),
    # nnet
    ("softmax", lambda a: nnet.softmax(a), [n(2, 3)]),
    ("softmax_vector", lambda a: nnet.softmax(a), [n(3)]),
    ("log_softmax", lambda a: nnet.log_softmax(a), [n(2, 3)]),
    ("log_of_softmax", lambda a: T.log(nnet.softmax(a)), [n(2, 3)]),
    ("softmax_grad", lambda a, g: nnet_basic.SoftmaxGrad()(g, nnet.softmax(a)),
     [n(2, 3), n(2, 3)]),
    ("xent_int", lambda a: nnet.categorical_crossentropy(nnet.softmax(a), Y), [n(3, 3)]),
    ("xent_one_hot", lambda a: nnet.categorical_crossentropy(nnet.softmax(a), ONE_HOT),
     [n(3, 3)]),
    ("xent_probabilities", lambda p: nnet_basic.CrossentropyCategorical1Hot()(p, Y),
     [pos(3, 3)]),
    ("xent_softmax_op", lambda a: nnet_basic.CrossentropySoftmax()(a, Y), [n(3, 3)]),
    ("xent_grad_op", lambda g, p: nnet_basic.CrossentropyCategorical1HotGrad()(g, p, Y),
     [n(3), pos(3, 3)]),
    ("xent_softmax_grad_op", lambda g, a: nnet_basic.CrossentropySoftmaxGrad()(g, a, Y),
     [n(3), n(3, 3)]),
    ("binary_xent", lambda p: nnet.binary_crossentropy(p, np.array([0.0, 1.0, 1.0])),
     [lambda r: r.random(3) * 0.8 + 0.1]),
    ("binary_xent_sigmoid",
     lambda a: nnet.binary_crossentropy(nnet.sigmoid(a), np.array([0.0, 1.0, 1.0])), [n(3)]),
    ("sigmoid_binary_xent",
     lambda a: nnet.sigmoid_binary_crossentropy(a, np.array([0.0, 1.0, 0.5])), [n(3)]),
]

# ops whose gradient is None for every input (nothing to check numerically)
NOT_DIFFERENTIABLE = {"Shape", "ARange", "Eye", "Argmax", "OneHot"}


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
@pytest.mark.parametrize("name, fun, makers", CASES, ids=[c[0] for c in CASES])
def test_verify_grad(name, fun, makers, mode, rng):
    pt = [make(rng) for make in makers]
    verify_grad(fun, pt, n_tests=1, rng=rng, mode=mode)


@pytest.mark.parametrize("name, fun, makers", CASES, ids=[c[0] for c in CASES])
def test_every_op_can_be_rebuilt_on_new_inputs(name, fun, makers, rng):
    """clone_replace (givens) rebuilds each node through its op's make_node."""
    from minigraph import function
    from minigraph.graph.basic import clone_replace

    pt = [make(rng) for make in makers]
    xs = [T.tensor(p.dtype, (None,) * p.ndim) for p in pt]
    ys = [T.tensor(p.dtype, (None,) * p.ndim) for p in pt]
    out = T.as_tensor_variable(fun(*xs))
    (rebuilt,) = clone_replace([out], dict(zip(xs, ys)))
    want = function(xs, out, mode="FAST_COMPILE", on_unused_input="ignore")(*pt)
    got = function(ys, rebuilt, mode="FAST_COMPILE", on_unused_input="ignore")(*pt)
    np.testing.assert_array_equal(got, want)


def _ops_used():
    classes, scalar_names = set(), set()
    for _, fun, makers in CASES:
        xs = [T.tensor(shape=(None,) * np.ndim(m(np.random.default_rng(0)))) for m in makers]
        for v in ancestors([T.as_tensor_variable(fun(*xs))]):
            if v.owner is not None:
                classes.add(type(v.owner.op).__name__)
                if isinstance(v.owner.op, Elemwise):
                    scalar_names.add(v.owner.op.scalar_op.name)
    return classes, scalar_names


def _differentiable_op_classes():
    found = set()
    for short in ("elemwise", "reduce", "shape", "subtensor", "blas", "nnet.basic"):
        # import_module: ``minigraph.tensor.shape`` as an attribute is the function T.shape
        module = importlib.import_module(f"minigraph.tensor.{short}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Op) and cls.__module__ == module.__name__ and "grad" in vars(cls):
                found.add(name)
    return found - NOT_DIFFERENTIABLE


def test_table_covers_every_differentiable_op():
    classes, scalar_names = _ops_used()
    missing_ops = _differentiable_op_classes() - classes
    assert not missing_ops, f"add rows to CASES for {sorted(missing_ops)}"
    with_grad = {name for name, r in SCALAR_OPS.items() if r.grad is not _g_none}
    missing_rows = with_grad - scalar_names
    assert not missing_rows, f"add rows to SCALAR_CASES for {sorted(missing_rows)}"
    assert any(name.startswith("cast_") for name in scalar_names)
