"""Fused-kernel code generation and caches: the Numba side of :mod:`.fusion`.

:mod:`.fusion` decides *what* runs as one loop (the pass, ``Program``, ``FusedElemwise``);
this module decides *how* a program becomes machine code, and keeps it:

* ``kernel_source``: Python source for a program's loops, from the scalar table's code
  templates (``_CODE`` overrides where the table's Python form differs from NumPy's); a
  program calling vecmath runs two element streams per iteration (``_flat_loop``);
* the in-process cache (``_KERNELS``: one ``_Kernel`` per program and rank, shared by every
  node running it) and the compile policy (``POLICY``: a kernel compiles once hot, by
  element-operations or by calls, in a background thread while the NumPy composite serves);
* the on-disk cache (``cache_dir``): the source is written once and compiled with
  ``njit(cache=True)``, so a later process loads it instead of compiling;
* ``run_split``: a large call's 1-d loop run on slices by a pool of threads (the loops are
  ``nogil``), as many as ``numba.get_num_threads()``.

The transcendental functions are calls of ``kernels/vecmath.py``'s functions, compiled
``forceinline``: LLVM inlines them and vectorises the loop, while Numba types one call per
op (pasting their statements into the loop made Numba's typing and lowering most of the
compile time). A 50-op chain with 18 of them compiles in 0.7 s of CPU, 1.1 s as the
process's first Numba compile (pasted: 1.8 s, and 3.0 s as the first; 2.9 s against 6.8 s
of wall time on the loaded 2-core machine), and loads from the disk cache in 0.01 s; hot
kernels still compile in the background.
They live apart from the pass because none of this touches a graph: the only input is a
``Program``. Numba itself is imported only when a kernel first compiles.
"""

import atexit
import hashlib
import importlib.util
import os
import threading
import warnings

import numpy as np


class FusionPolicy:
    """When fused kernels run in Numba, how, and how big a group may grow (``fusion.POLICY``).

    Parameters
    ----------
    numba : bool
        False runs every fused node with NumPy (the composite).
    compile_after : float
        Element-operations (elements x ops per call, summed over calls and over every node
        with the same program) a kernel runs in NumPy before it is compiled; 0 compiles on
        the first call. The default, 1e8, is about 0.1 s of NumPy work: the order of a
        fresh compile, so one-off graphs never compile and hot training steps soon do.
    compile_after_calls : int
        Calls after which a kernel is compiled whatever its size: a kernel on small arrays
        called thousands of times a second spends its time in NumPy's per-call overhead.
    background : bool
        A kernel made hot by either count (not by ``compile_after=0``) compiles in a
        background thread while the NumPy composite keeps serving its calls; False compiles
        at the call that made it hot (deterministic: the tests' switch).
    parallel_min_elements : int
        Outputs at least this large run the threaded loop (chunks split across
        ``numba.get_num_threads()`` threads) when Numba has more than one thread.
    max_inputs, max_outputs : int
        Group limits.
    """

    def __init__(self, numba=True, compile_after=1e8, compile_after_calls=1000,
                 background=True, parallel_min_elements=1 << 16, max_inputs=32,
                 max_outputs=8):
        self.numba, self.compile_after = numba, compile_after
        self.compile_after_calls, self.background = compile_after_calls, background
        self.parallel_min_elements = parallel_min_elements
        self.max_inputs, self.max_outputs = max_inputs, max_outputs


POLICY = FusionPolicy()


# ---- generated source -------------------------------------------------------------------

# templates where the table's Python form differs from NumPy (NaN in max/min/sign, floor
# returning an int, xor of non-bools); everything else comes from the table as written
_CODE = {"maximum": "np.maximum({0}, {1})", "minimum": "np.minimum({0}, {1})",
         "clip": "np.minimum(np.maximum({0}, {1}), {2})", "sgn": "np.sign({0})",
         "floor": "np.floor({0})", "ceil": "np.ceil({0})", "round": "np.round({0})",
         "xor": "(bool({0}) != bool({1}))"}
# the transcendental functions are calls of kernels/vecmath.py's forceinline functions
# (arithmetic only, so the loop vectorises; a few ulps, exact at 0, +-inf, NaN and
# saturation): Numba's math.exp / tanh are scalar libm calls, ~10x slower per element
VECMATH = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid", "softplus")
_FLOATS = ("float32", "float64")
# templates that map floats of one dtype to that dtype in Numba: no cast around them (each
# cast is one more call for Numba to type: a tenth of a 50-op kernel's compile time)
_FLOAT_CLOSED = {"add", "sub", "mul", "true_div", "neg", "sqr"}


def _vecmath_prelude(program):
    """Module-level lines naming the vecmath functions that the loops call."""
    from kernels import vecmath

    dtypes = sorted({dt for op, _, dt in program.steps if op.name in VECMATH and dt in _FLOATS})
    if not dtypes:
        return []
    lines = [f"# kernels/vecmath.py (llvm_ops, fastexp) sha1 {_vecmath_stamp()}"]
    for dt in dtypes:
        lines += [line for line in vecmath.prelude(dt) if line not in lines]
    return lines


def _cast(dtype):
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


def _body(program, indent, suffix=""):
    """(lines, output names) of one element's computation: ``t{s}`` from the ``v{i}`` (each
    name ending in ``suffix``: the second stream of :func:`_flat_loop` is ``_1``)."""
    n_in, lines = len(program.in_types), []
    names = [f"v{i}{suffix}" for i in range(n_in)] + [
        f"t{s}{suffix}" for s in range(len(program.steps))]
    dtypes = [d for d, _ in program.in_types] + [d for _, _, d in program.steps]
    for s, (op, refs, dtype) in enumerate(program.steps):
        code = _CODE.get((op.name, dtype)) or _CODE.get(op.name, op.code)
        args = [names[i] for i in refs]
        if op.dtype_rule in ("upcast", "float"):  # compute in the result dtype, as NumPy
            # does (an unsigned -x would wrap; int8 exp would be float16 in NumPy itself)
            args = [a if dtypes[i] == dtype else f"{_cast(dtype)}({a})"
                    for a, i in zip(args, refs)]
        if op.name in VECMATH and dtype in _FLOATS:  # one call, inlined by LLVM
            from kernels import vecmath

            lines += [indent + line for line in
                      vecmath.source(op.name, dtype, args[0], names[n_in + s])]
            continue
        expr = code.format(*args)
        if dtype in _FLOATS and op.name in _FLOAT_CLOSED and (
                op.dtype_rule in ("upcast", "float") or all(dtypes[i] == dtype for i in refs)):
            lines.append(f"{indent}{names[n_in + s]} = {expr}")  # already in dtype
            continue
        # float literals in templates are float64 in Numba (and int32 + int32 is int64):
        # round each step to its dtype
        lines.append(f"{indent}{names[n_in + s]} = {_cast(dtype)}({expr})")
    return lines, [names[i] for i in program.outputs]


def flat_ok(program):
    """True when no input is partly broadcast: contiguous inputs then run as 1-d loops."""
    return all(all(b) or not any(b) for _, b in program.in_types)


def kernel_source(program, ndim, inplace=None):
    """Python source of the loops for ``program`` on ``ndim``-d outputs: ``flat`` (1-d
    contiguous arrays, scalars by value) and ``nd`` (broadcast dims indexed at 0).

    With ``inplace=k`` (an input with the output's shape), the first output is input ``k``
    itself: the loops take no ``o0`` and store into ``x{k}`` at the element they read. One
    parameter, not two that happen to share memory, so LLVM has no alias to check at run
    time and the loop vectorises (with ``o0 is x{k}`` its check failed and the scalar
    loop ran, ~10x slower).
    """
    n_in, n_out = len(program.in_types), len(program.outputs)
    scalar = [all(b) for _, b in program.in_types]
    if inplace is not None and scalar[inplace]:
        raise ValueError(f"input {inplace} is broadcast in every dimension: no output "
                         f"can be written into it")
    dst = "o0" if inplace is None else f"x{inplace}"
    args = ", ".join([f"x{i}" for i in range(n_in)] +
                     [f"o{k}" for k in range(0 if inplace is None else 1, n_out)])
    src = [f"# minigraph fused kernel: {','.join(program.names())}; inputs "
           f"{[f'{d}{list(b)}' for d, b in program.in_types]}; ndim {ndim}" +
           ("" if inplace is None else f"; output 0 into input {inplace}"),
           "import math", "import numpy as np"]
    src += _vecmath_prelude(program)
    if flat_ok(program):
        src += ["", "", f"def flat({args}):"] + _flat_loop(program, dst)
    if ndim:
        idx = [f"i{d}" for d in range(ndim)]
        src += ["", "", f"def nd({args}):", f"    {', '.join(f'n{d}' for d in range(ndim))}, "
                f"= {dst}.shape"]
        src += [f"    {'    ' * d}for i{d} in range(n{d}):" for d in range(ndim)]
        pad = " " * (4 * ndim + 4)
        for i, (_, bcast) in enumerate(program.in_types):
            at = ", ".join("0" if b else idx[d] for d, b in enumerate(bcast))
            src.append(f"{pad}v{i} = x{i}" + ("" if scalar[i] else f"[{at}]"))
        body, outs = _body(program, pad)
        src += body + [f"{pad}{dst if k == 0 else f'o{k}'}[{', '.join(idx)}] = {o}"
                       for k, o in enumerate(outs)]
    return "\n".join(src) + "\n"


def _flat_loop(program, dst):
    """The body of ``flat``: one loop over the elements, or, for a program calling vecmath,
    two streams (elements ``i`` and ``i + n // 2``) interleaved statement by statement.

    Each element's values form one dependency chain (a 50-op chain of tanh, sigmoid and
    exp is ~90 cycles of latency per tanh), longer than the CPU's out-of-order window can
    cover, so the loop ran at the chain's latency with the FMA units half idle; a second,
    independent vector in the same iteration fills them (the 50-op chain of
    benchmarks/activation_chain.py: 7.8 -> 5.8 ns per element; a third stream gains 4% more
    for half as much compile time again). Each stream reads and writes only its own
    elements, so the in-place variant stays alias-free.
    """
    n_in = len(program.in_types)
    scalar = [all(b) for _, b in program.in_types]
    dsts = [dst] + [f"o{k}" for k in range(1, len(program.outputs))]

    def element(i, suffix, pad):
        body, outs = _body(program, pad, suffix)
        loads = [f"{pad}v{k}{suffix} = x{k}" + ("" if scalar[k] else f"[{i}]")
                 for k in range(n_in)]
        return loads, body, [f"{pad}{d}[{i}] = {o}" for d, o in zip(dsts, outs)]

    pad = " " * 8
    if not any(op.name in VECMATH for op, _, _ in program.steps):
        return [f"    for i in range({dst}.shape[0]):"] + sum(element("i", "", pad), [])
    one, two = element("i", "", pad), element("j", "_1", pad)
    src = [f"    m = {dst}.shape[0] // 2", "    for i in range(m):", f"{pad}j = i + m"]
    for a, b in zip(one, two):
        src += [line for pair in zip(a, b) for line in pair]
    # the odd last element, with names of its own: Numba's SSA pass is slow on a name
    # defined in two loops (a tenth of the compile time of the 50-op chain)
    tail = sum(element("i", "_2", pad), [])
    return src + [f"    for i in range(2 * m, {dst}.shape[0]):"] + tail


def _vecmath_stamp():
    """A digest of kernels/vecmath.py and the modules it builds on: Numba's cache cannot
    see a change in a callee, so the generated source (and so its file name) names the
    version it was built against."""
    if not hasattr(_vecmath_stamp, "value"):
        digest = hashlib.sha1()
        for name in ("kernels.vecmath", "kernels.llvm_ops", "kernels.fastexp"):
            with open(importlib.util.find_spec(name).origin, "rb") as f:
                digest.update(f.read())
        _vecmath_stamp.value = digest.hexdigest()[:12]
    return _vecmath_stamp.value


# ---- caches: in-process (one _Kernel per program and rank) and on disk -------------------


def cache_dir():
    """Where generated kernels are kept: ``$MINIGRAPH_CACHE_DIR`` or ~/.cache/minigraph."""
    root = os.environ.get("MINIGRAPH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "minigraph")
    return os.path.join(root, "fusion")


class _Kernel:
    """One compiled kernel, shared by every node with the same program, rank and
    ``inplace`` (None, or the input the first output is written into: a variant of its
    own, see :func:`kernel_source`).

    ``funcs`` is None until the loops are ready, then ``(flat, nd)``; a
    background compile sets it from its thread once the loops are compiled (one attribute
    store, so a call sees either None or every loop).
    """

    def __init__(self, program, ndim, inplace=None):
        self.program, self.ndim, self.inplace = program, ndim, inplace
        self.work, self.calls, self.failed, self.funcs = 0.0, 0, False, None
        self.pending = None  # the background thread while one compiles

    def hot(self, n_elements, load=None):
        """True when the Numba loops should run (compiling them now if needed).

        ``load`` (source -> the jitted loops) defaults to :func:`_load`; :mod:`.fusion`'s
        runner passes its own module's ``_load``, read at call time, so a replacement put
        there (tests simulate a broken Numba that way) is the one used.
        """
        if self.funcs is not None:
            return POLICY.numba
        if not POLICY.numba or self.failed or self.pending is not None:
            return False
        self.calls += 1
        self.work += n_elements * len(self.program.steps)
        if self.work < POLICY.compile_after and self.calls < POLICY.compile_after_calls:
            return False
        if POLICY.background and POLICY.compile_after > 0:
            self.pending = threading.Thread(target=self._build, args=(load or _load, True),
                                            name=f"minigraph-compile {self.program}",
                                            daemon=True)
            _BACKGROUND.append(self.pending)
            self.pending.start()
            return False
        self._build(load or _load, False)
        return self.funcs is not None

    def _build(self, load, warm):
        """Load the loops; ``warm`` also compiles them here (on tiny arrays of the right
        types) so that the first call after they are published does not compile."""
        try:
            funcs = load(kernel_source(self.program, self.ndim, self.inplace))
            if warm:
                self._warm(funcs)
            self.funcs = funcs
        except Exception as e:  # no Numba, unwritable cache...: NumPy still gives the answer
            self.fail(e)
        finally:
            self.pending = None

    def _warm(self, funcs):
        prog, ndim = self.program, self.ndim
        shape = (1,) if flat_ok(prog) else (1,) * ndim
        ins = [np.ones((), d)[()] if all(b) else np.ones(shape, d) for d, b in prog.in_types]
        outs = [np.empty(shape, d) for d in prog.out_dtypes()]
        if self.inplace is not None:
            del outs[0]  # written into ins[self.inplace]
        funcs[0 if flat_ok(prog) else 1](*ins, *outs)

    def fail(self, error):
        self.failed, self.funcs = True, None
        warnings.warn(f"fused kernel {self.program}: Numba failed ({type(error).__name__}: "
                      f"{error}); running it with NumPy", RuntimeWarning, stacklevel=3)


_BACKGROUND = []  # compile threads started, joined at exit (Numba must not die mid-compile)


@atexit.register
def wait_for_compiles(timeout=None):
    """Wait until the background compiles started so far are done (all, or ``timeout`` s).

    Examples
    --------
    >>> wait_for_compiles()
    """
    while _BACKGROUND:
        _BACKGROUND.pop().join(timeout)


_KERNELS = {}


def _kernel(program, ndim, inplace=None):
    key = (program, ndim, inplace)
    if key not in _KERNELS:
        _KERNELS[key] = _Kernel(program, ndim, inplace)
    return _KERNELS[key]


def parallel_threads(n_elements):
    """Numba's thread count if an ``n_elements`` output should be split across threads,
    else 0 (small outputs, or one thread)."""
    if n_elements < POLICY.parallel_min_elements:
        return 0
    import numba

    threads = numba.get_num_threads()
    return threads if threads > 1 else 0


_POOL = []  # the thread pool running slices of large calls, made on first use


def run_split(fn, args, arrays, n, threads):
    """Run the 1-d loop ``fn`` on ``threads`` slices of ``n`` elements at once: the loops
    are compiled ``nogil``, so plain threads run them in parallel with no second compile.
    ``arrays`` are the positions in ``args`` of the 1-d arrays (inputs and outputs)."""
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(thread_name_prefix="minigraph-fused"))
    step = (-(-n // threads) + 63) // 64 * 64  # cache-line multiples: no false sharing
    jobs = []
    for lo in range(0, n, step):
        part = list(args)
        for i in arrays:
            part[i] = args[i][lo:lo + step]
        jobs.append(part)
    futures = [_POOL[0].submit(fn, *part) for part in jobs[1:]]
    fn(*jobs[0])  # the calling thread does its share
    for f in futures:
        f.result()


def _load(source):
    """Import the generated module from the disk cache (writing it once) and jit its loops."""
    import numba  # on first use, as everywhere in minigraph (kernels first)

    from minigraph.codegen.cache import import_source  # cycle: codegen reads tensor ops

    module, cache = import_source(source, "minigraph_fused", cache_dir())
    jit = numba.njit(error_model="numpy", cache=cache, nogil=True)
    return tuple(jit(getattr(module, f)) if hasattr(module, f) else None
                 for f in ("flat", "nd"))


def kernel_cache_info():
    """What the kernel caches of this process hold.

    Returns
    -------
    dict
        ``kernels`` (programs seen), ``compiled`` (in Numba), ``compiling`` (in a
        background thread now), ``failed`` (fell back to NumPy), and Numba's on-disk
        ``disk_hits`` / ``disk_misses`` (loops loaded vs compiled fresh).

    Examples
    --------
    >>> sorted(kernel_cache_info())
    ['compiled', 'compiling', 'disk_hits', 'disk_misses', 'failed', 'kernels']
    """
    info = dict(kernels=len(_KERNELS), compiled=0, compiling=0, failed=0, disk_hits=0,
                disk_misses=0)
    for k in list(_KERNELS.values()):
        info["failed"] += k.failed
        info["compiling"] += k.pending is not None
        if k.funcs is not None:
            info["compiled"] += 1
            for f in k.funcs:
                if f is not None:
                    info["disk_hits"] += sum(f.stats.cache_hits.values())
                    info["disk_misses"] += sum(f.stats.cache_misses.values())
    return info
