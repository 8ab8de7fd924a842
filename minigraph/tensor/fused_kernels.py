"""Fused-kernel code generation and caches: the Numba side of :mod:`.fusion`.

:mod:`.fusion` decides *what* runs as one loop (the pass, ``Program``, ``FusedElemwise``);
this module decides *how* a program becomes machine code, and keeps it:

* ``kernel_source``: Python source for a program's loops, from the scalar table's code
  templates (``_CODE`` overrides where the table's Python form differs from NumPy's);
* the in-process cache (``_KERNELS``: one ``_Kernel`` per program and rank, shared by every
  node running it) and the compile policy (``POLICY``: a kernel compiles once hot);
* the on-disk cache (``cache_dir``): the source is written once and compiled with
  ``njit(cache=True)``, so a later process loads it instead of compiling.

They live apart from the pass because none of this touches a graph: the only input is a
``Program``. Numba itself is imported only when a kernel first compiles.
"""

import hashlib
import importlib.util
import os
import sys
import warnings


class FusionPolicy:
    """When fused kernels run in Numba, and how big a group may grow (``fusion.POLICY``).

    Parameters
    ----------
    numba : bool
        False runs every fused node with NumPy (the composite).
    compile_after : float
        Element-operations (elements x ops per call, summed over calls and over every node
        with the same program) a kernel runs in NumPy before it is compiled; 0 compiles on
        the first call. The default, 1e8, is about 0.1 s of NumPy work: the order of a
        fresh compile, so one-off graphs never compile and hot training steps soon do.
    max_inputs, max_outputs : int
        Group limits.
    """

    def __init__(self, numba=True, compile_after=1e8, max_inputs=32, max_outputs=8):
        self.numba, self.compile_after = numba, compile_after
        self.max_inputs, self.max_outputs = max_inputs, max_outputs


POLICY = FusionPolicy()


# ---- generated source -------------------------------------------------------------------

# templates where the table's Python form differs from NumPy (NaN in max/min/sign, floor
# returning an int, xor of non-bools); everything else comes from the table as written
_CODE = {"maximum": "np.maximum({0}, {1})", "minimum": "np.minimum({0}, {1})",
         "clip": "np.minimum(np.maximum({0}, {1}), {2})", "sgn": "np.sign({0})",
         "floor": "np.floor({0})", "ceil": "np.ceil({0})", "round": "np.round({0})",
         "xor": "(bool({0}) != bool({1}))"}
# exp through kernels.fastexp (arithmetic only, so the loop vectorises; ~1 ulp): libm's
# scalar expf made exp 10x slower per element than the rest of a typical fused loop
for _dt, _b in (("float32", "32"), ("float64", "64")):
    _CODE["exp", _dt] = f"_exp{_b}(np.{_dt}({{0}}))"
    _CODE["sigmoid", _dt] = f"(np.{_dt}(1.0) / (np.{_dt}(1.0) + _exp{_b}(-np.{_dt}({{0}}))))"
_EXP_PRELUDE = '''
from numba import njit
from kernels.fastexp import fast_exp32, fast_exp64


def _make_exp(fast, dtype, limit):
    # fast is exact on [-limit, limit] and clamps beyond; shifting by 64 and scaling by
    # e^+-64 extends it to where the true exp overflows to inf or underflows to 0
    lim, shift, one = dtype(limit), dtype(64.0), dtype(1.0)
    up, down = dtype(math.exp(64.0)), dtype(math.exp(-64.0))

    @njit(inline="always", error_model="numpy")
    def exp(x):
        hi, lo = x > lim, x < -lim
        s = shift if hi else (-shift if lo else dtype(0.0))
        return fast(x - s) * (up if hi else (down if lo else one))

    return exp


_exp32 = _make_exp(fast_exp32, np.float32, 80.0)
_exp64 = _make_exp(fast_exp64, np.float64, 700.0)
'''


def _cast(dtype):
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


def _body(program, indent):
    n_in, lines = len(program.in_types), []
    names = [f"v{i}" for i in range(n_in)] + [f"t{s}" for s in range(len(program.steps))]
    dtypes = [d for d, _ in program.in_types] + [d for _, _, d in program.steps]
    for s, (op, refs, dtype) in enumerate(program.steps):
        code = _CODE.get((op.name, dtype)) or _CODE.get(op.name, op.code)
        args = [names[i] for i in refs]
        if op.dtype_rule in ("upcast", "float"):  # compute in the result dtype, as NumPy
            # does (an unsigned -x would wrap; int8 exp would be float16 in NumPy itself)
            args = [a if dtypes[i] == dtype else f"{_cast(dtype)}({a})"
                    for a, i in zip(args, refs)]
        expr = code.format(*args)
        # float literals in templates are float64 in Numba: round each step to its dtype
        lines.append(f"{indent}t{s} = {_cast(dtype)}({expr})")
    return lines, [names[i] for i in program.outputs]


def kernel_source(program, ndim):
    """Python source of the loops for ``program`` on ``ndim``-d outputs: ``flat`` (1-d
    contiguous arrays, scalars by value) and ``nd`` (broadcast dims indexed at 0)."""
    n_in = len(program.in_types)
    scalar = [all(b) for _, b in program.in_types]
    args = ", ".join([f"x{i}" for i in range(n_in)] +
                     [f"o{k}" for k in range(len(program.outputs))])
    src = [f"# minigraph fused kernel: {','.join(program.names())}; inputs "
           f"{[f'{d}{list(b)}' for d, b in program.in_types]}; ndim {ndim}",
           "import math", "import numpy as np"]
    if any((op.name, dt) in _CODE for op, _, dt in program.steps):
        src += [f"# kernels/fastexp.py sha1 {_fastexp_stamp()}", _EXP_PRELUDE]
    if all(s or not any(b) for s, (_, b) in zip(scalar, program.in_types)):
        src += ["", "", f"def flat({args}):", "    for i in range(o0.shape[0]):"]
        src += [f"        v{i} = x{i}" + ("" if scalar[i] else "[i]") for i in range(n_in)]
        body, outs = _body(program, " " * 8)
        src += body + [f"        o{k}[i] = {o}" for k, o in enumerate(outs)]
    if ndim:
        idx = [f"i{d}" for d in range(ndim)]
        src += ["", "", f"def nd({args}):", f"    {', '.join(f'n{d}' for d in range(ndim))}, "
                f"= o0.shape"]
        src += [f"    {'    ' * d}for i{d} in range(n{d}):" for d in range(ndim)]
        pad = " " * (4 * ndim + 4)
        for i, (_, bcast) in enumerate(program.in_types):
            at = ", ".join("0" if b else idx[d] for d, b in enumerate(bcast))
            src.append(f"{pad}v{i} = x{i}" + ("" if scalar[i] else f"[{at}]"))
        body, outs = _body(program, pad)
        src += body + [f"{pad}o{k}[{', '.join(idx)}] = {o}" for k, o in enumerate(outs)]
    return "\n".join(src) + "\n"


def _fastexp_stamp():
    """A digest of kernels/fastexp.py: Numba's cache cannot see a change in a callee, so
    the generated source (and so its file name) names the version it was built against."""
    if not hasattr(_fastexp_stamp, "value"):
        with open(importlib.util.find_spec("kernels.fastexp").origin, "rb") as f:
            _fastexp_stamp.value = hashlib.sha1(f.read()).hexdigest()[:12]
    return _fastexp_stamp.value


# ---- caches: in-process (one _Kernel per program and rank) and on disk -------------------


def cache_dir():
    """Where generated kernels are kept: ``$MINIGRAPH_CACHE_DIR`` or ~/.cache/minigraph."""
    root = os.environ.get("MINIGRAPH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "minigraph")
    return os.path.join(root, "fusion")


class _Kernel:
    """One compiled kernel, shared by every node with the same program and rank."""

    def __init__(self, program, ndim):
        self.program, self.ndim = program, ndim
        self.work, self.failed, self.funcs = 0.0, False, None

    def hot(self, n_elements, load=None):
        """True when the Numba loops should run (compiling them now if needed).

        ``load`` (source -> the jitted ``flat``, ``nd`` loops) defaults to :func:`_load`;
        :mod:`.fusion`'s runner passes its own module's ``_load``, read at call time, so a
        replacement put there (tests simulate a broken Numba that way) is the one used.
        """
        if not POLICY.numba:
            return False
        if self.funcs is not None:
            return True
        if self.failed:
            return False
        self.work += n_elements * len(self.program.steps)
        if self.work < POLICY.compile_after:
            return False
        try:
            self.funcs = (load or _load)(kernel_source(self.program, self.ndim))
        except Exception as e:  # no Numba, unwritable cache...: NumPy still gives the answer
            self.fail(e)
        return self.funcs is not None

    def fail(self, error):
        self.failed, self.funcs = True, None
        warnings.warn(f"fused kernel {self.program}: Numba failed ({type(error).__name__}: "
                      f"{error}); running it with NumPy", RuntimeWarning, stacklevel=3)


_KERNELS = {}


def _kernel(program, ndim):
    key = (program, ndim)
    if key not in _KERNELS:
        _KERNELS[key] = _Kernel(program, ndim)
    return _KERNELS[key]


def _load(source):
    """Import the generated module from the disk cache (writing it once) and jit its loops."""
    import numba  # on first use, as everywhere in minigraph (kernels first)

    digest = hashlib.sha1(source.encode()).hexdigest()[:20]
    name = f"minigraph_fused_{digest}"
    path = os.path.join(cache_dir(), name + ".py")
    try:
        if not os.path.exists(path) or _read(path) != source:  # absent, or not ours
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(source)
            os.replace(tmp, path)  # atomic: a concurrent process sees all of it or nothing
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
        cache = True
    except OSError:  # read-only home: compile from memory, without Numba's disk cache
        module = type(sys)(name)
        exec(compile(source, f"<{name}>", "exec"), module.__dict__)
        cache = False
    jit = numba.njit(error_model="numpy", cache=cache, nogil=True)
    return tuple(jit(getattr(module, f)) if hasattr(module, f) else None
                 for f in ("flat", "nd"))


def _read(path):
    with open(path) as f:
        return f.read()


def kernel_cache_info():
    """What the kernel caches of this process hold.

    Returns
    -------
    dict
        ``kernels`` (programs seen), ``compiled`` (in Numba), ``failed`` (fell back to
        NumPy), and Numba's on-disk ``disk_hits`` / ``disk_misses`` (loops loaded vs
        compiled fresh).

    Examples
    --------
    >>> sorted(kernel_cache_info())
    ['compiled', 'disk_hits', 'disk_misses', 'failed', 'kernels']
    """
    info = dict(kernels=len(_KERNELS), compiled=0, failed=0, disk_hits=0, disk_misses=0)
    for k in _KERNELS.values():
        info["failed"] += k.failed
        if k.funcs is not None:
            info["compiled"] += 1
            for f in k.funcs:
                if f is not None:
                    info["disk_hits"] += sum(f.stats.cache_hits.values())
                    info["disk_misses"] += sum(f.stats.cache_misses.values())
    return info
