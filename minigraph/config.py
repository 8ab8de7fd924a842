"""Run-time configuration: ``floatX``, ``device``, ``mode`` and friends.

Values come from, in increasing priority: the defaults below, ``THEANO_FLAGS`` (so ported code
keeps working), ``MINIGRAPH_FLAGS``, and assignments at run time (``config.floatX = 'float32'``).
Flags are comma-separated ``name=value`` pairs: ``MINIGRAPH_FLAGS="floatX=float32,device=cpu"``.

minigraph's own flags (``_DEFAULTS``) are validated. Theano had hundreds more, in sections
(``config.warn.subtensor_merge_bug``, ``config.gcc.cxxflags``); ported programs set them, so
they are accepted and stored: the Theano flags that mean nothing here (``_THEANO_DEFAULTS``)
silently, names nobody knows with a one-time warning. Only ``MINIGRAPH_FLAGS``, minigraph's
own variable, rejects unknown names, since a typo there is a mistake worth stopping for.
"""

import contextlib
import os
import warnings

import kernels

kernels.quiet_idle_threads()  # idle Numba workers must not spin against BLAS

_CHOICES = {
    "floatX": ("float64", "float32", "float16"),
    "device": ("cpu", "cuda", "auto"),
    "mode": ("FAST_RUN", "FAST_COMPILE", "DEBUG"),
    "compute_test_value": ("off", "ignore", "warn", "raise", "pdb"),
}
_DEFAULTS = {
    "floatX": "float64",
    "device": "cpu",
    "mode": "FAST_RUN",
    "compute_test_value": "off",
    "optimizer_excluding": "",  # pass or rewrite names, ':'-separated, left out of config.mode
}
# Theano flags that have no effect in minigraph (no C compiler, no cuDNN, one optimizer
# pipeline per mode), with Theano's defaults so that reading them works as it did.
_THEANO_DEFAULTS = {
    "optimizer": "fast_run", "linker": "cvm", "exception_verbosity": "low",
    "compute_test_value_opt": "off", "print_test_value": False, "on_unused_input": "raise",
    "allow_gc": True, "openmp": False, "openmp_elemwise_minsize": 200000,
    "cast_policy": "custom", "int_division": "int", "warn_float64": "ignore",
    "deterministic": "default", "optimizer_including": "",
    "optimizer_requiring": "", "optimizer_verbose": False, "on_opt_error": "warn",
    "on_shape_error": "raise", "check_input": True, "nocleanup": False, "cxx": "",
    "profile": False, "profile_memory": False, "profile_optimizer": False,
    "force_device": False, "print_active_device": True, "init_gpu_device": "",
    "reoptimize_unpickled_function": False, "assert_no_cpu_op": "ignore",
    "traceback.limit": 8, "traceback.compile_limit": 0, "warn.ignore_bug_before": "0.8",
    "gcc.cxxflags": "", "nvcc.fastmath": False, "nvcc.flags": "", "blas.ldflags": "",
    "dnn.enabled": "auto", "dnn.conv.algo_fwd": "small", "dnn.conv.algo_bwd_data": "none",
    "dnn.conv.algo_bwd_filter": "none", "lib.cnmem": 0.0, "gpuarray.preallocate": 0.0,
    "scan.allow_gc": False, "scan.allow_output_prealloc": True, "scan.debug": False,
    "tensor.cmp_sloppy": 0, "tensor.local_elemwise_fusion": True,
    "NanGuardMode.nan_is_error": True, "NanGuardMode.inf_is_error": True,
    "NanGuardMode.big_is_error": True, "NanGuardMode.action": "raise",
    "DebugMode.check_py": True, "DebugMode.check_finite": True, "cmodule.warn_no_version": False,
    "compile.wait": 5, "compile.timeout": 120, "numpy.seterr_all": "ignore", "cuda.root": "",
    "profiling.n_apply": 20, "profiling.n_ops": 20, "metaopt.verbose": 0, "lib.amdlibm": False,
}
# Theano's names for the modes: Mode (optimizer and linker from their flags), the profiling
# and debugging modes
_THEANO_MODES = {"Mode": "FAST_RUN", "ProfileMode": "FAST_RUN", "DebugMode": "DEBUG",
                 "DEBUG_MODE": "DEBUG"}
# every name in these sections is a Theano flag (``warn.*`` toggles warnings about old bugs)
_THEANO_SECTIONS = {"warn", "gcc", "nvcc", "dnn", "lib", "gpuarray", "blas", "scan", "tensor",
                    "NanGuardMode", "DebugMode", "cmodule", "compile", "numpy", "cuda",
                    "profiling", "metaopt", "traceback", "optdb", "magma", "ctc", "pycuda",
                    "gpu", "cuDNN", "conv", "dnn.conv", "compiledir"}


class ConfigError(ValueError):
    """A value outside a flag's choices, or a malformed or unknown ``MINIGRAPH_FLAGS`` item."""


class Config:
    """Attribute-style access to the flags; assignment validates minigraph's own flags."""

    def __init__(self):
        object.__setattr__(self, "_values", dict(_DEFAULTS))
        object.__setattr__(self, "_warned", set())
        for env in ("THEANO_FLAGS", "MINIGRAPH_FLAGS"):
            self._apply_flags(os.environ.get(env, ""), env, strict=env == "MINIGRAPH_FLAGS")

    def _apply_flags(self, text, source, strict=False):
        for item in filter(None, (s.strip() for s in text.split(","))):
            if "=" not in item:
                raise ConfigError(f"{source}: expected name=value, got {item!r}")
            name, value = (s.strip() for s in item.split("=", 1))
            if strict and name not in _DEFAULTS:
                raise ConfigError(f"{source}: unknown flag {name!r}; known: {sorted(_DEFAULTS)}")
            # Theano's warn.* flags are all booleans
            default = _THEANO_DEFAULTS.get(name, False if name.startswith("warn.") else None)
            self._set(name, _from_text(value, default), source)

    def _set(self, name, value, source="config"):
        if name == "device" and isinstance(value, str) and value.startswith(("gpu", "cuda")):
            value = "cuda"  # Theano spelled it device=gpu / gpu0 / cuda1
        if name == "mode":
            value = _THEANO_MODES.get(value, value)
        choices = _CHOICES.get(name)
        if choices is not None and value not in choices:
            raise ConfigError(f"{source}: {name}={value!r} is not one of {choices}")
        if name not in _DEFAULTS and not _is_theano_flag(name) and name not in self._warned:
            self._warned.add(name)
            warnings.warn(f"{source}: minigraph has no flag {name!r}; the value is stored "
                          f"(config.{name} reads it back) but changes nothing", stacklevel=3)
        self._values[name] = value

    def _get(self, name):
        if name in self._values:
            return self._values[name]
        if name in _THEANO_DEFAULTS:
            return _THEANO_DEFAULTS[name]
        if _is_section(name, self._values):
            return _Section(self, name)
        raise AttributeError(f"minigraph.config has no flag {name!r} (it was never set; "
                             f"minigraph's flags are {', '.join(sorted(_DEFAULTS))})")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._get(name)

    def __setattr__(self, name, value):
        self._set(name, value)

    @contextlib.contextmanager
    def change_flags(self, **flags):
        """Set flags inside a ``with`` block and restore them after (Theano's ``change_flags``).

        >>> from minigraph import config
        >>> with config.change_flags(floatX="float32"):
        ...     config.floatX
        'float32'
        """
        missing = object()
        old = {name: self._values.get(name, missing) for name in flags}
        try:
            for name, value in flags.items():
                self._set(name, value)
            yield self
        finally:
            for name, value in old.items():
                if value is missing:
                    self._values.pop(name, None)
                else:
                    self._values[name] = value

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


class _Section:
    """``config.warn``, ``config.gcc``...: a dotted prefix; attributes are its flags."""

    def __init__(self, config, prefix):
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._config._get(f"{self._prefix}.{name}")

    def __setattr__(self, name, value):
        self._config._set(f"{self._prefix}.{name}", value)

    def __repr__(self):
        return f"<config section {self._prefix!r}>"


def _is_theano_flag(name):
    return name in _THEANO_DEFAULTS or name.rpartition(".")[0] in _THEANO_SECTIONS


def _is_section(name, values):
    prefix = name + "."
    return name in _THEANO_SECTIONS or any(k.startswith(prefix) for k in values)


def _from_text(value, default):
    """A flag's text from an environment variable, typed like the flag's Theano default."""
    if isinstance(default, bool):
        low = value.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
    elif isinstance(default, (int, float)):
        try:
            return type(default)(value)
        except ValueError:
            pass
    return value


config = Config()
change_flags = config.change_flags
