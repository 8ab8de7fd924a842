"""Tests of minigraph.config: defaults, THEANO_FLAGS / MINIGRAPH_FLAGS, run-time changes."""

import os
import subprocess
import sys

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
    with pytest.raises(ConfigError, match="no flag 'colour'"):
        config.colour = "red"
    with pytest.raises(AttributeError, match="no flag 'colour'"):
        config.colour


def test_flags_reach_a_new_interpreter():
    env = dict(os.environ, MINIGRAPH_FLAGS="floatX=float32")
    code = "import minigraph.tensor as T; print(T.matrix().dtype)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "float32"
