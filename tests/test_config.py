"""Tests of minigraph.config: defaults, THEANO_FLAGS / MINIGRAPH_FLAGS, run-time changes."""

import os
import subprocess
import sys
import warnings

import pytest

import minigraph.tensor as T
from minigraph.config import Config, ConfigError, config


def _fresh(monkeypatch, theano_flags=None, minigraph_flags=None):
    for name, value in (("THEANO_FLAGS", theano_flags), ("MINIGRAPH_FLAGS", minigraph_flags)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return Config()


def test_defaults(monkeypatch):
    c = _fresh(monkeypatch)
    assert (c.floatX, c.device, c.mode) == ("float64", "cpu", "FAST_RUN")
    assert repr(c).startswith("Config(floatX='float64'")


def test_minigraph_flags(monkeypatch):
    c = _fresh(monkeypatch, minigraph_flags="floatX=float32, device=cuda,mode=FAST_COMPILE")
    assert (c.floatX, c.device, c.mode) == ("float32", "cuda", "FAST_COMPILE")


def test_theano_flags_are_read_and_theano_spellings_accepted(monkeypatch):
    c = _fresh(monkeypatch, theano_flags="floatX=float32,device=gpu0,optimizer=fast_run")
    assert c.floatX == "float32" and c.device == "cuda"  # unknown Theano flags are ignored
    assert _fresh(monkeypatch, theano_flags="device=cuda1").device == "cuda"


def test_minigraph_flags_win_over_theano_flags(monkeypatch):
    c = _fresh(monkeypatch, theano_flags="floatX=float32", minigraph_flags="floatX=float16")
    assert c.floatX == "float16"


@pytest.mark.parametrize("flags, message", [
    ("bogus=1", "MINIGRAPH_FLAGS: unknown flag 'bogus'"),
    ("floatX=float128", "MINIGRAPH_FLAGS: floatX='float128' is not one of"),
    ("floatX", "MINIGRAPH_FLAGS: expected name=value, got 'floatX'"),
])
def test_bad_flags_are_clear_errors(monkeypatch, flags, message):
    with pytest.raises(ConfigError, match=message):
        _fresh(monkeypatch, minigraph_flags=flags)


def test_run_time_assignment_is_validated_and_takes_effect():
    old = config.floatX
    try:
        config.floatX = "float32"
        assert T.vector().dtype == "float32" and T.constant(0.5).dtype == "float32"
        with pytest.raises(ConfigError, match="floatX='float128' is not one of"):
            config.floatX = "float128"
        assert config.floatX == "float32"
    finally:
        config.floatX = old
    assert T.vector().dtype == old
    with pytest.raises(AttributeError, match="no flag 'colour' \\(it was never set"):
        config.colour


def test_flags_reach_a_new_interpreter():
    env = dict(os.environ, MINIGRAPH_FLAGS="floatX=float32")
    code = "import minigraph.tensor as T; print(T.matrix().dtype)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "float32"


def test_theano_flags_are_accepted_and_read_back(monkeypatch):
    c = _fresh(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Theano's own flags: no warning
        c.warn.subtensor_merge_bug = False
        c.compute_test_value = "warn"
        c.optimizer = "None"
        c.exception_verbosity = "high"
        c.gcc.cxxflags = "-O3 -ffast-math"
        c.dnn.conv.algo_fwd = "time_once"
        c.warn.some_bug_theano_listed_later = True  # any name in Theano's warn section
    assert c.warn.subtensor_merge_bug is False and c.compute_test_value == "warn"
    assert (c.optimizer, c.exception_verbosity) == ("None", "high")
    assert c.gcc.cxxflags == "-O3 -ffast-math" and c.dnn.conv.algo_fwd == "time_once"
    assert c.linker == "cvm" and c.dnn.enabled == "auto"  # unset: Theano's default
    with pytest.raises(ConfigError, match="compute_test_value='maybe' is not one of"):
        c.compute_test_value = "maybe"  # minigraph's own flags keep their validation


def test_unknown_flags_are_stored_with_one_warning(monkeypatch):
    c = _fresh(monkeypatch)
    with pytest.warns(UserWarning, match="no flag 'colour'.*stored") as record:
        c.colour = "red"
        c.colour = "blue"
    assert len([w for w in record if "colour" in str(w.message)]) == 1
    assert c.colour == "blue"
    with pytest.raises(AttributeError, match="no flag 'warn.never_set'"):
        c.warn.never_set
    with pytest.raises(AttributeError, match="no flag 'shade'"):
        c.shade


def test_theano_flags_environment_takes_any_name_typed_like_theano(monkeypatch):
    flags = ("warn.subtensor_merge_bug=False,exception_verbosity=high,lib.cnmem=0.8,"
             "openmp=True,gcc.cxxflags=-O3,mine.depth=2,bogus=1")
    with pytest.warns(UserWarning) as record:
        c = _fresh(monkeypatch, theano_flags=flags)
    assert sorted(str(w.message).split("'")[1] for w in record) == ["bogus", "mine.depth"]
    assert c.warn.subtensor_merge_bug is False and c.lib.cnmem == 0.8 and c.openmp is True
    assert c.exception_verbosity == "high" and c.gcc.cxxflags == "-O3"
    assert c.mine.depth == "2" and c.bogus == "1"  # unknown: kept as text


def test_change_flags_restores(monkeypatch):
    c = _fresh(monkeypatch)
    with c.change_flags(floatX="float32", exception_verbosity="high"):
        assert c.floatX == "float32" and c.exception_verbosity == "high"
    assert c.floatX == "float64" and c.exception_verbosity == "low"


def test_theano_spellings_of_device_and_mode(monkeypatch):
    c = _fresh(monkeypatch, theano_flags="mode=DebugMode,device=gpu1")
    assert (c.mode, c.device) == ("DEBUG", "cuda")
    c.mode, c.device = "Mode", "cuda0"
    assert (c.mode, c.device) == ("FAST_RUN", "cuda")
    with pytest.raises(ConfigError, match="mode='SLOW' is not one of"):
        c.mode = "SLOW"
