"""Tests of minigraph/compat: the ``theano`` import hook and the program runner."""

import os
import subprocess
import sys
import textwrap

import pytest

import minigraph
import minigraph.ifelse
import minigraph.tensor as MT
from minigraph.compat import MissingName, install, main, uninstall
from minigraph.compat.runner import missing_message

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def theano():
    """``theano`` mapped in-process; afterwards the hook and its modules are gone."""
    argv, path = list(sys.argv), list(sys.path)
    install()
    import theano as th

    yield th
    uninstall()
    sys.argv[:], sys.path[:] = argv, path


def program(tmp_path, source, name="prog.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_modules_map_to_minigraph(theano):
    import theano.tensor as T
    import theano.tensor.nnet.nnet as nnet_module
    from theano.ifelse import ifelse
    from theano.tensor.shared_randomstreams import RandomStreams

    assert theano.function is minigraph.function and theano.shared is minigraph.shared
    assert T.matrix is MT.matrix and T.nnet.sigmoid is MT.nnet.sigmoid
    assert nnet_module.softmax is MT.nnet.softmax  # an alias: minigraph.tensor.nnet.basic
    assert ifelse is minigraph.ifelse.ifelse
    assert RandomStreams is MT.shared_randomstreams.RandomStreams
    assert theano.tensor.basic.dot is MT.dot  # falls back from tensor.basic to tensor
    assert theano.compile.function is minigraph.function  # the function, not the module
    assert theano.gradient.grad is minigraph.gradient.grad
    assert T.as_tensor is MT.as_tensor_variable  # a Theano name minigraph spells differently
    assert T.nnet.logsoftmax is MT.nnet.log_softmax
    assert theano.tensor.nnet is sys.modules["theano.tensor.nnet"]  # one view per path


def test_views_behave_like_modules(theano):
    import theano.tensor as T

    namespace = {}
    exec("from theano.tensor import *", namespace)
    assert namespace["matrix"] is MT.matrix and "dot" in dir(T)
    assert theano.__version__ == minigraph.__version__
    assert not hasattr(T, "no_such_name") and getattr(T, "no_such_name", 3) == 3
    x = T.dmatrix("x")
    f = theano.function([x], T.nnet.sigmoid(x).sum())
    assert f([[0.0, 0.0]]) == pytest.approx(1.0)


def test_missing_attribute_names_theano_path_and_line(theano):
    with pytest.raises(MissingName) as info:
        theano.tensor.nnet.no_such_op  # noqa: B018
    line = sys._getframe().f_lineno - 1
    assert info.value.theano_name == "theano.tensor.nnet.no_such_op"
    assert str(info.value).endswith(f"test_runner.py:{line})")
    assert isinstance(info.value, AttributeError)  # so hasattr() / except AttributeError work


def test_missing_module_is_an_import_error(theano):
    with pytest.raises(ImportError) as info:
        import theano.no_such_module  # noqa: F401
    assert missing_message(info.value).startswith("theano.no_such_module is not in minigraph")


def test_main_passes_argv_and_runs_as_main(theano, tmp_path, capsys):
    path = program(tmp_path, """
        import sys, theano
        assert __name__ == "__main__"
        print(sys.argv[1:], theano.tensor.matrix.__module__)
    """)
    assert main([path, "--lr", "0.1", "x"]) == 0
    assert capsys.readouterr().out.split("]")[0] == "['--lr', '0.1', 'x'"


def test_main_runs_a_module_with_dash_m(theano, tmp_path, capsys, monkeypatch):
    program(tmp_path, "import sys, theano.tensor as T\nprint(__name__, sys.argv[1:])\n",
            name="prog_module.py")
    monkeypatch.chdir(tmp_path)
    assert main(["-m", "prog_module", "--flag"]) == 0
    assert capsys.readouterr().out == "__main__ ['--flag']\n"


def test_usage(capsys):
    assert main([]) == 2 and "usage:" in capsys.readouterr().err
    assert main(["--help"]) == 0 and "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("line2, missing", [
    ("T.foo(1)", "theano.tensor.foo"),
    ("from theano.tensor import foo", "theano.tensor.foo"),
    ("import theano.sandbox.no_such", "theano.sandbox.no_such"),
    ("import theano.tensor.nnet.no_such", "theano.tensor.nnet.no_such"),
])
def test_missing_name_is_one_line_and_exit_2(theano, tmp_path, capsys, line2, missing):
    path = program(tmp_path, f"import theano.tensor as T\n{line2}\n")
    assert main([path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"minigraph.compat: {missing} is not in minigraph (used at ")
    assert err.rstrip().endswith("prog.py:2)")


def test_missing_method_of_a_minigraph_object_is_one_line(theano, tmp_path, capsys):
    path = program(tmp_path, "import theano.tensor as T\nx = T.dvector()\nx.no_such_theano_method()\n")
    assert main([path]) == 2
    assert capsys.readouterr().err == ("minigraph.compat: TensorVariable.no_such_theano_method is not in "
                                       f"minigraph (used at {path}:3)\n")


def test_program_errors_keep_their_traceback(theano, tmp_path, capsys):
    path = program(tmp_path, """
        import theano
        class Model:
            pass
        def fit(model):
            return model.weights  # a genuine AttributeError, not a missing Theano name
        fit(Model())
    """)
    assert main([path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "minigraph.compat:" not in err and "runpy" not in err
    assert "line 6, in fit" in err
    assert err.rstrip().endswith("AttributeError: 'Model' object has no attribute 'weights'")


def test_sys_exit_status_passes_through(theano, tmp_path):
    path = program(tmp_path, "import sys\nsys.exit(5)\n")
    with pytest.raises(SystemExit) as info:
        main([path])
    assert info.value.code == 5


def test_command_line(tmp_path):
    path = program(tmp_path, "import sys, theano\nprint(sys.argv[1])\ntheano.not_there\n")
    done = subprocess.run([sys.executable, "-m", "minigraph.compat", path, "hello"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 2 and done.stdout == "hello\n"
    assert done.stderr.strip() == (f"minigraph.compat: theano.not_there is not in minigraph "
                                   f"(used at {path}:3)")
