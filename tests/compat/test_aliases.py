"""Tests of minigraph/compat/aliases.py: the Theano paths of the names added for issue 15
resolve, and a Theano-style program using them runs unchanged through the runner."""

import sys
import textwrap

import pytest

from minigraph.compat import install, main, uninstall

NAMES = {
    "theano.tensor": "all any cumsum cumprod diag diagonal trace tile roll argsort sort nonzero "
                     "erf erfc log2 log10 inv isnan isinf largest smallest iround "
                     "max_and_argmax shape_padaxis vertical_stack horizontal_stack stacklists "
                     "advanced_inc_subtensor1 advanced_set_subtensor1 jacobian hessian repeat "
                     "tan arcsin arccos arctan arctan2 sinh cosh arcsinh arccosh arctanh exp2 "
                     "deg2rad rad2deg trunc power isclose allclose swapaxes take split ptp "
                     "identity_like get_scalar_constant_value NotScalarConstantError "
                     "extract_constant",
    "theano.tensor.xlogx": "xlogx xlogy0",
    "theano.tensor.slinalg": "cholesky solve solve_lower_triangular solve_upper_triangular kron",
    "theano.tensor.extra_ops": "cumsum cumprod repeat bincount squeeze diff fill_diagonal "
                               "to_one_hot Unique searchsorted compress ravel_multi_index "
                               "unravel_index fill_diagonal_offset bartlett",
    "theano.tensor.nnet": "softsign crossentropy_softmax_1hot softmax_with_bias h_softmax "
                          "selu confusion_matrix bn neighbours",
    "theano.tensor.nnet.nnet": "softsign crossentropy_softmax_1hot softmax_with_bias h_softmax "
                               "selu confusion_matrix softmax categorical_crossentropy",
    "theano.tensor.nnet.bn": "batch_normalization batch_normalization_train "
                             "batch_normalization_test",
    "theano.tensor.nnet.neighbours": "images2neibs neibs2images",
    "theano.tensor.nlinalg": "matrix_inverse det trace diag extract_diag alloc_diag eigh "
                             "matrix_dot matrix_power",
    "theano.tensor.sort": "sort argsort",
    "theano.gradient": "consider_constant disconnected_grad zero_grad jacobian hessian",
    "theano": "Out OpFromGraph map reduce foldl foldr clone Apply Op Variable Constant Type "
              "FunctionGraph",
    "theano.scan_module": "map reduce foldl foldr clone",
    "theano.scan_module.scan_views": "map reduce foldl foldr",
    "theano.compile": "Out OpFromGraph as_op get_default_mode",
    "theano.compile.mode": "get_default_mode",
    "theano.compile.ops": "as_op",
    "theano.compile.builders": "OpFromGraph",
    "theano.gof.graph": "inputs",
}


@pytest.fixture
def theano():
    argv, path = list(sys.argv), list(sys.path)
    install()
    import theano as th

    yield th
    uninstall()
    sys.argv[:], sys.path[:] = argv, path


@pytest.mark.parametrize("module", sorted(NAMES))
def test_theano_paths_resolve(theano, module):
    import importlib

    mod = importlib.import_module(module)
    missing = [n for n in NAMES[module].split() if not hasattr(mod, n)]
    assert not missing, f"{module} lacks {missing}"
    assert callable(importlib.import_module("theano.tensor").sort)  # the function, not module


def test_theano_style_program_runs_unchanged(theano, tmp_path, capsys):
    source = '''
        import numpy as np
        import theano
        import theano.tensor as T
        from theano.tensor.nnet import bn
        from theano.compile.ops import as_op
        from theano.gof.graph import inputs

        x = T.dmatrix("x")
        v = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -2.0]])
        m, i = T.max_and_argmax(x, axis=1)
        out, mean, invstd = bn.batch_normalization_train(x, np.ones(3), np.zeros(3))

        @as_op(itypes=[T.dmatrix], otypes=[T.dmatrix])
        def double(a):
            return 2 * a

        f = theano.function([x], [T.sort(x, axis=1), T.cumsum(x, axis=0), m, i,
                                  theano.Out(T.tile(x, (1, 2)), borrow=True), double(x),
                                  T.extra_ops.diff(x), T.all(T.isnan(x))])
        s, c, mv, iv, t, d, df, nan = f(v)
        assert np.array_equal(s, np.sort(v, axis=1)) and np.array_equal(c, np.cumsum(v, 0))
        assert np.array_equal(mv, v.max(1)) and np.array_equal(iv, v.argmax(1))
        assert np.array_equal(t, np.tile(v, (1, 2))) and np.array_equal(d, 2 * v)
        assert np.array_equal(df, np.diff(v)) and not nan
        assert inputs([m]) == [x]
        g = theano.grad(T.sum(T.sort(x) * [1.0, 2.0, 3.0]), x)
        print(g.eval({x: v}).tolist())
    '''
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(source))
    assert main([str(path)]) == 0
    assert capsys.readouterr().out.strip() == "[[3.0, 1.0, 2.0], [2.0, 3.0, 1.0]]"
