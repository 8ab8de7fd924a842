"""Tests of minigraph.compile.mode: modes as ordered lists of named passes."""

import os

import numpy as np
import pytest

import minigraph as theano
import minigraph.tensor as T
from minigraph.compile.mode import DEBUG, FAST_COMPILE, FAST_RUN, Mode, get_mode
from minigraph.compile.nanguardmode import NanGuardError
from minigraph.config import config

HERE = os.path.basename(__file__)


def test_get_mode():
    assert get_mode("FAST_RUN") is FAST_RUN and get_mode("FAST_COMPILE") is FAST_COMPILE
    assert get_mode("DebugMode") is DEBUG and get_mode(FAST_COMPILE) is FAST_COMPILE
    assert get_mode(None).name == config.mode == "FAST_RUN"
    with pytest.raises(ValueError, match=f"unknown mode 'FAST'.*{HERE}:"):
        theano.function([], 1.0, mode="FAST")


def test_fast_run_pipeline_order():
    names = [p.name for p in FAST_RUN.pipeline()]
    assert names[:5] == ["merge", "canonicalize", "constant_folding", "stabilize", "specialize"]
    assert [p.name for p in FAST_COMPILE.pipeline()] == ["merge"]


def test_excluding_and_including_passes():
    mode = FAST_RUN.excluding("constant_folding", "stabilize")
    names = [p.name for p in mode.pipeline()]
    assert "constant_folding" not in names and "stabilize" not in names
    assert "excluding ['constant_folding', 'stabilize']" in repr(mode)
    back = mode.including("stabilize")
    assert "stabilize" in [p.name for p in back.pipeline()]
    assert FAST_RUN.exclude == frozenset()  # the original is untouched


def test_named_pass_list_and_unknown_names():
    mode = Mode("mine", passes=["stabilize", "merge"])
    assert [p.name for p in mode.pipeline()] == ["stabilize", "merge"]
    with pytest.raises(ValueError, match="unknown passes \\['nope'\\]"):
        Mode("bad", passes=["nope"]).pipeline()


def test_fast_compile_keeps_the_graph_as_written():
    x = T.dvector("x")
    y = x * 1 + T.constant(2.0) * 3.0
    fast = theano.function([x], y)
    slow = theano.function([x], y, mode="FAST_COMPILE")
    assert len(slow.fgraph.toposort()) > len(fast.fgraph.toposort())
    assert slow(np.ones(2)).tolist() == fast(np.ones(2)).tolist() == [7.0, 7.0]


def test_config_mode_is_the_default():
    old = config.mode
    config.mode = "FAST_COMPILE"
    try:
        x = T.dvector("x")
        f = theano.function([x], x * 1)
    finally:
        config.mode = old
    assert f.mode is FAST_COMPILE and len(f.fgraph.toposort()) == 2  # DimShuffle{x}(1), mul


def test_debug_mode_stops_at_the_first_nan():
    x = T.dvector("x")
    f = theano.function([x], T.log(x) * 2, mode="DEBUG")
    with pytest.raises(NanGuardError) as info:
        with np.errstate(invalid="ignore"):
            f(np.array([-1.0]))
    assert "NaN in output 0 of log" in str(info.value) and f"{HERE}:" in str(info.value)


def test_the_pipeline_is_one_list_of_named_passes():
    from minigraph.compile.mode import PIPELINE

    names = [p.name for p in PIPELINE]
    assert names == ["merge", "canonicalize", "constant_folding", "stabilize", "specialize",
                     "scan_gru", "scan", "useless", "gemm", "fusion", "inplace",
                     "reuse_buffers"]
    assert [p.name for p in FAST_RUN.pipeline()] == names


def test_register_adds_a_pass_object_where_asked():
    from minigraph.graph.rewriting import RuleSet, node_rewriter
    from minigraph.tensor.elemwise import Elemwise

    @node_rewriter([Elemwise])
    def exp_to_sqr(fgraph, node):
        """exp(x) -> sqr(x): wrong, to show that the pass ran"""
        if node.op.scalar_op.name == "exp":
            return [T.sqr(node.inputs[0])]
        return None

    mine = RuleSet("mine", [exp_to_sqr])
    names = [p.name for p in FAST_RUN.register(mine).pipeline()]
    assert names.index("mine") == names.index("fusion") - 1
    mode = FAST_RUN.register(mine, after="merge")
    assert [p.name for p in mode.pipeline()][:2] == ["merge", "mine"]
    assert "mine" not in [p.name for p in FAST_RUN.pipeline()]  # the original is untouched
    x = T.dvector("x")
    assert theano.function([x], T.exp(x), mode=mode)(np.array([3.0])).tolist() == [9.0]
    off = mode.excluding("exp_to_sqr")
    assert theano.function([x], T.exp(x), mode=off)(np.array([0.0])).tolist() == [1.0]
    with pytest.raises(ValueError, match=f"no pass 'nope'.*{HERE}:"):
        FAST_RUN.register(mine, before="nope")
    with pytest.raises(TypeError, match="needs a name and an apply"):
        FAST_RUN.register(lambda fg: None)


def test_including_adds_a_pass_at_its_place_in_the_pipeline():
    mode = FAST_COMPILE.including("constant_folding", "canonicalize")
    assert [p.name for p in mode.pipeline()] == ["merge", "canonicalize", "constant_folding"]
    full = FAST_COMPILE.including("fast_run")
    assert [p.name for p in full.pipeline()] == [p.name for p in FAST_RUN.pipeline()]


def test_theano_mode_constructor_with_linker_and_optimizer():
    for linker in ("py", "c", "c|py", "cvm", "vm", "c|py_nogc", "cvm_nogc"):
        assert len(Mode(linker=linker, optimizer="fast_run").pipeline()) == len(
            FAST_RUN.pipeline())
    assert [p.name for p in Mode(linker="py", optimizer="fast_compile").pipeline()] == ["merge"]
    assert [p.name for p in Mode("c|py", "merge").pipeline()] == ["merge"]
    assert Mode(linker="cvm", optimizer=None).pipeline() == []
    assert Mode(optimizer="None").pipeline() == []
    x = T.dvector("x")
    f = theano.function([x], x * 1 + 0, mode=theano.Mode(linker="cvm", optimizer=None))
    assert f(np.array([2.0])).tolist() == [2.0] and len(f.fgraph.toposort()) > 1
    with pytest.raises(ValueError, match=f"unknown linker 'gpu'.*{HERE}:"):
        Mode(linker="gpu")
    with pytest.raises(ValueError, match=f"unknown optimizer 'o9'.*{HERE}:"):
        Mode(linker="cvm", optimizer="o9")


def test_config_optimizer_excluding_applies_to_the_default_mode():
    old = config.optimizer_excluding
    config.optimizer_excluding = "fusion:inplace"
    try:
        names = [p.name for p in get_mode(None).pipeline()]
    finally:
        config.optimizer_excluding = old
    assert "fusion" not in names and "inplace" not in names and "merge" in names
    assert get_mode(None) is FAST_RUN


def test_a_broken_pass_module_is_an_error_not_a_skipped_pass():
    # every pass is imported at the top of compile/mode.py, with nothing catching ImportError
    import ast
    import inspect

    import minigraph.compile.mode as mode_module

    tree = ast.parse(inspect.getsource(mode_module))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Try)]
    nested = [n for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
              for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not nested
def test_get_default_mode_follows_config():
    from minigraph.compile.mode import get_default_mode

    assert get_default_mode() is get_mode(None)
    with theano.change_flags(mode="FAST_COMPILE"):
        assert get_default_mode() is FAST_COMPILE
