"""A 50-op float32 activation chain (tanh, sigmoid, exp, mul, add): minigraph vs NumPy.

The target case of issue 14 ("elementwise kernels that win"), measured in one run:

* 1,000,000 elements: NumPy (one temporary per op) against the compiled minigraph function
  (one fused loop calling ``kernels/vecmath.py``) with Numba pinned to 1 and to 2 threads,
  and the fused node's NumPy composite (``POLICY.numba = False``) for reference;
* 256 elements called 10,000 times: the same, where per-call overhead dominates and the
  kernel becomes hot by its call count (``POLICY.compile_after_calls``), compiled in the
  background while the composite serves;
* the first call's compile time of the fused kernel (empty kernel cache, then warm), wall
  and CPU seconds;
* the fused loop alone on 1,000,000 elements (1 thread): into a separate buffer, into its
  dying input through the in-place variant (one parameter), and the out-of-place loop
  given that input as its output too (two aliased parameters: LLVM's alias check fails
  and the scalar loop runs).

Repeats alternate between the variants and each row is the median; the machine may be
shared, so compare ratios within one run. Run:
``python3 benchmarks/activation_chain.py [--repeat 15] [--calls 10000]``.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads OpenBLAS

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numba  # noqa: E402

import minigraph as theano  # noqa: E402
import minigraph.tensor as T  # noqa: E402
from minigraph.tensor import fusion  # noqa: E402


def chain(M, x, y):
    """50 elementwise ops, written once for NumPy and for minigraph: 6 blocks of 8 + 2."""
    h = x
    for k in range(6):
        a, b = 0.9 - 0.1 * k, -0.3 + 0.05 * k
        h = M.tanh(h * a + y) * M.sigmoid(h) + M.exp(h * b)  # mul add tanh sig mul mul exp add
    return h * 0.5 + y


class _NumpyMath:
    tanh, exp = np.tanh, np.exp

    @staticmethod
    def sigmoid(v):
        return 1 / (1 + np.exp(-v))  # 3 NumPy calls: what a NumPy user writes


class _GraphMath:
    tanh, exp, sigmoid = T.tanh, T.exp, T.sigmoid


def _time(fn, calls=1):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def _alternate(variants, repeat, calls=1):
    """Median seconds per call of each variant, repeats interleaved."""
    times = {name: [] for name in variants}
    for _ in range(repeat):
        for name, (fn, threads) in variants.items():
            numba.set_num_threads(threads)
            times[name].append(_time(fn, calls))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return {name: float(np.median(t)) for name, t in times.items()}


def _function():
    x, y = T.fvector("x"), T.fvector("y")
    f = theano.function([x, y], chain(_GraphMath, x, y))
    nodes = f.fgraph.toposort()  # ops in fused nodes and any left outside
    return f, sum(len(n.op.program.steps) if isinstance(n.op, fusion.FusedElemwise) else 1
                  for n in nodes)


def _variants(f, xv, yv, calls):
    max_threads = numba.config.NUMBA_NUM_THREADS
    v = {"numpy": (lambda: chain(_NumpyMath, xv, yv), 1)}

    def composite():
        fusion.POLICY.numba = False
        try:
            f(xv, yv)
        finally:
            fusion.POLICY.numba = True

    v["minigraph, NumPy composite"] = (composite, 1)
    v["minigraph, 1 thread"] = (lambda: f(xv, yv), 1)
    if max_threads >= 2:
        v["minigraph, 2 threads"] = (lambda: f(xv, yv), 2)
    return v


def speed_table(n, repeat, calls, f, steps):
    rng = np.random.default_rng(0)
    xv, yv = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    want = chain(_NumpyMath, xv, yv)
    assert want.dtype == np.float32 and f(xv, yv).dtype == np.float32
    calls_to_hot = 0
    while fusion.kernel_cache_info()["compiled"] == 0:  # hot by size or by call count ...
        f(xv, yv)
        calls_to_hot += 1
        if fusion.kernel_cache_info()["compiling"]:
            fusion.wait_for_compiles()  # ... compiled in the background: now the loop runs
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        np.testing.assert_allclose(f(xv, yv), want, rtol=2e-5, atol=2e-5)  # compiles variant
    t = _alternate(_variants(f, xv, yv, calls), repeat, calls)
    print(f"\n{steps}-op float32 chain, {n:,} elements, {calls:,} calls per timing, median of "
          f"{repeat} alternating repeats (NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}; "
          f"hot after {calls_to_hot} calls in NumPy; load average {os.getloadavg()[0]:.2f})")
    print(f"| {'variant':28} | {'us/call':>10} | {'ns/element':>10} | {'vs numpy':>8} |")
    print(f"|{'-' * 30}|{'-' * 12}|{'-' * 12}|{'-' * 10}|")
    for name, s in t.items():
        print(f"| {name:28} | {s * 1e6:10.1f} | {s * 1e9 / n:10.3f} | {t['numpy'] / s:7.2f}x |")


def compile_table():
    print("\nFirst call of the fused 50-op kernel (compile_after=0, synchronous): empty kernel "
          "cache (the process's first Numba compile, then again in a new cache directory), "
          "then warm (loaded from disk by a fresh kernel); cpu s is this process's CPU time")
    print(f"| {'kernel cache':23} | {'first call s':>12} | {'cpu s':>6} |")
    print(f"|{'-' * 25}|{'-' * 14}|{'-' * 8}|")
    old = os.environ.get("MINIGRAPH_CACHE_DIR")
    xv = np.ones(1000, np.float32)
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        fusion.POLICY.compile_after, fusion.POLICY.background = 0, False
        try:
            for label, cache in (("empty, first in process", first), ("empty", second),
                                 ("warm", second)):
                os.environ["MINIGRAPH_CACHE_DIR"] = cache
                fusion._KERNELS.clear()
                f, _ = _function()
                cpu = time.process_time()
                wall = _time(lambda: f(xv, xv))
                print(f"| {label:23} | {wall:12.3f} | {time.process_time() - cpu:6.2f} |")
        finally:
            fusion.POLICY.compile_after, fusion.POLICY.background = 1e8, True
            if old is None:
                os.environ.pop("MINIGRAPH_CACHE_DIR")
            else:
                os.environ["MINIGRAPH_CACHE_DIR"] = old


def inplace_table(n, repeat, f):
    """The fused loop alone: out of place, the in-place variant, and aliased parameters."""
    (node,) = [v for v in f.fgraph.toposort() if isinstance(v.op, fusion.FusedElemwise)]
    prog, k = node.op.program, node.op.inplace
    if k is None:  # x is a function input, never overwritten: its copy stands in for it
        k = [i for i, (_, b) in enumerate(prog.in_types) if not all(b)][0]
    rng = np.random.default_rng(0)
    arrays = {}
    args = [v.data.reshape(-1)[0] if hasattr(v, "data") else
            arrays.setdefault(v, rng.standard_normal(n).astype(np.float32))
            for v in node.inputs]
    flat = fusion._load(fusion.kernel_source(prog, 1))[0]
    flat_ip = fusion._load(fusion.kernel_source(prog, 1, k))[0]
    out, dst, src = np.empty(n, np.float32), np.empty(n, np.float32), args[k]

    def into(o):
        o[:] = src  # every variant copies once: the same memory traffic before the loop
        part = list(args)
        part[k] = o
        return part

    variants = {"into a buffer": (lambda: flat(*into(dst)[:k], src, *args[k + 1:], out), 1),
                "in place (variant)": (lambda: flat_ip(*into(dst)), 1),
                "out-of-place, o0 is input": (lambda: flat(*into(dst), dst), 1)}
    flat_ip(*into(dst))
    flat(*args, out)
    np.testing.assert_array_equal(dst, out)
    t = _alternate(variants, repeat)
    print(f"\nThe fused loop alone, float32, {n:,} elements, 1 thread, median of {repeat} "
          f"alternating repeats (each call first copies the input into its destination)")
    print(f"| {'variant':28} | {'ms/call':>10} | {'vs buffer':>9} |")
    print(f"|{'-' * 30}|{'-' * 12}|{'-' * 11}|")
    for name, s in t.items():
        print(f"| {name:28} | {s * 1e3:10.2f} | {t['into a buffer'] / s:8.2f}x |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--small", type=int, default=256)
    p.add_argument("--calls", type=int, default=10_000)
    args = p.parse_args()
    compile_table()
    fusion._KERNELS.clear()  # so the small case shows the call count making the kernel hot
    f, steps = _function()
    speed_table(args.small, max(3, args.repeat // 3), args.calls // 5, f, steps)
    speed_table(args.n, args.repeat, 1, f, steps)
    inplace_table(args.n, args.repeat, f)


if __name__ == "__main__":
    main()
