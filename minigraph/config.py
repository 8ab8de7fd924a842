"""Run-time configuration: ``floatX``, ``device``, ``mode`` and friends.

Values come from, in increasing priority: the defaults below, ``THEANO_FLAGS`` (so ported code
keeps working), ``MINIGRAPH_FLAGS``, and assignments at run time (``config.floatX = 'float32'``).
Flags are comma-separated ``name=value`` pairs: ``MINIGRAPH_FLAGS="floatX=float32,device=cpu"``.
"""

import os

import kernels

kernels.quiet_idle_threads()  # idle Numba workers must not spin against BLAS

_CHOICES = {
    "floatX": ("float64", "float32", "float16"),
    "device": ("cpu", "cuda", "auto"),
    "mode": ("FAST_RUN", "FAST_COMPILE", "DEBUG"),
    "compute_test_value": ("off", "ignore", "warn", "raise"),
}
_DEFAULTS = {
    "floatX": "float64",
    "device": "cpu",
    "mode": "FAST_RUN",
    "compute_test_value": "off",
    "optimizer_excluding": "",  # pass or rewrite names, ':'-separated, left out of config.mode
}


class ConfigError(ValueError):
    """An unknown flag or a value outside a flag's choices."""


class Config:
    """Attribute-style access to the flags; assignment validates the value."""

    def __init__(self):
        object.__setattr__(self, "_values", dict(_DEFAULTS))
        for env in ("THEANO_FLAGS", "MINIGRAPH_FLAGS"):
            self._apply_flags(os.environ.get(env, ""), env, ignore_unknown=env == "THEANO_FLAGS")

    def _apply_flags(self, text, source, ignore_unknown=False):
        for item in filter(None, (s.strip() for s in text.split(","))):
            if "=" not in item:
                raise ConfigError(f"{source}: expected name=value, got {item!r}")
            name, value = (s.strip() for s in item.split("=", 1))
            if name not in _DEFAULTS:
                if ignore_unknown:
                    continue  # Theano had hundreds of flags; ported code may set any of them
                raise ConfigError(f"{source}: unknown flag {name!r}; known: {sorted(_DEFAULTS)}")
            if name == "device" and value.startswith("gpu"):
                value = "cuda"  # Theano spelled it device=gpu / gpu0
            if name == "device" and value.startswith("cuda"):
                value = "cuda"
            self._set(name, value, source)

    def _set(self, name, value, source="config"):
        choices = _CHOICES.get(name)
        if choices is not None and value not in choices:
            raise ConfigError(f"{source}: {name}={value!r} is not one of {choices}")
        self._values[name] = value

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"minigraph.config has no flag {name!r}") from None

    def __setattr__(self, name, value):
        if name not in _DEFAULTS:
            raise ConfigError(f"minigraph.config has no flag {name!r}; known: {sorted(_DEFAULTS)}")
        self._set(name, value)

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


config = Config()
