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


def test_get_default_mode_follows_config():
    from minigraph.compile.mode import get_default_mode

    assert get_default_mode() is get_mode(None)
    with theano.change_flags(mode="FAST_COMPILE"):
        assert get_default_mode() is FAST_COMPILE
